"""What an import of an open dataset is asked for: its source, licence, file format, layout and field mapping.

Pure data, no I/O. `service` builds an `ImportSpec` from the query of `POST /v1/datasets/{id}/imports`; `store.ingest`
reads the file with it. Layouts are the shapes people's files have:

alpaca             `instruction`, `input`, `output` (Stanford Alpaca, Alpaca-GPT4, Code Alpaca)
dolly              `instruction`, `context`, `response`, `category` (databricks-dolly-15k)
self_instruct      `instruction`, `instances: [{input, output}]`, `is_classification` (the self-instruct paper's)
sharegpt           `conversations: [{from, value}]` (human/gpt/system; ShareGPT, Vicuna, OpenHermes)
messages           `messages: [{role, content}]` (OpenAI chat fine-tuning, TRL conversational)
prompt_completion  `prompt`, `completion`: strings, or lists of messages (TRL's plain and conversational forms)
mapping            any other: a `FieldMapping` names the fields that hold instruction, input, output, ...
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from domain.records import RESERVED_SOURCES, Source

Layout = Literal["alpaca", "dolly", "self_instruct", "sharegpt", "messages", "prompt_completion", "mapping"]
LAYOUTS: tuple[str, ...] = ("alpaca", "dolly", "self_instruct", "sharegpt", "messages", "prompt_completion", "mapping")
FileFormat = Literal["jsonl", "json", "parquet"]
# Multi-turn chats: kept whole ("all") or cut to their first exchange ("first").
TurnPolicy = Literal["all", "first"]
# Near-duplicates of what the dataset holds (any source) or of earlier rows of the same file: left out (each kept
# as a rejection with its match), added and only reported, or not looked for ("off": exact duplicates are still
# left out; the fastest, and memory stays flat whatever the file's size, since no index of the file is built).
NearDuplicatePolicy = Literal["skip", "keep", "off"]

# An SPDX licence id or expression as people write them ("Apache-2.0", "CC-BY-NC-4.0", "MIT OR Apache-2.0"), or
# SPDX's NOASSERTION when the importer does not say.
LICENSE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.+-]*( (AND|OR|WITH) [A-Za-z0-9][A-Za-z0-9.+-]*)*$"
UNKNOWN_LICENSE = "NOASSERTION"
License = Annotated[str, Meta(min_length=1, max_length=200, pattern=LICENSE_PATTERN)]
# A field of a record: a top-level key ("question") or a dotted path into nested objects ("meta.answer").
FieldPath = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^.\s][^\s]*$")]
_LICENSE = re.compile(LICENSE_PATTERN.removesuffix("$").removeprefix("^"))


def is_valid_license(text: str) -> bool:
    return len(text) <= 200 and _LICENSE.fullmatch(text) is not None


class FieldMapping(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which field of a record holds what (layout `mapping`). Only `instruction` is required: a file of
    instructions alone imports as records with no answer yet, for an `annotate` job."""

    instruction: FieldPath
    input: FieldPath | None = None
    output: FieldPath | None = None
    category: FieldPath | None = None
    system: FieldPath | None = None


class ImportSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: Source  # the records' `source` from now on: not "seed" or "generated"
    license: License = UNKNOWN_LICENSE
    url: Annotated[str, Meta(max_length=2000)] | None = None
    layout: Layout | None = None  # None: detected from the file's first records when only one layout fits
    mapping: FieldMapping | None = None  # layout `mapping` only
    file_format: FileFormat | None = None  # None: Parquet by its magic bytes, a JSON array by its `[`, else JSONL
    turns: TurnPolicy = "all"
    near_duplicates: NearDuplicatePolicy = "skip"
    default_category: Annotated[str, Meta(min_length=1, max_length=64)] | None = None  # for rows without one

    def __post_init__(self) -> None:
        if self.source in RESERVED_SOURCES:
            raise ValueError(f"source {self.source!r} is reserved: name the dataset the file comes from")
        if self.mapping is not None and self.layout not in (None, "mapping"):
            raise ValueError(f"a field mapping goes with layout 'mapping', not {self.layout!r}")
        if self.layout == "mapping" and self.mapping is None:
            raise ValueError("layout 'mapping' needs a mapping: which fields hold the instruction, input, output")

    @property
    def chosen_layout(self) -> Layout | None:
        """The layout asked for (a mapping implies `mapping`); None: detect it."""
        return "mapping" if self.mapping is not None else self.layout
