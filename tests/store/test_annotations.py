"""Annotate's store side on a real DuckDB file: which tasks need an answer, and the write that keeps history."""

from __future__ import annotations

import msgspec

from domain.annotations import Answer
from domain.quality import Judgement
from domain.records import Conversation, Instance, NewTask, Turn
from domain.records import Instance as I  # noqa: N817 - short in literal rows
from store import Store
from store.annotations import annotation_history, answered_examples, tasks_to_annotate, write_answers
from store.datasets import create_dataset
from store.records import RecordFilter
from store.tasks import add_tasks, page_tasks
from tests.store.conftest import task

FLAG = {"reason": "refusal", "instance": 0, "detail": {"phrase": "As an AI"}}


def bare(instruction: str, **fields) -> NewTask:
    return NewTask(instruction=instruction, instances=(), **fields)


def flagged(instruction: str, output: str = "As an AI I cannot.") -> NewTask:
    return task(instruction, output, provenance={"quality_flags": [FLAG]})


def fill(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, [bare("Name three rivers in Spain."), task("Add two and two.", "4"),
                                  flagged("Describe a sunset over the sea."), bare("List two prime numbers.")],
              source="alpaca", stage="import")  # fmt: skip
    add_tasks(store, dataset_id, [bare("Write a limerick about cats."), flagged("Explain what rain is.")],
              source="dolly", stage="import")  # fmt: skip


def selected(store: Store, dataset_id: str, **kwargs) -> list[tuple[str, str]]:
    args = {"targets": "both", "source": None, "after": 0, "limit": 100} | kwargs
    return [(i.instruction, i.reason) for i in tasks_to_annotate(store, dataset_id, **args)]


def answer(item, output: str, **fields) -> Answer:
    return Answer(task_id=item.task_id, instruction=item.instruction, reason=item.reason,
                  instances=(Instance(output=output),), model="m1", template="instance_input_first.v1",
                  **fields)  # fmt: skip


def commit(store: Store, dataset_id: str, answers: list[Answer], job_id: str = "job_a") -> list[Answer]:
    with store.write() as cur:
        return write_answers(cur, dataset_id, job_id, answers)


def records(store: Store, dataset_id: str) -> dict[str, object]:
    return {t.instruction: t for t in page_tasks(store, dataset_id, RecordFilter(), after=0, limit=100).items}


def test_targets_pick_tasks_without_an_answer_or_with_flags_in_id_order(store: Store, dataset_id: str) -> None:
    fill(store, dataset_id)
    assert selected(store, dataset_id) == [
        ("Name three rivers in Spain.", "no_answer"), ("Describe a sunset over the sea.", "failed_checks"),
        ("List two prime numbers.", "no_answer"), ("Write a limerick about cats.", "no_answer"),
        ("Explain what rain is.", "failed_checks"),
    ]  # fmt: skip
    assert [r for _, r in selected(store, dataset_id, targets="no_answer")] == ["no_answer"] * 3
    assert [r for _, r in selected(store, dataset_id, targets="failed_checks")] == ["failed_checks"] * 2
    assert selected(store, dataset_id, source="dolly") == [
        ("Write a limerick about cats.", "no_answer"), ("Explain what rain is.", "failed_checks"),
    ]  # fmt: skip
    first, second = tasks_to_annotate(store, dataset_id, targets="both", source=None, after=0, limit=2)
    assert first.previous == () and second.previous == (I(output="As an AI I cannot."),)  # the answer it has now
    rest = tasks_to_annotate(store, dataset_id, targets="both", source=None, after=second.task_id, limit=2)
    assert [i.instruction for i in rest] == ["List two prime numbers.", "Write a limerick about cats."]
    assert selected(store, create_dataset(store, name="empty").id) == []
    # Few-shot examples where a dataset has no seeds: its answered tasks whose answer passed the checks.
    assert [e.instruction for e in answered_examples(store, dataset_id)] == ["Add two and two."]


