"""Evol-Instruct rounds over a scripted engine (the tests are about the round's logic, not the model)."""

from __future__ import annotations

import random

import anyio

from domain.fingerprint import fingerprint
from domain.job_spec import EvolConfig, InstructionRules, Sampling
from domain.records import Example
from domain.screening import DuplicateScreen
from generators.engine import Completion
from generators.evol import EvolPool, Parent, pick_parents, run_evol_round
from generators.evol_prompts import OPERATORS
from store.dedup.near_duplicates import NearDuplicateIndex

FINE = "A fine answer, written out in full."
LIGHTHOUSE = "Write a short story about a lighthouse keeper who finds a message in a bottle on a stormy winter night."
# 20 parent words kept, 5 added: ROUGE-L 0.889 against the parent, a near-duplicate at 0.7 but a gain at 0.9.
LIGHTHOUSE_PLUS = LIGHTHOUSE[:-1] + " and decides to answer it."
FOX_TEXT = "Foxes are small omnivores that live on every continent except Antarctica."


class EvolEngine:
    """Rewrites by parent instruction, answers by evolved instruction; stop strings cut as a server would."""

    model = "scripted"

    def __init__(self, rewrites: dict[str, str], answers: dict[str, str] | None = None) -> None:
        self.rewrites, self.answers = rewrites, answers or {}
        self.calls: list[tuple[list[str], list[str]]] = []

    async def complete(self, prompts, *, sampling, stop, seed=None):
        self.calls.append((list(prompts), list(stop)))
        return [self._answer(p, stop) for p in prompts]

    def _answer(self, prompt: str, stop) -> Completion:
        tail = prompt.rstrip()
        task = tail.rsplit("Task: ", 1)[-1].split("\n", 1)[0]
        parent = tail.rsplit("Original task: ", 1)[-1].split("\n", 1)[0]
        if tail.endswith(("Rewritten task:", "New task:")):
            text = self.rewrites[parent]
        elif tail.endswith("Rewritten input:"):  # complicate_input's follow-up
            text = self.rewrites[parent].partition("\nRewritten input:")[2]
        elif tail.endswith("Classification:"):
            text = " Yes" if "positive or negative" in task else " No"
        elif tail.endswith("Output:"):
            text = " " + self.answers.get(task, FINE)
        elif tail.endswith("Class label:"):
            text = " positive\nInput: What a wonderful day."
        else:  # "Input:": a breadth task, whose input the model writes
            text = " None\nOutput: " + self.answers.get(task, FINE)
        for marker in stop:
            text = text.split(marker, 1)[0]
        return Completion(text=text, finish_reason="stop", completion_tokens=5)

    def evolve_prompts(self) -> list[str]:
        return [p for prompts, _ in self.calls for p in prompts if p.endswith(("Rewritten task:", "New task:"))]

    async def aclose(self) -> None:
        pass


def parent(n: int, instruction: str, input_text: str = "", **fields) -> Parent:
    return Parent(task_id=n, instruction=instruction, input=input_text, category="writing", **fields)


def make_pool(parents: list[Parent]) -> EvolPool:
    examples = [
        Example(instruction="Write a haiku about snow.", input="", output="Snow falls."),
        Example(instruction="Is this review positive?", input="Great", output="positive", is_classification=True),
    ]
    return EvolPool(parents=parents, examples=examples)


def make_index(pool: EvolPool, *extra: str) -> DuplicateScreen:
    texts = [p.instruction for p in pool.parents] + list(extra)
    return DuplicateScreen({fingerprint(t) for t in texts}, NearDuplicateIndex(0.7, texts))


def run(engine, pool, index, *, config: EvolConfig | None = None, rng_seed=1, round_number=3):
    rng, config = random.Random(rng_seed), config or EvolConfig()
    return anyio.run(
        lambda: run_evol_round(
            engine,
            pool,
            rng,
            config=config,
            sampling=Sampling(),
            rules=InstructionRules(),
            screen=index,
            seed=11,
            provenance={"job_id": "j", "round": round_number},
        )  # fmt: skip
    )


ADD_CONSTRAINTS = EvolConfig(operators={"add_constraints": 1.0})


