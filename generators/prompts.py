"""Prompt templates (package files, versioned by name) and the parsers of what the model writes back.

Pure functions only: rendering takes strings and returns a prompt; parsing takes a completion and
returns what it found or the reason it found nothing.
"""

from __future__ import annotations

import re

from domain.records import Example
from generators.templating import one_line, render, render_prompt

# Role -> template file: what each prompt of a self-instruct round is made of (stored with every task).
TEMPLATES = {
    "instructions": "instructions.v1",
    "instruction_example": "instruction_example.v1",
    "classify": "classify.v1",
    "input_first": "instance_input_first.v1",
    "input_first_example": "instance_example_input_first.v1",
    "output_first": "instance_output_first.v1",
    "output_first_example": "instance_example_output_first.v1",
}


def _render(role: str, **values: object) -> str:
    return render(TEMPLATES[role], **values)


def _prompt(role: str, **values: object) -> str:
    return render_prompt(TEMPLATES[role], **values)


def render_instructions_prompt(examples: list[str]) -> str:
    """The self-instruct bootstrap: numbered tasks to continue, ending in the next number."""
    lines = "".join(
        _render("instruction_example", number=n, instruction=one_line(text)) for n, text in enumerate(examples, start=1)
    )
    return _prompt("instructions", examples=lines.rstrip("\n"), next_number=len(examples) + 1)


def render_classify_prompt(instruction: str) -> str:
    return _prompt("classify", instruction=one_line(instruction))


def render_instance_prompt(instruction: str, examples: list[Example], *, output_first: bool) -> str:
    """Input-first for ordinary tasks; output-first (label, then input) for classification tasks."""
    role = "output_first" if output_first else "input_first"
    blocks = [
        _render(
            f"{role}_example", instruction=one_line(e.instruction), input=e.input.strip() or "None", output=e.output
        )
        for e in examples
    ]
    return _prompt(role, examples="\n".join(blocks), instruction=one_line(instruction))


_NEXT_TASK = re.compile(r"^\s*Task\s+\d+\s*[:.)]\s*", re.IGNORECASE)


def parse_instructions(completion: str, *, truncated: bool) -> list[tuple[str, str | None]]:
    """Each instruction the model listed, with None or the reason it is unusable.

    The completion continues "Task N:", so its first line is an instruction and later "Task M:" lines
    are more. A completion cut by the token limit leaves its last instruction unfinished.
    """
    found: list[tuple[str, str | None]] = []
    for n, line in enumerate(completion.split("\n")):
        if n and not _NEXT_TASK.match(line):
            break  # the list is over: anything after is not an instruction
        text = _NEXT_TASK.sub("", line, count=1).strip()
        if n and not text:
            break  # a bare "Task N:" ends the list: the model stopped, it did not write a bad task
        found.append((text, None if text else "unparseable"))
    if truncated and found:
        found[-1] = (found[-1][0], "truncated")
    return found or [("", "unparseable")]


def parse_classification(completion: str) -> bool | None:
    word = completion.strip().split(maxsplit=1)[0].strip(".,:;!").lower() if completion.strip() else ""
    return {"yes": True, "no": False}.get(word)


def _none_to_empty(text: str) -> str:
    text = text.strip()
    return "" if text.lower() in ("none", "none.", "n/a", "") else text


def parse_instance(completion: str, *, output_first: bool) -> tuple[str, str] | None:
    """(input, output) from a completion that continues "Input:" or "Class label:"; None if malformed."""
    text = completion.split("\nTask:", 1)[0]
    marker = "\nInput:" if output_first else "\nOutput:"
    if marker not in text:
        return None
    first, second = text.split(marker, 1)
    if output_first:
        return _none_to_empty(second), first.strip()
    return _none_to_empty(first), second.strip()
