from __future__ import annotations

from domain.quality import Judgement, MutationScore
from domain.records import CodeCheck
from store import Store
from store.code_checks import code_stats
from store.export import open_export
from store.quality import add_judgements, quality_stats
from store.records import RecordFilter
from store.tasks import add_tasks, page_tasks
from tests.store.conftest import task


def judged(score: float | None, *, outcome: str = "scored", model: str = "judge-a") -> Judgement:
    return Judgement(outcome=outcome, score=score, criteria={"answer": score}, method="logprob_weighted" if score
                     else None, scale_mass=0.9 if score else None, judge_model=model, template="judge_answer.v1",
                     raw="4")  # fmt: skip


def ids(store: Store, dataset_id: str, **filters) -> list[str]:
    page = page_tasks(store, dataset_id, RecordFilter(**filters), after=0, limit=100)
    return [t.instruction for t in page.items]


def test_a_task_and_its_judgement_are_stored_together_and_read_back(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, [task("Good task.", judgement=judged(4.5), category_confidence=0.8),
                                  task("Bad task.", judgement=judged(1.5)), task("Unjudged task.")],
              source="generated", stage="test")  # fmt: skip
    items = {t.instruction: t for t in page_tasks(store, dataset_id, RecordFilter(), after=0, limit=10).items}
    assert items["Good task."].judgement == judged(4.5) and items["Good task."].category_confidence == 0.8
    assert items["Unjudged task."].judgement is None and items["Unjudged task."].category_confidence is None
    assert ids(store, dataset_id, min_quality=3.0) == ["Good task."]


def test_the_latest_scored_judgement_is_the_score_and_an_unreadable_one_does_not_erase_it(
    store: Store, dataset_id: str
) -> None:
    add_tasks(store, dataset_id, [task("First task."), task("Second task.")], source="seed", stage="test")
    first, second = page_tasks(store, dataset_id, RecordFilter(), after=0, limit=10).items
    add_judgements(store, dataset_id, "job_1", [(first.id, judged(2.0)), (second.id, judged(4.0))])
    add_judgements(store, dataset_id, "job_2", [(first.id, judged(4.8, model="judge-b")),
                                                 (second.id, judged(None, outcome="unreadable"))])  # fmt: skip
    assert ids(store, dataset_id, min_quality=3.5) == ["First task.", "Second task."]
    shown = {t.instruction: t.judgement for t in page_tasks(store, dataset_id, RecordFilter(), after=0, limit=10).items}
    assert shown["Second task."].outcome == "unreadable"  # the record shows what happened last
    stats = quality_stats(store, dataset_id)
    assert stats.judged_tasks == 2 and stats.outcomes == {"scored": 3, "unreadable": 1}
    assert stats.histogram == {"4.0-4.5": 1, "4.5-5.0": 1} and stats.mean_score == 4.4


def test_exports_follow_the_quality_filter(store: Store, dataset_id: str) -> None:
    tasks = [task("Kept task.", judgement=judged(5.0)), task("Dropped task.", judgement=judged(1.0))]
    add_tasks(store, dataset_id, tasks, source="generated", stage="test")
    text = b"".join(open_export(store, dataset_id, "alpaca", RecordFilter(min_quality=5.0), page_chars=10_000))
    assert b"Kept task." in text and b"Dropped task." not in text


def test_the_strength_of_code_proofs_is_stored_and_summarised(store: Store, dataset_id: str) -> None:
    def proof(rate: float | None) -> CodeCheck:
        strength = MutationScore(kill_rate=rate, mutants=10, killed=round((rate or 0) * 10), surviving=("m01 x",))
        return CodeCheck(entry_point="f", solution="def f(x):\n    return x", tests=("assert f(1) == 1",),
                         status="passed", tests_passed=1, tests_total=1, duration_s=0.1, strength=strength)  # fmt: skip

    add_tasks(store, dataset_id, [task(f"Code task {n}.", code=proof(r)) for n, r in enumerate((1.0, 0.3, 0.95))],
              source="seed", stage="test")  # fmt: skip
    stats = code_stats(store, dataset_id)
    assert stats.strength_measured == 3 and stats.kill_rates == {"0.3-0.4": 1, "0.9-1.0": 2}
    assert stats.mean_kill_rate == 0.75
    stored = page_tasks(store, dataset_id, RecordFilter(), after=0, limit=10).items[1].code
    assert stored is not None and stored.strength == proof(0.3).strength