def test_a_round_keeps_good_evolutions_and_eliminates_the_rest_each_with_its_reason() -> None:
    parents = [
        parent(1, "Write a limerick about a sleepy cat."),
        parent(2, "Summarize the paragraph below.", FOX_TEXT),
        parent(3, "List three uses for a paperclip."),
        parent(4, "Explain why the sky is blue."),
        parent(5, "Add the numbers."),
        parent(6, "Plan a trip."),
        parent(7, LIGHTHOUSE),
    ]
    limerick = "Write a limerick about a sleepy cat that names one color and ends with a question."
    summary = "Summarize the paragraph below in two sentences without using the word fox."
    rewrites = {
        "Write a limerick about a sleepy cat.": " " + limerick,
        "Summarize the paragraph below.": f" {summary}\nA second line, cut by the one-line stop.",
        "List three uses for a paperclip.": " list three uses for a PAPERCLIP!",
        "Explain why the sky is blue.": " Explain why the sky is blue in two sentences for a curious child.",
        "Add the numbers.": " Write a limerick about a sleepy cat.",
        "Plan a trip.": " Describe a sunny beach holiday in the summer with friends.",
        LIGHTHOUSE: " " + LIGHTHOUSE_PLUS,
    }
    answers = {"Explain why the sky is blue in two sentences for a curious child.": "Sorry, I cannot answer that."}
    engine, pool = EvolEngine(rewrites, answers), make_pool(parents)
    index = make_index(pool, "Describe a sunny beach holiday in summer.")
    result = run(engine, pool, index, config=ADD_CONSTRAINTS)

    assert sorted(t.instruction for t in result.accepted) == [
        summary,
        limerick,
        LIGHTHOUSE_PLUS,  # a near-duplicate of its own parent only: rule 1 judges that, and it adds enough
    ]
    reasons = {r.instruction: (r.reason, r.detail.get("check")) for r in result.rejections}
    assert reasons == {
        "list three uses for a PAPERCLIP!": ("evol_no_gain", "equal"),
        "Explain why the sky is blue in two sentences for a curious child.": ("evol_degenerate_answer", "refusal"),
        "Write a limerick about a sleepy cat.": ("exact_duplicate", None),
        "Describe a sunny beach holiday in the summer with friends.": ("near_duplicate", None),
    }
    assert result.stages == {
        "prompts": 7, "candidates": 7, "passed_filters": 4, "classification": 0, "accepted": 3,
        "add_constraints.in": 7, "add_constraints.out": 3, **{f"{op}.{side}": 0 for op in (
            "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth") for side in ("in", "out")},
    }  # fmt: skip
    assert result.tokens == 7 * 5 + 4 * 5
    refusal = next(r.detail for r in result.rejections if r.reason == "evol_degenerate_answer")
    assert refusal == {
        "operator": "add_constraints", "parent_instruction": "Explain why the sky is blue.",
        "check": "refusal", "marker": "Sorry", "input": "", "output": "Sorry, I cannot answer that.",
    }  # fmt: skip
    near = next(r.detail for r in result.rejections if r.reason == "near_duplicate")
    assert near["match"] == "Describe a sunny beach holiday in summer." and near["rouge_l"] == 0.8235


def test_copied_prompt_words_and_copied_worked_examples_are_eliminated() -> None:
    copied = "#Rewritten Prompt#: Write a limerick about a sleepy cat at dusk."
    example = "Give advice to a nurse starting her first night shift in the emergency department of a busy hospital."
    rewrites = {"Write a limerick about a sleepy cat.": " " + copied, "Draft a letter to a landlord.": " " + example}
    pool = make_pool([parent(1, "Write a limerick about a sleepy cat."), parent(2, "Draft a letter to a landlord.")])
    result = run(EvolEngine(rewrites), pool, make_index(pool), config=EvolConfig(operators={"concretize": 1.0}))
    assert result.accepted == ()
    assert sorted((r.reason, r.instruction, r.detail) for r in result.rejections) == [
        ("evol_copied_prompt", copied,
         {"operator": "concretize", "parent_instruction": "Write a limerick about a sleepy cat.",
          "phrase": "#Rewritten Prompt#"}),
        ("evol_copied_prompt", example,
         {"operator": "concretize", "parent_instruction": "Draft a letter to a landlord.",
          "example": "Give advice to a nurse who is starting her first night shift in the emergency department of a "
                     "busy city hospital.", "rouge_l": 0.9231}),
    ]  # fmt: skip


def test_lineage_is_in_the_provenance_and_the_parent_input_is_kept() -> None:
    summary = "Summarize the paragraph below in two sentences without using the word fox."
    engine = EvolEngine({"Summarize the paragraph below.": " " + summary})
    pool = make_pool([parent(42, "Summarize the paragraph below.", FOX_TEXT)])
    [task] = run(engine, pool, make_index(pool), config=ADD_CONSTRAINTS).accepted
    assert task.provenance == {
        "job_id": "j", "round": 3,
        "templates": {"evolve": "evol_add_constraints.v1", "classify": "classify.v1",
                      "answer": "instance_input_first.v1"},
        "parent_id": 42, "parent_instruction": "Summarize the paragraph below.",
        "operator": "add_constraints", "evol_depth": 1,
    }  # fmt: skip
    assert (task.instances[0].input, task.instances[0].output) == (FOX_TEXT, FINE)
    assert task.category == "writing" and not task.is_classification
    answer_prompt = engine.calls[-1][0][0]
    assert answer_prompt.endswith(f"Task: {summary}\nInput: {FOX_TEXT}\nOutput:")
    assert pool.parents[-1] == Parent(task_id=None, instruction=summary, input=FOX_TEXT, depth=1, category="writing")


