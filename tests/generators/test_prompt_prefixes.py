"""Every prompt opens with its template's fixed text (instructions, then worked examples) and ends with what
varies, so a server's prefix cache reuses the fixed part across the prompts of a round (bench/prefix_share_bench.py)."""

from __future__ import annotations

import os
import random

from domain.job_spec import CodeConfig
from generators.code_prompts import CODE_TEMPLATE, render_code_prompt
from generators.code_tasks import CodePool, prompt_examples
from generators.consistency import TEMPLATE as ANSWER_TEMPLATE
from generators.consistency import render_answer_prompt
from generators.evol_prompts import EVOL_TEMPLATES, OPERATORS, render_evol_prompt
from generators.judge import TEMPLATES as JUDGE_TEMPLATES
from generators.judge import JudgeItem, render_judge_prompt, render_label_prompt
from generators.prompts import TEMPLATES
from generators.templating import load_template
from service.methods import default_code_seeds
from tests.generators.test_self_instruct import SEEDS, ScriptedEngine, make_pool, make_screen, run


def fixed_head(template: str) -> str:
    """The template's text before its first field: the same in every prompt made from it."""
    return load_template(template).split("{", 1)[0]


def test_the_prompts_of_a_self_instruct_round_share_their_templates_header_as_their_prefix() -> None:
    listing = " Write a limerick about a cat.\nTask 9: Is the review below positive or negative?\nTask 10: Name a moon."
    engine = ScriptedEngine(listing)
    pool = make_pool()
    pool.generated.extend(["Describe a rainy morning.", "Give two tips for sleeping well."])
    run(engine, pool, make_screen(), prompts=4)
    listed, classified, instances = engine.calls
    header = fixed_head(TEMPLATES["instructions"])
    assert header.startswith("Here is a list of tasks.") and len(listed) == 4
    assert os.path.commonprefix(listed).startswith(header)  # then each prompt's own sample of examples
    assert len({prompt.removeprefix(header) for prompt in listed}) > 1  # what follows the header varies
    assert all(prompt.startswith(fixed_head(TEMPLATES["classify"])) for prompt in classified)
    assert "Classification: No" in fixed_head(TEMPLATES["classify"])  # the worked examples are in the fixed part
    heads = {fixed_head(TEMPLATES[role]) for role in ("input_first", "output_first")}
    assert all(any(prompt.startswith(head) for head in heads) for prompt in instances)
    assert {head for head in heads if any(prompt.startswith(head) for prompt in instances)} == heads  # both kinds


def test_judge_evol_code_and_answer_prompts_put_their_fixed_text_first() -> None:
    items = [JudgeItem(instruction=text, input="", output="An answer.") for text in SEEDS]
    for criterion in ("instruction", "answer"):
        head = fixed_head(JUDGE_TEMPLATES[criterion])
        assert "Score: 5" in head and all(render_judge_prompt(criterion, i).startswith(head) for i in items)
    for operator in OPERATORS:
        head = fixed_head(EVOL_TEMPLATES[operator])
        assert head.count("Original task:") == 4  # three worked rewrites, then the parent's line
        assert all(render_evol_prompt(operator, text, "an input").startswith(head) for text in SEEDS)
    answers = [render_answer_prompt(text, "") for text in SEEDS]
    assert all(prompt.startswith(fixed_head(ANSWER_TEMPLATE)) for prompt in answers)
    rng, pool = random.Random(3), CodePool(seeds=default_code_seeds(), generated=[])
    code = [render_code_prompt(prompt_examples(pool, rng, CodeConfig())) for _ in range(4)]
    assert os.path.commonprefix(code).startswith(fixed_head(CODE_TEMPLATE)) and len(set(code)) == 4


def test_label_prompts_of_a_round_differ_only_in_their_last_task() -> None:
    examples = [("Write a haiku about snow.", "writing"), ("What is 2 + 2?", "math")]
    prompts = [render_label_prompt(text, ["math", "writing"], examples) for text in SEEDS]
    shared = os.path.commonprefix(prompts)
    assert shared.startswith(fixed_head(JUDGE_TEMPLATES["label"])) and "Category: math\n" in shared
    assert all(prompt.removeprefix(shared).count("\n") == 1 for prompt in prompts)  # the task, then "Category:"

