"""An `annotate` job through the HTTP API, against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import time

import msgspec
from litestar.testing import TestClient

from domain.records import Instance, NewTask
from service.app import create_app
from service.settings import EngineSettings, Settings
from store.annotations import annotation_history
from store.tasks import add_tasks
from tests.generators.test_engine import fake_server, ok

FLAG = {"reason": "refusal", "instance": 0, "detail": {"phrase": "As an AI"}}
REFUSED = "Explain how a vaccine trains the immune system."


def scripted(_number: int, body: dict) -> tuple[int, dict]:
    """A whole instance for an instance prompt; an output alone where the input was written in; one refusal."""
    prompt = body["prompt"].rstrip()
    task = prompt.rsplit("Task: ", 1)[1].split("\n", 1)[0]
    if task == REFUSED:
        return ok(" None\nOutput: As an AI language model, I cannot help with that.")
    if prompt.endswith("Output:"):
        return ok(f" A better answer, written for: {task.lower()}")
    return ok(f" None\nOutput: A careful answer, written for: {task.lower()}")


def bare(instruction: str) -> NewTask:
    return NewTask(instruction=instruction, instances=())


def wait_until_done(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (state := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    return state


def test_an_annotate_job_answers_instruction_only_tasks_and_keeps_what_it_replaced(settings: Settings) -> None:
    with fake_server(scripted) as (url, seen):
        # One round at a time: the rounds counted below are the ones with work (more in flight add rounds that
        # find every task already taken by the rounds before them).
        remote = EngineSettings(kind="remote", endpoints=(url,), default_dataset=False, rounds_in_flight=1)
        with TestClient(app=create_app(msgspec.structs.replace(settings, engine=remote))) as client:
            dataset_id = client.post("/v1/datasets", json={"name": "mix"}).json()["id"]
            store = client.app.state.store
            add_tasks(store, dataset_id, [
                bare("Name three rivers in Spain."), bare("List two prime numbers."), bare(REFUSED),
                NewTask(instruction="Describe a sunset over the sea.", provenance={"quality_flags": [FLAG]},
                        instances=(Instance(input="Evening, west coast.", output="As an AI I cannot."),)),
                NewTask(instruction="Add two and two.", instances=(Instance(output="4"),)),
            ], source="alpaca", stage="import")  # fmt: skip
            add_tasks(store, dataset_id, [bare("Write a limerick about cats.")], source="dolly", stage="import")
            body = {"dataset_id": dataset_id, "method": "annotate", "target": 50,
                    "annotate": {"batch": 2, "source": "alpaca"}}  # fmt: skip
            created = client.post("/v1/jobs", json=body)
            assert created.status_code == 202, created.text
            job = wait_until_done(client, created.json()["id"])
            records = {r["instruction"]: r for r in client.get(
                f"/v1/datasets/{dataset_id}/records", params={"limit": 100}).json()["items"]}  # fmt: skip
            history = {text: annotation_history(store, int(r["id"])) for text, r in records.items()}
    assert (job["status"], job["stop_reason"], job["accepted"]) == ("succeeded", "nothing_left", 3)
    assert job["rejections_by_reason"] == {"refusal": 1}
    assert job["progress"]["stages"] == {"tasks": 4, "answered": 3, "rejected": 1} and job["progress"]["rounds"] == 3
    for text in ("Name three rivers in Spain.", "List two prime numbers."):
        assert records[text]["instances"] == [{"input": "", "output": f"A careful answer, written for: {text.lower()}"}]
        assert records[text]["provenance"]["annotated"] == {
            "job": job["id"], "model": "fake-model", "template": "instance_input_first.v1"}  # fmt: skip
        [row] = history[text]
        assert (row["job_id"], row["model"], row["template"], row["reason"], row["previous"]) == (
            job["id"], "fake-model", "instance_input_first.v1", "no_answer", [])  # fmt: skip
    sunset = records["Describe a sunset over the sea."]
    assert sunset["instances"] == [
        {"input": "Evening, west coast.", "output": "A better answer, written for: describe a sunset over the sea."}
    ]  # the user's input is kept; only the answer is rewritten
    assert sunset["provenance"]["quality_flags"] == []
    [row] = history["Describe a sunset over the sea."]
    assert row["reason"] == "failed_checks" and row["previous"] == {
        "instances": [{"input": "Evening, west coast.", "output": "As an AI I cannot."}],
        "quality_flags": [FLAG],
    }
    assert records[REFUSED]["instances"] == [] and history[REFUSED] == []  # rejected: it stays unanswered
    assert records["Write a limerick about cats."]["instances"] == []  # another source: not asked for
    assert records["Add two and two."]["instances"] == [{"input": "", "output": "4"}]  # answered: left alone
    assert history["Add two and two."] == []
    assert len(seen) == 4  # one instance prompt per task, nothing twice
