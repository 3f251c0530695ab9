"""Self-consistency: answer kinds, normalisers, agreement, and the round hook over a scripted engine."""

from __future__ import annotations

import random

import anyio
import msgspec
import pytest

from domain.job_spec import CategoryConfig, ConsistencyConfig, InstructionRules, Sampling, SelfInstructConfig
from domain.records import Instance, NewTask
from generators.answer_values import answer_kind, normalise_label, normalise_number, normalise_short, off_list
from generators.categories import CategoryModel
from generators.consistency import (
    AnswerItem,
    ConsistencyResult,
    agreement,
    apply_results,
    judge,
    passes,
    render_answer_prompt,
    resample_answers,
)
from generators.engine import Completion
from generators.self_instruct import run_round
from tests.generators.test_self_instruct import ScriptedEngine, make_pool, make_screen


@pytest.mark.parametrize(
    ("instruction", "is_classification", "output", "kind"),
    [
        ("Classify the sentiment of the review.", True, "Positive.", "label"),
        ("Classify the review.", True, "It is positive because the reviewer loved the food a lot", None),
        ("A bat and a ball cost $1.10. How much does the ball cost?", False, "1. The ball costs $1.10", "number"),
        ("Solve the word problem step by step.", False, "Her speed is 18 / 0.75 = 24 km/h, so in 2 hours 48 km.",
         "number"),
        ("In which year did the Berlin Wall fall?", False, "1989", "number"),
        ("Name the capital city of the country given.", False, "Canberra", "short"),
        ("Suggest a name for a cat.", False, "Whiskers", None),
        ("Explain why the sky is blue.", False, "Rayleigh scattering.", None),
        ("Write a poem about the sea.", False, "The sea is wide and deep and blue and old.", None),
        ("List every date mentioned in the text.", False, "2025-03-03 2025-04-01", None),
        ("Find the author of the quote.", False, "  ", None),
        ("Sum up the paragraph in one sentence.", False, "The council approved 6 new parks after a long debate.",
         None),  # "sum up" asks for no number
        ("Extract every measurement from the product description.", False, "- 45 liters: capacity\n- 1.2 kg: weight",
         None),
        ("Count how many vowels the string has.", False, "```python\ndef count(s):\n    return 3\n```", None),
    ],
)  # fmt: skip
def test_answer_kind(instruction: str, is_classification: bool, output: str, kind: str | None) -> None:
    assert answer_kind(instruction, is_classification, output) == kind


def test_a_short_answer_is_as_short_as_configured() -> None:
    assert answer_kind("Who wrote Hamlet?", False, "William Shakespeare") == "short"
    assert answer_kind("Who wrote Hamlet?", False, "It was William Shakespeare, the English playwright") is None
    assert answer_kind("Who wrote Hamlet?", False, "William Shakespeare, the playwright", short_max_words=3) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.10", "1.1"), ("$1.10", "1.1"), ("1,000", "1000"), ("0.5", "0.5"), (".5", "0.5"), ("5 cents", "0.05"),
        ("$0.05", "0.05"), ("five cents", "0.05"), ("The ball costs $0.05.", "0.05"), ("Answer: 42", "42"),
        ("-3", "-3"), ("3/4", "0.75"), ("twenty-one", "21"), ("25%", "25"), ("1,234.50 dollars", "1234.5"),
        ("Discount: $84 x 0.25 = $21. Sale price: $84 - $21 = $63.", "63"), ("no number here", None),
        ("water rating - 3,000 mm", "3000"),
    ],
)  # fmt: skip
def test_number_normaliser(text: str, value: str | None) -> None:
    assert normalise_number(text) == value


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Answer: Positive.", "positive"), ('"yes"', "yes"), ("Yes, it does.", "yes"), ("a question", "question"),
        ("Label - NEGATIVE!", "negative"), ("The answer is: fact", "fact"), ("It is an opinion.", "opinion"),
        ("- positive", "positive"), ("Class label: not urgent", "not urgent"),
    ],
)  # fmt: skip
def test_label_normaliser(text: str, label: str) -> None:
    assert normalise_label(text) == label


def test_short_normaliser_keeps_words_but_not_case_quotes_or_articles() -> None:
    assert normalise_short(" 'The  Eiffel Tower.' ") == "eiffel tower"
    assert normalise_short("Yes, it does.") == "yes, it does"  # only labels reduce to yes/no


def test_agreement_is_the_share_of_the_commonest_counted_value() -> None:
    assert agreement(["a", "b", "a", "a", "c"]) == (0.6, "a")
    assert agreement(["a", None, "b", "b", None]) == (2 / 3, "b")  # None: a sample that was not counted
    assert agreement(["a", "b"]) == (0.5, "a")  # a tie goes to the first seen, the original
    assert agreement([None, None]) == (0.0, None)