def test_an_answer_replaces_the_instances_and_keeps_what_it_replaced(store: Store, dataset_id: str) -> None:
    fill(store, dataset_id)
    items = tasks_to_annotate(store, dataset_id, targets="both", source="alpaca", after=0, limit=100)
    judged = Judgement(outcome="scored", score=4.0, criteria={"instruction": 4.0, "answer": 4.0},
                       method="sampled_token", scale_mass=None, judge_model="judge", template="t")  # fmt: skip
    answers = [answer(items[0], "Ebro, Tajo and Duero.", judgement=judged),
               answer(items[1], "The sky turns orange and the sea shines.", notes={"consistency": {"kind": "x"}}),
               answer(items[2], "2 and 3.")]  # fmt: skip
    assert commit(store, dataset_id, answers) == []
    stored = records(store, dataset_id)
    rivers, sunset = stored["Name three rivers in Spain."], stored["Describe a sunset over the sea."]
    assert rivers.instances == (I(output="Ebro, Tajo and Duero."),) and rivers.judgement.score == 4.0
    assert rivers.provenance["annotated"] == {"job": "job_a", "model": "m1", "template": "instance_input_first.v1"}
    assert "quality_flags" not in rivers.provenance  # it had none; a clean answer adds none
    assert sunset.instances == (I(output="The sky turns orange and the sea shines."),)
    assert sunset.provenance["quality_flags"] == []  # the old flags described the old answer
    assert sunset.provenance["annotated"]["consistency"] == {"kind": "x"}
    assert annotation_history(store, rivers.id)[0] | {"created_at": None} == {
        "job_id": "job_a", "model": "m1", "template": "instance_input_first.v1", "reason": "no_answer",
        "previous": [], "created_at": None,
    }  # fmt: skip
    [history] = annotation_history(store, sunset.id)
    assert (history["reason"], history["previous"]) == ("failed_checks", {
        "instances": [{"input": "", "output": "As an AI I cannot."}], "quality_flags": [FLAG]})  # fmt: skip
    assert selected(store, dataset_id, source="alpaca") == []  # every alpaca task has a clean answer now
    with store.read() as cur:
        [(chars,)] = cur.execute("SELECT text_chars FROM tasks WHERE id = ?", [rivers.id]).fetchall()
    assert chars == len("Name three rivers in Spain.") + len("Ebro, Tajo and Duero.")


def test_a_task_answered_meanwhile_is_skipped_and_a_flagged_new_answer_keeps_the_task_selected(
    store: Store, dataset_id: str
) -> None:
    fill(store, dataset_id)
    cats, rain = tasks_to_annotate(store, dataset_id, targets="both", source="dolly", after=0, limit=100)
    assert commit(store, dataset_id, [answer(cats, "A cat sat on a mat.")], job_id="job_first") == []
    late = answer(cats, "Another cat poem.")
    relabel = answer(rain, "As an AI, rain is water.", quality_flags=[FLAG])
    assert commit(store, dataset_id, [late, relabel], job_id="job_second") == [late]  # skipped, no error
    stored = records(store, dataset_id)
    assert stored["Write a limerick about cats."].instances == (I(output="A cat sat on a mat."),)
    assert stored["Write a limerick about cats."].provenance["annotated"]["job"] == "job_first"
    assert stored["Explain what rain is."].provenance["quality_flags"] == [FLAG]  # record_only: the new verdicts
    assert selected(store, dataset_id, source="dolly") == [("Explain what rain is.", "failed_checks")]
    assert [h["job_id"] for h in annotation_history(store, stored["Write a limerick about cats."].id)] == ["job_first"]


def test_code_tasks_and_longer_chats_are_left_alone_and_a_chat_gets_its_answer(store: Store, dataset_id: str) -> None:
    two_turns = Conversation(
        turns=(
            Turn(role="user", content="Hi?"),
            Turn(role="assistant", content="As an AI."),
            Turn(role="user", content="More?"),
            Turn(role="assistant", content="No."),
        )
    )
    one_question = Conversation(turns=(Turn(role="user", content="What is a fjord?"),), system="Be brief.")
    add_tasks(store, dataset_id, [
        msgspec.structs.replace(flagged("Hi?", "As an AI."), conversation=two_turns),
        msgspec.structs.replace(bare("What is a fjord?"), conversation=one_question),
    ], source="sharegpt", stage="import")  # fmt: skip
    [fjord] = tasks_to_annotate(store, dataset_id, targets="both", source=None, after=0, limit=100)
    assert (fjord.instruction, fjord.in_chat, fjord.keeps_input) == ("What is a fjord?", True, True)
    commit(store, dataset_id, [answer(fjord, "A narrow sea inlet between cliffs.")])
    chat = records(store, dataset_id)["What is a fjord?"].conversation
    answered = Turn(role="assistant", content="A narrow sea inlet between cliffs.")
    assert chat == Conversation(system="Be brief.", turns=(Turn(role="user", content="What is a fjord?"), answered))