def test_breadth_writes_a_new_task_and_gets_no_near_duplicate_exemption() -> None:
    rewrites = {LIGHTHOUSE: " " + LIGHTHOUSE_PLUS}
    for operator, accepted in (("add_constraints", True), ("breadth", False)):
        engine, pool = EvolEngine(rewrites), make_pool([parent(7, LIGHTHOUSE)])
        result = run(engine, pool, make_index(pool), config=EvolConfig(operators={operator: 1.0}))
        assert bool(result.accepted) is accepted
        if not accepted:
            assert [(r.reason, r.detail["match"]) for r in result.rejections] == [("near_duplicate", LIGHTHOUSE)]

    new_task = "Write a short fable about a crow who learns to count pebbles."
    engine = EvolEngine({"Summarize the paragraph below.": " " + new_task})
    pool = make_pool([parent(2, "Summarize the paragraph below.", FOX_TEXT)])
    [task] = run(engine, pool, make_index(pool), config=EvolConfig(operators={"breadth": 1.0})).accepted
    evolve_prompt, answer_prompt = engine.calls[0][0][0], engine.calls[-1][0][0]
    assert FOX_TEXT not in evolve_prompt and evolve_prompt.endswith(
        "Original task: Summarize the paragraph below.\nNew task:"
    )
    assert answer_prompt.endswith(f"Task: {new_task}\nInput:")  # the model writes this task's input
    assert (task.instances[0].input, task.instances[0].output) == ("", FINE)
    assert task.provenance["operator"] == "breadth" and task.provenance["evol_depth"] == 1


def test_complicate_input_writes_a_new_input() -> None:
    written = (
        " Multiply the three decimals below and round the product to two places.\nRewritten input: 1.5, 2.25 and 0.4"
        "\n\nOriginal task: cut by the stop"
    )
    engine = EvolEngine({"Multiply the two numbers.": written})
    pool = make_pool([parent(5, "Multiply the two numbers.", "4 and 6")])
    result = run(engine, pool, make_index(pool), config=EvolConfig(operators={"complicate_input": 1.0}))
    [task] = result.accepted
    assert task.instruction == "Multiply the three decimals below and round the product to two places."
    assert task.instances[0].input == "1.5, 2.25 and 0.4"
    [(first, _), (follow_up, stop), *_] = engine.calls  # one line each: the task, then its new input
    assert stop == ["\n"] and follow_up[0] == first[0] + (
        " Multiply the three decimals below and round the product to two places.\nRewritten input:"
    )
    assert engine.calls[-1][0][0].endswith("Input: 1.5, 2.25 and 0.4\nOutput:")
    assert result.tokens == 3 * 5  # the rewrite, its new input and the answer (classify is not counted)


def test_lineages_stop_at_max_depth() -> None:
    seed, child, grandchild = (
        "Write a limerick about a sleepy cat.",
        "Write a limerick about a sleepy cat that names one color.",
        "Write a limerick about a sleepy cat that names one color and one bird and ends with a question.",
    )
    rewrites = {seed: " " + child, child: " " + grandchild, grandchild: " never asked for, past the depth limit"}
    engine, pool = EvolEngine(rewrites), make_pool([parent(1, seed)])
    index, config = make_index(pool), EvolConfig(operators={"add_constraints": 1.0}, max_depth=2)
    rounds = [run(engine, pool, index, config=config, rng_seed=n, round_number=n) for n in (1, 2, 3)]
    lineage = [[(t.instruction, t.provenance["evol_depth"], t.provenance["round"]) for t in r.accepted] for r in rounds]
    assert lineage == [[(child, 1, 1)], [(grandchild, 2, 2)], []]
    parents_asked = [p.rsplit("Original task: ", 1)[1].split("\n")[0] for p in engine.evolve_prompts()]
    assert grandchild not in parents_asked and parents_asked.count(seed) == 3 and parents_asked.count(child) == 2
    assert rounds[2].stages["prompts"] == 2  # the seed and the child; the grandchild is at max_depth
    assert [r.reason for r in rounds[2].rejections] == ["exact_duplicate", "exact_duplicate"]


