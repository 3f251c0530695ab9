"""One self-instruct round over a scripted engine (the test is about the round's logic, not the model)."""

from __future__ import annotations

import random

import anyio

from domain.fingerprint import fingerprint
from domain.job_spec import InstructionRules, Sampling, SelfInstructConfig
from domain.records import Example
from domain.screening import DuplicateScreen
from generators.engine import Completion
from generators.self_instruct import Pool, bootstrap_examples, run_round
from store.dedup.near_duplicates import NearDuplicateIndex

SEEDS = ["Write a haiku about autumn leaves.", "List three uses for a paperclip.", "Explain why the sky is blue."]


class ScriptedEngine:
    model = "scripted"

    def __init__(self, listing: str) -> None:
        self.listing = listing
        self.calls: list[list[str]] = []

    async def complete(self, prompts, *, sampling, stop, seed=None):
        self.calls.append(list(prompts))
        return [self._answer(p) for p in prompts]

    def _answer(self, prompt: str) -> Completion:
        if prompt.rstrip().endswith("Classification:"):
            text = " Yes" if "positive or negative" in prompt.rsplit("Task:", 1)[1] else " No"
        elif prompt.rstrip().endswith("Class label:"):
            text = " positive\nInput: What a wonderful day."
        elif prompt.rstrip().endswith("Input:"):
            text = " None\nOutput: " + ("" if "empty" in prompt.rsplit("Task:", 1)[1] else "A fine answer.")
        else:
            text = self.listing
        return Completion(text=text, finish_reason="stop", completion_tokens=7)

    async def aclose(self) -> None:
        pass


def make_pool() -> Pool:
    examples = [
        Example(instruction=SEEDS[0], input="", output="Leaves fall."),
        Example(instruction="Is this review positive?", input="Great", output="positive", is_classification=True),
    ]
    return Pool(seeds=list(SEEDS), generated=[], examples=examples)


DEFAULT_RULES = InstructionRules()


def make_screen() -> DuplicateScreen:
    return DuplicateScreen({fingerprint(s) for s in SEEDS}, NearDuplicateIndex(0.7, SEEDS))


def run(engine: ScriptedEngine, pool: Pool, screen: DuplicateScreen, prompts: int = 1, rules=DEFAULT_RULES):
    config = SelfInstructConfig(prompts_per_round=prompts)
    rng = random.Random(1)
    return anyio.run(
        lambda: run_round(
            engine,
            pool,
            rng,
            config=config,
            sampling=Sampling(),
            rules=rules,
            screen=screen,
            seed=5,
            provenance={"job_id": "j"},
        )
    )


def test_a_round_accepts_good_tasks_and_rejects_the_rest_with_reasons() -> None:
    listing = (
        " Describe a sunny beach holiday in summer."
        "\nTask 5: Decide whether the tweet is positive or negative."
        "\nTask 6: Describe a sunny beach holiday in the summer."  # near-duplicate of the first
        "\nTask 7: write a haiku about AUTUMN leaves"  # exact duplicate of a seed
        "\nTask 8: Draw a picture of a cat."
        "\nTask 9: Give an empty reply to this message please."
    )
    engine, pool = ScriptedEngine(listing), make_pool()
    screen = make_screen()
    result = run(engine, pool, screen)
    accepted = {t.instruction: t for t in result.accepted}
    assert sorted(accepted) == ["Decide whether the tweet is positive or negative.",
                                "Describe a sunny beach holiday in summer."]  # fmt: skip
    tweet = accepted["Decide whether the tweet is positive or negative."]
    assert tweet.is_classification and (tweet.instances[0].input, tweet.instances[0].output) == (
        "What a wonderful day.", "positive")  # fmt: skip
    beach = accepted["Describe a sunny beach holiday in summer."]
    assert not beach.is_classification and (beach.instances[0].input, beach.instances[0].output) == (
        "",
        "A fine answer.",
    )
    assert beach.provenance["job_id"] == "j" and beach.provenance["templates"]["instructions"] == "instructions.v1"
    reasons = {r.instruction: r.reason for r in result.rejections}
    assert reasons == {
        "Describe a sunny beach holiday in the summer.": "near_duplicate",
        "write a haiku about AUTUMN leaves": "exact_duplicate",
        "Draw a picture of a cat.": "banned_word",
        "Give an empty reply to this message please.": "empty_output",
    }
    assert result.stages == {"prompts": 1, "candidates": 6, "passed_filters": 3, "classification": 1, "accepted": 2}
    assert result.tokens == 7 + 3 * 7
    assert sorted(pool.generated) == sorted(accepted)  # the pool grows for the next round


