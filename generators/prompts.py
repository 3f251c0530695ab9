"""Prompt templates (package files, versioned by name) and the parsers of what the model writes back.

Pure functions only: rendering takes strings and returns a prompt; parsing takes a completion and
returns what it found or the reason it found nothing.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

import msgspec

TEMPLATES = {
    "instructions": "instructions.v1",
    "classify": "classify.v1",
    "input_first": "instance_input_first.v1",
    "output_first": "instance_output_first.v1",
}


class Example(msgspec.Struct, frozen=True, kw_only=True):
    """A worked task shown to the model: its instruction and one instance."""

    instruction: str
    input: str
    output: str
    is_classification: bool = False


@cache
def template(name: str) -> str:
    return files("generators").joinpath("templates", f"{TEMPLATES[name]}.txt").read_text()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_instructions_prompt(examples: list[str]) -> str:
    """The self-instruct bootstrap: numbered tasks to continue, ending in the next number."""
    lines = "\n".join(f"Task {n}: {_one_line(text)}" for n, text in enumerate(examples, start=1))
    return template("instructions").format(examples=lines, next_number=len(examples) + 1)


def render_classify_prompt(instruction: str) -> str:
    return template("classify").format(instruction=_one_line(instruction))


def render_instance_prompt(instruction: str, examples: list[Example], *, output_first: bool) -> str:
    """Input-first for ordinary tasks; output-first (label, then input) for classification tasks."""
    blocks = []
    for example in examples:
        given = example.input.strip() or "None"
        if output_first:
            blocks.append(f"Task: {_one_line(example.instruction)}\nClass label: {example.output}\nInput: {given}\n")
        else:
            blocks.append(f"Task: {_one_line(example.instruction)}\nInput: {given}\nOutput: {example.output}\n")
    name = "output_first" if output_first else "input_first"
    return template(name).format(examples="\n".join(blocks), instruction=_one_line(instruction))


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