def test_the_answer_prompt_ends_at_output() -> None:
    prompt = render_answer_prompt("Classify  the\nreview.", "")
    assert prompt.endswith("Task: Classify the review.\nInput: None\nOutput:")
    assert prompt.count("Task:") == 5  # four fixed examples, then the task


class AnswerEngine(ScriptedEngine):
    """The scripted self-instruct engine, plus answers to `answer.v1` prompts taken in turn from a script."""

    def __init__(self, listing: str, answers: dict[str, list[str]], label: str = " positive") -> None:
        super().__init__(listing)
        self.answers = {task: iter(texts) for task, texts in answers.items()}
        self.label = label

    def _answer(self, prompt: str) -> Completion:
        if prompt.endswith("Output:"):  # only the answer template ends there
            task = prompt.rsplit("Task: ", 1)[1].split("\n", 1)[0]
            text = next(self.answers[task])
            return Completion(text=text, finish_reason="length" if text == "CUT" else "stop", completion_tokens=2)
        if prompt.rstrip().endswith("Class label:"):
            return Completion(text=self.label + "\nInput: What a wonderful day.", finish_reason="stop",
                              completion_tokens=7)  # fmt: skip
        if prompt.rstrip().endswith("Input:") and "How much" in prompt.rsplit("Task:", 1)[1]:
            return Completion(text=" None\nOutput: $1.10", finish_reason="stop", completion_tokens=7)
        return super()._answer(prompt)


TWEET = "Decide whether the tweet is positive or negative."
BALL = "A bat and a ball cost $1.10, the bat $1 more. How much does the ball cost?"
BEACH = "Describe a sunny beach holiday in summer."


def run_with(engine: AnswerEngine, consistency: ConsistencyConfig):
    pool, rng = make_pool(), random.Random(1)
    result = anyio.run(
        lambda: run_round(
            engine,
            pool,
            rng,
            config=SelfInstructConfig(prompts_per_round=1),
            sampling=Sampling(),
            rules=InstructionRules(),
            screen=make_screen(),
            seed=5,
            provenance={"job_id": "j"},
            consistency=consistency,
        )  # fmt: skip
    )
    return result, pool


ON = ConsistencyConfig(enabled=True, samples=5, min_agreement=0.6)


def test_the_majority_is_kept_and_a_minority_original_is_replaced() -> None:
    answers = {TWEET: [" Positive.", " negative", " positive", " Answer: positive"],
               BALL: [" $0.05", " 5 cents", " The ball costs 0.05 dollars.", " $1.10"]}  # fmt: skip
    engine = AnswerEngine(f" {TWEET}\nTask 5: {BALL}\nTask 6: {BEACH}", answers)
    result, pool = run_with(engine, ON)
    tasks = {t.instruction: t for t in result.accepted}
    assert sorted(tasks) == sorted([TWEET, BALL, BEACH]) and result.rejections == ()
    tweet, ball, beach = tasks[TWEET], tasks[BALL], tasks[BEACH]
    assert tweet.instances[0].output == "positive"  # the original was in the majority: kept as written
    assert tweet.provenance["consistency"] == {"agreement": 0.8, "samples": 5, "kind": "label", "template": "answer.v1"}
    assert ball.instances[0].output == "$0.05"  # 3 of 5 say 0.05: the first sample saying so replaces "$1.10"
    assert ball.provenance["consistency"] == {"agreement": 0.6, "samples": 5, "kind": "number",
                                              "template": "answer.v1", "replaced_outputs": ["$1.10"]}  # fmt: skip
    assert "consistency" not in beach.provenance and beach.instances[0].output == "A fine answer."  # free text
    assert result.tokens == 7 + 3 * 7 + 2 * 4 * 2  # the listing, three instances, four samples for two tasks
    assert sorted(pool.generated) == sorted(tasks)


def test_an_answer_below_the_threshold_is_rejected_with_its_samples() -> None:
    answers = {TWEET: [" negative", " positive", " negative", " neutral"]}  # "neutral" is not on offer
    result, pool = run_with(AnswerEngine(f" {TWEET}", answers), ON)
    assert result.accepted == () and pool.generated == []  # a rejected task does not join the pool
    [rejection] = result.rejections
    reason, instruction, detail = rejection.reason, rejection.instruction, rejection.detail
    assert (reason, instruction) == ("inconsistent_answer", TWEET)
    assert detail == {"kind": "label", "agreement": 0.5, "output": "positive", "votes": 4, "invalid": 1,
                      "values": ["positive", "negative", "positive", "negative", None],
                      "samples": [" negative", " positive", " negative", " neutral"]}  # fmt: skip


