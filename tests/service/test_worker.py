"""The worker's round loop with a scripted method (no engine): rounds in flight, target, commits, errors."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import anyio
import pytest

from domain.job_spec import JobSpec
from domain.records import Instance, NewTask
from generators.rounds import RoundResult
from service import worker as worker_module
from service.methods import within_quota
from service.settings import EngineSettings
from service.worker import JobWorker
from store import Store
from store.datasets import create_dataset
from store.jobs import create_job, get_job, job_rejections


class ScriptedMethod:
    """Each round waits a little (longer for even rounds, so rounds finish out of order) and yields tasks."""

    max_rounds_without_accept = 3
    exhausted = False
    label_examples: list[tuple[str, str]] = []

    def __init__(self, per_round: int, fail_on_round: int | None = None, targets: dict[str, float] | None = None):
        self.per_round, self.fail_on_round, self.targets = per_round, fail_on_round, targets
        self.running = self.most_running = 0
        self.rounds: list[int] = []
        self.counts: dict[str, int] = {}

    async def round(self, engine: Any, rng: random.Random, seed: int, provenance: dict[str, Any]) -> RoundResult:
        number = provenance["round"]
        self.rounds.append(number)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(0.2 if number % 2 == 0 else 0.01)  # wide apart: a loaded machine keeps the order
            if number == self.fail_on_round:
                raise RuntimeError(f"round {number} broke")
        finally:
            self.running -= 1
        tasks = [
            NewTask(
                instruction=f"Round {number} asks for task number {n} of its batch.",
                instances=(Instance(input="", output="an answer"),),
                category="math" if n % 2 else "writing",
                provenance=provenance,
            )
            for n in range(self.per_round)
        ]
        return RoundResult(
            accepted=tuple(tasks), rejections=(), stages={"prompts": 1, "accepted": len(tasks)}, tokens=10
        )

    def mix(self) -> dict[str, Any] | None:
        return None

    def admit(self, result: RoundResult) -> RoundResult:
        if not self.targets:
            return result
        return result.keep_only(*within_quota(list(result.accepted), self.targets, self.counts, 10))

    def note_committed(self, tasks: list[NewTask]) -> None:
        for task in tasks:
            self.counts[task.category] = self.counts.get(task.category, 0) + 1


class Holder:
    def __init__(self, rounds_in_flight: int) -> None:
        self.settings = EngineSettings(kind="embedded", rounds_in_flight=rounds_in_flight)
        self.ready = asyncio.Event()
        self.ready.set()
        self.engine = type("Engine", (), {"model": "scripted"})()
        self.fleet = None  # a scripted engine asks no fleet for slots: rounds are paced by their bound alone

    async def wait_ready(self) -> None:
        await self.ready.wait()


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(tmp_path / "worker.duckdb")
    yield opened
    opened.close()


def run_job(store: Store, method: ScriptedMethod, target: int, rounds_in_flight: int, monkeypatch) -> str:
    dataset_id = create_dataset(store, name="worker").id
    job = create_job(store, JobSpec(dataset_id=dataset_id, target=target))
    monkeypatch.setattr(worker_module, "open_method", lambda *_: method)
    worker = JobWorker(store, Holder(rounds_in_flight), sandbox=None)  # type: ignore[arg-type]
    anyio.run(worker.run_job, get_job(store, job.id))
    return job.id


def stored_rounds(store: Store, job_id: str) -> list[int]:
    with store.read() as cur:
        rows = cur.execute("SELECT provenance FROM tasks WHERE job_id = ? ORDER BY id", [job_id]).fetchall()
    return [json.loads(row[0])["round"] for row in rows]


def test_two_rounds_in_flight_stop_at_the_target_exactly(store: Store, monkeypatch) -> None:
    method = ScriptedMethod(per_round=3)
    job_id = run_job(store, method, target=10, rounds_in_flight=2, monkeypatch=monkeypatch)
    job = get_job(store, job_id)
    assert (job.status, job.stop_reason, job.accepted) == ("succeeded", "target_reached", 10)
    assert method.most_running == 2
    assert len(method.rounds) == len(set(method.rounds))  # every round has its own number (and seed)
    assert job.progress.rounds == len(method.rounds)  # every started round was committed
    rounds = stored_rounds(store, job_id)
    assert len(rounds) == 10
    assert rounds != sorted(rounds)  # the slow even rounds committed after the odd ones started later
    surplus = job_rejections(store, job_id).get("target_reached", 0)
    assert surplus == 3 * len(method.rounds) - 10


def test_one_round_in_flight_runs_rounds_one_after_another(store: Store, monkeypatch) -> None:
    method = ScriptedMethod(per_round=3)
    job_id = run_job(store, method, target=7, rounds_in_flight=1, monkeypatch=monkeypatch)
    assert method.most_running == 1
    assert method.rounds == [0, 1, 2]
    assert stored_rounds(store, job_id) == [0, 0, 0, 1, 1, 1, 2]
    assert get_job(store, job_id).accepted == 7


def test_a_failing_round_fails_the_job_with_its_own_error(store: Store, monkeypatch) -> None:
    method = ScriptedMethod(per_round=1, fail_on_round=2)
    job_id = run_job(store, method, target=50, rounds_in_flight=2, monkeypatch=monkeypatch)
    job = get_job(store, job_id)
    assert (job.status, job.stop_reason) == ("failed", "error")
    assert job.error == "RuntimeError: round 2 broke"
    assert job.accepted == len(set(stored_rounds(store, job_id)))  # what was committed stays, once


def test_quotas_are_settled_in_commit_order(store: Store, monkeypatch) -> None:
    """Two rounds finishing together must not both fill the last places of a category."""
    method = ScriptedMethod(per_round=4, targets={"math": 0.3, "writing": 0.7})
    job_id = run_job(store, method, target=10, rounds_in_flight=2, monkeypatch=monkeypatch)
    with store.read() as cur:
        counts = dict(
            cur.execute("SELECT category, count(*) FROM tasks WHERE job_id = ? GROUP BY 1", [job_id]).fetchall()
        )
    assert counts == {"math": 3, "writing": 7}
    assert job_rejections(store, job_id)["category_quota_full"] > 0
