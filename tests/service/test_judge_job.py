"""A `judge` job scores a dataset's stored tasks round by round, resumable, with a scripted judge."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from domain.job_spec import JobSpec, JudgeConfig
from service.engine_holder import EngineHolder
from service.settings import EngineSettings
from service.worker import JobWorker
from store import Store
from store.datasets import create_dataset
from store.jobs import create_job, get_job
from store.quality import quality_stats
from store.tasks import add_tasks
from tests.generators.test_judge_stage import ScriptedJudge, task


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(tmp_path / "judge.duckdb")
    yield opened
    opened.close()


def run_judge_job(store: Store, tmp_path: Path, dataset_id: str, target: int) -> str:
    holder = EngineHolder(EngineSettings(kind="remote", endpoints=("http://127.0.0.1:9",)), tmp_path)
    holder.engine = ScriptedJudge()
    holder.ready.set()
    spec = JobSpec(dataset_id=dataset_id, method="judge", target=target, judge=JudgeConfig(batch=2))
    job = create_job(store, spec)
    anyio.run(JobWorker(store, holder, sandbox=None).run_job, get_job(store, job.id))  # type: ignore[arg-type]
    return job.id


def test_a_judge_job_reads_every_task_once_and_stops_when_none_is_left(store: Store, tmp_path: Path) -> None:
    dataset_id = create_dataset(store, name="judged").id
    add_tasks(store, dataset_id, [task(w) for w in ("good", "bad", "good one", "mute", "bad one")],
              source="generated", stage="test")  # fmt: skip
    first = get_job(store, run_judge_job(store, tmp_path, dataset_id, target=3))
    assert (first.status, first.stop_reason, first.accepted) == ("succeeded", "target_reached", 3)
    rest = get_job(store, run_judge_job(store, tmp_path, dataset_id, target=100))
    assert (rest.status, rest.stop_reason, rest.accepted) == ("succeeded", "nothing_left", 2)  # resumes, no repeat
    stats = quality_stats(store, dataset_id)
    assert stats.outcomes == {"scored": 4, "unreadable": 1} and stats.judged_tasks == 4
    assert stats.histogram == {"1.0-1.5": 2, "4.5-5.0": 2}
    assert rest.progress.stages["judged"] == 2