def test_an_example_answer_of_the_prompt_is_no_vote_unless_the_task_mentions_it() -> None:
    emails = AnswerItem(instruction="Pull out every email address.", input="Write to ana@x.io.", output="ana@x.io")
    result = judge(emails, "short", [(" negative", True), (" Negative", True), (" ana@x.io", True), (" Jupiter", True)])
    assert (result.values, result.invalid, result.agreement) == (("ana@x.io", None, None, "ana@x.io", None), 3, 1.0)
    assert result.votes == 2  # below the default min_votes of 3: agreement of two means little
    planet = AnswerItem(instruction="Which is larger, Saturn or Jupiter?", input="", output="Saturn")
    assert judge(planet, "short", [(" Jupiter", True)]).values == ("saturn", "jupiter")  # the task mentions it
    largest = AnswerItem(instruction="Name the largest planet.", input="", output="Jupiter")
    nothing = judge(largest, "short", [(" Jupiter", True)])
    assert (nothing.agreement, nothing.invalid, nothing.replaced) == (0.0, 2, False)  # the price: right, not counted


def test_a_placeholder_answer_is_no_vote_and_never_replaces_a_real_one() -> None:
    """Seen on a real job: 3 of 5 samples said "None" and replaced the original after the checks had passed it."""
    recipe = AnswerItem(instruction="Can you help me create a new recipe?", input="", output="Yes, here is one.")
    result = judge(recipe, "short", [(" None", True), (" N/A", True), (" none", True), (" Yes, here is one.", True)])
    assert (result.invalid, result.votes, result.replaced, result.answer) == (3, 2, False, "Yes, here is one.")
    assert not passes(result, ConsistencyConfig(enabled=True))  # two votes are too few to keep it either


def test_a_number_answer_without_a_number_counts_against_agreement() -> None:
    sum_item = AnswerItem(instruction="What is 17 + 25?", input="", output="42")
    result = judge(sum_item, "number", [(" None", True), (" 42", True), (" forty-two", True), ("4", False)])
    assert (result.values, result.counted, result.invalid, result.votes, result.agreement) == (
        ("42", None, "42", "42", None), 4, 1, 3, 1.0)  # fmt: skip


def test_too_few_votes_fail_and_no_sample_at_all_is_unchecked() -> None:
    task = NewTask(instruction="Is it a fact or an opinion?", is_classification=True,
                   instances=(Instance(input="Water boils at 100 C.", output="fact"),))  # fmt: skip
    lonely = ConsistencyResult(comparable=True, kind="label", agreement=1.0, answer="fact",
                               values=("fact", None, None, None, None), counted=5, invalid=4)  # fmt: skip
    kept, rejections = apply_results([task], [lonely], ConsistencyConfig(min_votes=3))
    assert kept == [] and rejections[0].reason == "inconsistent_answer" and rejections[0].detail["votes"] == 1
    silent = ConsistencyResult(comparable=True, kind="label", agreement=1.0, answer="fact",
                               values=("fact", None, None, None, None), counted=1)  # fmt: skip
    [unchecked], _ = apply_results([task], [silent], ConsistencyConfig(min_votes=3))
    assert unchecked.provenance["consistency"]["counted"] == 1  # the engine gave nothing back: said, not judged


def test_a_label_the_instruction_does_not_offer_is_no_vote() -> None:
    assert off_list("Route the ticket to billing, shipping, or account access.", "negative")
    assert not off_list("Route the ticket to billing, shipping, or account access.", "account access")
    assert not off_list("Identify the intent as one of: book_flight, cancel_booking.", "book_flight")
    assert off_list("Is the sentence formal or informal?", "form")  # whole words only
    assert not off_list("Classify the sentiment of the review.", "negative")  # nothing offered: anything goes
    result, _ = run_with(AnswerEngine(f" {TWEET}", {TWEET: [" Angry."] * 4}, label=" angry"), ON)
    assert [r.reason for r in result.rejections] == ["inconsistent_answer"]  # five agreeing, all off the list
    assert result.rejections[0].detail["agreement"] == 0.0 and result.rejections[0].detail["invalid"] == 5


def test_samples_cut_by_the_token_limit_are_not_counted() -> None:
    answers = {TWEET: ["CUT", "CUT", " negative", " positive"]}
    result, _ = run_with(AnswerEngine(f" {TWEET}", answers), ON)
    [task] = result.accepted  # positive, None, None, negative, positive: 2 of the 3 counted agree
    assert task.provenance["consistency"] == {"agreement": 0.6667, "samples": 5, "kind": "label",
                                              "template": "answer.v1", "counted": 3}  # fmt: skip


