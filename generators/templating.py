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
    return load_template(name).format(**values)


def one_line(text: str) -> str:
    """Collapse whitespace: an instruction shown in a list must stay on its line."""
    return " ".join(text.split())