def test_requests_for_code_are_left_to_the_code_method_unless_allowed() -> None:
    listing = (
        " Write a Python function that reverses a list."
        "\nTask 5: Create a function that finds the largest number in a list of integers."
        "\nTask 6: Describe a sunny beach holiday in summer."
    )
    result = run(ScriptedEngine(listing), make_pool(), make_screen())
    assert [t.instruction for t in result.accepted] == ["Describe a sunny beach holiday in summer."]
    assert [r.reason for r in result.rejections] == ["asks_for_code", "asks_for_code"]
    allowed = InstructionRules(allow_code_requests=True)
    result = run(ScriptedEngine(listing), make_pool(), make_screen(), rules=allowed)
    assert len(result.accepted) == 3 and result.rejections == ()


def test_the_next_round_rejects_what_this_round_accepted() -> None:
    engine, pool = ScriptedEngine(" Describe a sunny beach holiday in summer."), make_pool()
    screen = make_screen()
    assert len(run(engine, pool, screen).accepted) == 1
    again = run(engine, pool, screen)
    assert again.accepted == () and [r.reason for r in again.rejections] == ["exact_duplicate"]


def test_an_instance_cut_by_the_token_limit_is_rejected() -> None:
    class Cut(ScriptedEngine):
        def _answer(self, prompt: str) -> Completion:
            if prompt.rstrip().endswith("Input:"):
                return Completion(
                    text=" None\nOutput: An answer that goes on and", finish_reason="length", completion_tokens=9
                )
            return super()._answer(prompt)

    result = run(Cut(" Describe a sunny beach holiday in summer."), make_pool(), make_screen())
    assert result.accepted == () and [r.reason for r in result.rejections] == ["instance_truncated"]


def test_engine_errors_are_counted_not_crashed_on() -> None:
    class Failing(ScriptedEngine):
        def _answer(self, prompt: str) -> Completion:
            return Completion(text="", finish_reason="error", completion_tokens=0, error="503")

    result = run(Failing(""), make_pool(), make_screen(), prompts=3)
    assert result.accepted == () and [r.reason for r in result.rejections] == ["engine_error"] * 3


def test_bootstrap_mixes_seeds_and_generated() -> None:
    pool = make_pool()
    pool.seeds += [f"Seed task number {n}." for n in range(10)]
    assert len(bootstrap_examples(pool, random.Random(0), SelfInstructConfig())) == 8  # seeds fill in
    pool.generated += [f"Generated task {n}." for n in range(5)]
    chosen = bootstrap_examples(pool, random.Random(0), SelfInstructConfig())
    assert len(chosen) == 8 and sum(c.startswith("Generated") for c in chosen) == 2
    assert chosen == bootstrap_examples(pool, random.Random(0), SelfInstructConfig())  # seeded RNG: reproducible


def test_several_instances_per_task_drop_conflicts() -> None:
    class Varying(ScriptedEngine):
        def __init__(self, listing: str) -> None:
            super().__init__(listing)
            self.instance_calls = 0

        def _answer(self, prompt: str) -> Completion:
            if prompt.rstrip().endswith("Input:"):
                self.instance_calls += 1
                text = [" 2 3\nOutput: 5", " 2 3\nOutput: 6", " 1 1\nOutput: 2"][(self.instance_calls - 1) % 3]
                return Completion(text=text, finish_reason="stop", completion_tokens=4)
            return super()._answer(prompt)

    engine, pool = Varying(" Add the two numbers in the input."), make_pool()
    config = SelfInstructConfig(prompts_per_round=1, instances_per_task=3)
    rng, rules, screen = random.Random(1), InstructionRules(), make_screen()
    result = anyio.run(
        lambda: run_round(
            engine, pool, rng, config=config, sampling=Sampling(), rules=rules, screen=screen, seed=1, provenance={}
        )  # fmt: skip
    )
    [task] = result.accepted
    assert [(i.input, i.output) for i in task.instances] == [("1 1", "2")]  # "2 3" had two different outputs