def test_parents_are_picked_below_max_depth_with_operators_drawn_by_weight() -> None:
    pool = make_pool([parent(n, f"Task number {n} to evolve.", depth=n) for n in range(6)])
    config = EvolConfig(operators={"deepen": 1.0, "breadth": 0.0}, max_depth=4, parents_per_round=10)
    picks = pick_parents(pool, random.Random(3), config)
    assert sorted(p.depth for p, _ in picks) == [0, 1, 2, 3] and {op for _, op in picks} == {"deepen"}
    assert len(pick_parents(pool, random.Random(3), EvolConfig(parents_per_round=2))) == 2


PAIRS = [
    ("Describe an otter.", "Describe how a sea otter uses stones to open shellfish near the Pacific coast."),
    ("Name a famous bridge.", "Name a famous suspension bridge in Europe and explain what makes its design unusual."),
    (
        "Suggest a dinner recipe.",
        "Suggest a vegetarian dinner recipe that uses lentils, cooks in thirty minutes and serves four.",
    ),
    (
        "Explain photosynthesis.",
        "Explain photosynthesis to a twelve year old, comparing the leaf to a small solar kitchen.",
    ),
    ("Write a limerick.", "Write a limerick about a clumsy penguin who dreams of flying over the Andes."),
    ("Give a study tip.", "Give one study tip for memorising vocabulary before an exam, with a weekly schedule."),
    ("Describe the moon.", "Describe the craters and seas of the moon as seen through binoculars on winter evenings."),
    (
        "List some fruits.",
        "List five tropical fruits, their colours when ripe, and the country that grows most of each.",
    ),
    ("Compare cats and dogs.", "Compare cats and dogs as pets for elderly owners living alone in small apartments."),
    ("Summarize a movie.", "Summarize the story of a heist movie in three sentences without revealing its ending."),
    ("Define inflation.", "Define inflation and show with grocery prices how it reduces what wages can buy."),
    ("Plan a picnic.", "Plan a picnic for six children in a city park, including games, food and a rain backup."),
]


def test_a_round_is_deterministic_for_a_seed() -> None:
    # Every operator's answer has this shape; the one-line operators keep the first line only.
    rewrites = {old: f" {new}\nRewritten input: a zoo sign" for old, new in PAIRS}

    def one(rng_seed: int):
        engine, pool = EvolEngine(rewrites), make_pool([parent(n, old) for n, (old, _) in enumerate(PAIRS)])
        result = run(engine, pool, make_index(pool), config=EvolConfig(parents_per_round=12), rng_seed=rng_seed)
        return engine.calls, result

    (calls, result), (again_calls, again) = one(3), one(3)
    assert calls == again_calls and result == again
    assert len(result.accepted) == 12 and result.rejections == ()
    assert {t.provenance["operator"] for t in result.accepted} == set(OPERATORS)  # all six drawn at this seed
    complicated = sum(t.provenance["operator"] == "complicate_input" for t in result.accepted)
    # One line per evolution, complicate_input's new inputs, classify, then the answers.
    assert [(len(prompts), stop) for prompts, stop in calls] == [
        (12, ["\n"]),
        (complicated, ["\n"]),
        (12, ["\n"]),
        (12, ["\nTask:", "\n\n"]),
    ]
    other_calls, _ = one(4)
    assert other_calls[0] != calls[0]


def test_engine_errors_and_truncated_rewrites_are_counted_not_crashed_on() -> None:
    class Failing(EvolEngine):
        def _answer(self, prompt: str, stop) -> Completion:
            if "Foxes" in prompt:
                return Completion(text=" Summarize the paragraph below in", finish_reason="length", completion_tokens=8)
            return Completion(text="", finish_reason="error", completion_tokens=0, error="503")

    pool = make_pool([parent(1, "Explain why the sky is blue."), parent(2, "Summarize the paragraph below.", FOX_TEXT)])
    result = run(Failing({}), pool, make_index(pool), config=ADD_CONSTRAINTS)
    assert sorted(r.reason for r in result.rejections) == ["engine_error", "evol_truncated"]
    assert result.stages["candidates"] == 1 and result.stages["accepted"] == 0


def test_a_rewrite_that_asks_nothing_is_not_a_task() -> None:
    # Seen on the 135M model (2026-12-02): a "deepened" task that is a reply, not a request.
    reply = "I'm glad you asked, but I'm not sure I have all the information about languages."
    rewrites = {"Tell me about the best language to learn.": " " + reply}
    pool = make_pool([parent(1, "Tell me about the best language to learn.")])
    result = run(EvolEngine(rewrites), pool, make_index(pool), config=EvolConfig(operators={"deepen": 1.0}))
    assert result.accepted == ()
    assert [(r.reason, r.instruction) for r in result.rejections] == [("not_a_task", reply)]