def test_off_by_default_nothing_is_sampled() -> None:
    engine = AnswerEngine(f" {TWEET}", {})
    result, _ = run_with(engine, ConsistencyConfig())
    assert [t.instruction for t in result.accepted] == [TWEET] and "consistency" not in result.accepted[0].provenance
    assert not any(p.endswith("Output:") for call in engine.calls for p in call)


def test_resample_answers_reports_free_text_as_not_comparable() -> None:
    class Echo:
        model = "echo"

        async def complete(self, prompts, *, sampling, stop, seed=None):
            assert sampling.temperature == 0.7 and sampling.max_tokens == 96 and stop == ["\nTask:", "\n\n"]
            return [Completion(text=" 4", finish_reason="stop", completion_tokens=1) for _ in prompts]

    items = [AnswerItem(instruction="Write a poem about rain.", input="", output="Rain falls on the old tin roof."),
             AnswerItem(instruction="What is 2 + 2?", input="", output="4")]  # fmt: skip
    free, four = anyio.run(lambda: resample_answers(Echo(), items, ConsistencyConfig(samples=3),
                                                    Sampling(temperature=0.0), 1))  # fmt: skip
    assert free == msgspec.convert({"comparable": False}, type(free))
    assert (four.kind, four.agreement, four.values, four.counted, four.replaced, four.tokens) == (
        "number", 1.0, ("4", "4", "4"), 3, False, 2)  # fmt: skip


def test_the_config_is_bounded() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"samples": 1}, ConsistencyConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"min_agreement": 1.5}, ConsistencyConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"k": 5}, ConsistencyConfig)
    with pytest.raises(msgspec.ValidationError, match="min_votes"):
        msgspec.convert({"samples": 3, "min_votes": 4}, ConsistencyConfig)


def test_an_inconsistent_instance_is_dropped_and_counted_when_its_task_has_others() -> None:
    task = NewTask(instruction="Is it prime?", is_classification=True, provenance={"job_id": "j"},
                   instances=(Instance(input="7", output="yes"), Instance(input="9", output="yes")))  # fmt: skip
    steady = ConsistencyResult(comparable=True, kind="label", agreement=0.8, answer="yes", values=("yes",) * 5,
                               counted=5)  # fmt: skip
    shaky = ConsistencyResult(comparable=True, kind="label", agreement=0.6, answer="no", replaced=True,
                              values=("yes", "no", "no", "no", "yes"), counted=5)  # fmt: skip
    [kept], rejections = apply_results([task], [steady, shaky], ConsistencyConfig(min_agreement=0.7))
    assert rejections == [] and kept.instances == (Instance(input="7", output="yes"),)
    assert kept.provenance == {"job_id": "j", "consistency": {"samples": 5, "kind": "label", "template": "answer.v1",
                                                              "agreement": 0.8, "dropped_instances": 1}}  # fmt: skip
    [fixed], _ = apply_results([task], [steady, shaky], ConsistencyConfig(min_agreement=0.6))
    assert [i.output for i in fixed.instances] == ["yes", "no"]  # 9 is not prime: the majority says so
    assert fixed.provenance["consistency"]["replaced_outputs"] == ["yes"]


def test_the_round_keeps_the_category_guess_and_its_confidence() -> None:
    labelled = [("Decide whether the review is positive or negative.", "classification"),
                ("Classify the tweet as positive or negative.", "classification"),
                ("Describe a holiday at the beach.", "writing"), ("Write a day at the lake.", "writing")]  # fmt: skip
    model = CategoryModel(labelled, CategoryConfig(min_label_confidence=0.93))
    model.temperature = 0.3  # four examples fit an extreme one; at 0.3 the tweet is 0.94 sure, the beach 0.91
    pool, rng = make_pool(), random.Random(1)
    result = anyio.run(
        lambda: run_round(
            AnswerEngine(f" {TWEET}\nTask 5: {BEACH}", {}),
            pool,
            rng,
            config=SelfInstructConfig(prompts_per_round=1),
            sampling=Sampling(),
            rules=InstructionRules(),
            screen=make_screen(),
            seed=5,
            provenance={},
            categorize=model.infer,
        )  # fmt: skip
    )
    tasks = {t.instruction: t for t in result.accepted}
    tweet, beach = model.infer(TWEET), model.infer(BEACH)
    assert (tweet.category, beach.category, beach.guess) == ("classification", "uncategorized", "writing")
    assert (tasks[TWEET].category, tasks[BEACH].category) == ("classification", "uncategorized")
    assert tasks[BEACH].provenance["category"] == {"guess": "writing", "confidence": beach.confidence}
