"""Evol-Instruct prompts: one few-shot template per operator, and the parsers of what the model writes back.

The operators are the paper's (Xu et al. 2023, WizardLM; the rewriter prompts of
github.com/nlpxucan/WizardLM, Evol_Instruct/depth.py and breadth.py): five in-depth ones that make a task
harder and one in-breadth one that writes a new task in the same domain. The paper instructs a chat model;
a 135M model does far better continuing worked examples, so each template states the operator in one
sentence, shows three (original -> rewritten) pairs, and ends where the model writes the rewritten task.

The answer reuses the self-instruct instance templates (`instance_input_first.v1`, `instance_output_first.v1`):
they show seed tasks with a worked instance, the format this model already answers in. Where the evolved
task's input is known (every in-depth operator: its parent's input, or the rewritten one), the prompt is the
input-first template with that input filled in, ending at "Output:". A breadth task has no input yet: the
model writes it, input-first or, for a classification task, label first, exactly as in self-instruct.
Pure functions only.
"""

from __future__ import annotations

import re
from functools import cache
from typing import get_args

from domain.job_spec import Operator
from domain.records import Example
from generators.prompts import TEMPLATES, parse_instance, render_instance_prompt
from generators.templating import load_template, one_line

OPERATORS: tuple[Operator, ...] = get_args(Operator)
IN_DEPTH: frozenset[Operator] = frozenset(OPERATORS) - {"breadth"}
EVOL_TEMPLATES: dict[Operator, str] = {operator: f"evol_{operator}.v1" for operator in OPERATORS}

# The model writes one line per call. complicate_input needs a second line, its new input: measured on the
# 135M model, it almost never wrote "Rewritten input:" by itself (4 of 5 such completions had one line only),
# so a follow-up prompt (the first prompt, the rewritten task, then "Rewritten input:") asks for it.
EVOL_STOP = ("\n",)
_NEW_INPUT = "\nRewritten input:"
ANSWER_STOP = ("\nTask:", "\n\n")  # as self-instruct's instance prompts
_EXAMPLE_LINE = re.compile(r"^(?:Original task|Rewritten task|New task): ([^{}\n]+)$", re.MULTILINE)


def evol_template(operator: Operator) -> str:
    # Without the file's final newline: the prompt must end right after "Rewritten task:", where the model writes.
    return load_template(EVOL_TEMPLATES[operator]).removesuffix("\n")


def render_evol_prompt(operator: Operator, instruction: str, input_text: str) -> str:
    """The operator's template around one parent; breadth shows the instruction alone (a new task needs no input)."""
    shown = one_line(input_text)
    block = f"\nInput: {shown}" if shown and operator != "breadth" else ""
    return evol_template(operator).format(instruction=one_line(instruction), input_block=block)


def render_input_prompt(evol_prompt: str, rewritten_task: str) -> str:
    """complicate_input's follow-up: its prompt, the rewritten task it got back, and the new input's label."""
    return f"{evol_prompt} {one_line(rewritten_task)}{_NEW_INPUT}"


def join_input(rewritten_task: str, new_input: str) -> str:
    """The two lines of complicate_input as one completion, the shape `parse_evolved` reads."""
    return f"{rewritten_task.rstrip()}{_NEW_INPUT}{new_input}"


@cache
def template_examples(operator: Operator) -> tuple[str, ...]:
    """The tasks of the template's worked examples: a model that writes one of them back copied the prompt."""
    return tuple(_EXAMPLE_LINE.findall(evol_template(operator)))


def _none_to_empty(text: str) -> str:
    text = text.strip()
    return "" if text.lower() in ("none", "none.", "n/a") else text


def parse_evolved(operator: Operator, completion: str, *, truncated: bool) -> tuple[str, str | None, str | None]:
    """(instruction, new input or None when the parent's is kept, None or the reason it is unusable).

    The completion continues "Rewritten task:" (or "New task:"). complicate_input must also write the
    "Rewritten input:" line: without it the operator did nothing to the input.
    """
    if truncated:  # cut by the token limit: the instruction (or its input) is unfinished
        return completion.strip(), None, "evol_truncated"
    if operator != "complicate_input":
        text = completion.split("\n", 1)[0].strip()
        return text, None, None if text else "evol_unparseable"
    if _NEW_INPUT not in completion:
        return completion.strip(), None, "evol_unparseable"
    instruction, new_input = completion.split(_NEW_INPUT, 1)
    instruction = instruction.strip()
    return instruction, _none_to_empty(new_input), None if instruction else "evol_unparseable"


def answer_template(input_text: str | None, is_classification: bool) -> str:
    """The name (as in `prompts.TEMPLATES`) of the instance template an answer prompt uses."""
    return "output_first" if input_text is None and is_classification else "input_first"


def render_answer_prompt(
    instruction: str, input_text: str | None, examples: list[Example], *, is_classification: bool
) -> str:
    """An instance prompt; with a known input, filled in up to "Output:" (see the module docstring)."""
    name = answer_template(input_text, is_classification)
    prompt = render_instance_prompt(instruction, examples, output_first=name == "output_first")
    if input_text is None:
        return prompt
    return f"{prompt} {input_text.strip() or 'None'}\nOutput:"  # the prompt ends at "Input:"


def parse_answer(completion: str, input_text: str | None, *, is_classification: bool) -> tuple[str, str] | None:
    """(input, output); None when a prompt that left the input to the model got no "Output:"/"Input:" back."""
    if input_text is None:
        return parse_instance(completion, output_first=answer_template(None, is_classification) == "output_first")
    return input_text, completion.split("\nTask:", 1)[0].strip()


def answer_template_version(input_text: str | None, is_classification: bool) -> str:
    return TEMPLATES[answer_template(input_text, is_classification)]
