"""The judge as a stage of a round, over a scripted judge whose score is read from its sampled token."""

from __future__ import annotations

import anyio

from domain.job_spec import JudgeConfig
from domain.records import Instance, NewTask, Rejection
from generators.engine import Completion
from generators.judge_stage import judge_round
from generators.rounds import RoundResult


class ScriptedJudge:
    """Scores 5 for answers that say "good", 1 for "bad", and writes no digit for "mute"."""

    model = "scripted-judge"

    async def complete(self, prompts, *, sampling, stop, seed=None, logprobs=None):
        def reading(prompt: str) -> str:
            item = prompt.rsplit("Instruction:", 1)[-1]
            return " 5" if "good" in item else " 1" if "bad" in item else " well"

        return [Completion(text=reading(p), finish_reason="stop", completion_tokens=1) for p in prompts]

    async def aclose(self) -> None:
        pass


def task(output: str) -> NewTask:
    return NewTask(instruction=f"Say something {output}.", instances=(Instance(output=f"A {output} answer."),))


def result_of(*tasks: NewTask) -> RoundResult:
    return RoundResult(accepted=tasks, rejections=(), stages={"accepted": len(tasks)}, tokens=3)


def run(result: RoundResult, config: JudgeConfig) -> RoundResult:
    return anyio.run(lambda: judge_round(ScriptedJudge(), result, config, seed=1))


def test_every_task_is_judged_and_none_is_rejected_without_a_bar() -> None:
    judged = run(result_of(task("good"), task("bad"), task("mute")), JudgeConfig(enabled=True))
    scores = [(t.judgement.outcome, t.judgement.score) for t in judged.accepted]
    assert scores == [("scored", 5.0), ("scored", 1.0), ("unreadable", None)]
    assert all(t.judgement.judge_model == "scripted-judge" for t in judged.accepted)
    assert judged.stages == {"accepted": 3, "judged": 3, "scored": 2} and judged.tokens == 3


def test_a_bar_rejects_low_scores_and_unreadable_ones_with_their_reasons() -> None:
    judged = run(result_of(task("good"), task("bad"), task("mute")), JudgeConfig(enabled=True, min_quality=3.0))
    assert [t.instruction for t in judged.accepted] == ["Say something good."]
    assert [(r.reason, r.instruction) for r in judged.rejections] == [
        ("low_quality", "Say something bad."),
        ("unjudged", "Say something mute."),
    ]
    low: Rejection = judged.rejections[0]
    assert low.detail["score"] == 1.0 and low.detail["judge_model"] == "scripted-judge"
    assert judged.stages["accepted"] == 1


def test_an_empty_round_is_not_sent_to_the_judge() -> None:
    empty = result_of()
    assert run(empty, JudgeConfig(enabled=True)) is empty
