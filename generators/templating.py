"""The one loader of prompt templates: package files `generators/templates/<name>.v<N>.txt`.

A template's file name is its version: a changed prompt is a new file, and each record stores the names of
the templates that made it. Rendering is `str.format` over the file's text; values are inserted as they are.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load_template(name: str) -> str:
    """The text of template `name` (e.g. "classify.v1"); raises FileNotFoundError for an unknown name."""
    return files("generators").joinpath("templates", f"{name}.txt").read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """A block of a prompt (a worked example), its final newline kept."""
    return load_template(name).format(**values)


def render_prompt(name: str, **values: object) -> str:
    """A whole prompt: it ends where the model writes, so the file's final newline is dropped.

    A prompt ending in "Input:\n" instead of "Input:" made the 135M model skip the field it was asked for:
    on the same server, 2 of 6 instance answers parsed against 5 of 6, the classification prompt answered ""
    (every task was read as not a classification), and 8 instruction prompts gave 5 usable instructions
    against 30 (measured 2026-12-01, temperature 0.7; see the closing note of issue 13).
    """
    return load_template(name).format(**values).removesuffix("\n")


def one_line(text: str) -> str:
    """Collapse whitespace: an instruction shown in a list must stay on its line."""
    return " ".join(text.split())
