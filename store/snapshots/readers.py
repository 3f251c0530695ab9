"""Which trainers read each snapshot format, and how: the one statement the data card and the README give.

Every cell says whether the reader takes the files as they are, the option it needs otherwise, and which tokens
carry the loss. How each cell is known (`evidence`):
- `tested`: tests/store/snapshots/test_readers.py runs the real library on files the snapshot code wrote (single
  exchanges, and a multi-turn chat with its own system prompt: TRL's loss on the last answer of a
  `prompt_completion` record and on every answer of a `messages` one, LLaMA-Factory reading it whole): one
  SFTTrainer step on a tiny model (labels read from TRL's own collator), `datasets.load_dataset`, and
  LLaMA-Factory's own dataset_info parser and format converter (its loss masking, `train_on_prompt: false`, sits
  in modules that need torchaudio, so the "loss on the answer" part is its documented default, not run);
- `run once`: axolotl 0.21.0's dataset wrappers (the code behind `type:`), labels included, were run on
  snapshot files by hand (issue 14); not in the tests, since axolotl 0.21 requires Python 3.12 and ours is 3.11;
- `schema`: from the reader's documented schema and source only.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Reader = Literal["trl", "llamafactory", "axolotl", "datasets"]
Evidence = Literal["tested", "run once", "schema"]

# The versions the table was written against (and, for `tested` cells, run with).
READER_NAMES: dict[Reader, str] = {
    "trl": "TRL SFTTrainer 1.16",
    "llamafactory": "LLaMA-Factory 0.9.5",
    "axolotl": "axolotl 0.21.0",
    "datasets": "HF datasets 5.2",
}


EVIDENCE_LEGEND = (
    "How each cell is known: *tested*, run with that version by InstructForge's tests on snapshot files; "
    "*run once*, run by hand on snapshot files; *schema*, from the reader's documented schema."
)


class Support(msgspec.Struct, frozen=True, kw_only=True):
    reads: Literal["as is", "with option", "no", "wrongly"]  # "wrongly": runs, but trains on the wrong thing
    how: str  # the option it needs, or what goes wrong
    evidence: Evidence


_DATASETS = Support(
    reads="as is",
    how="`load_dataset('json', data_files=...)`; an empty `validation.jsonl` (0 records in the manifest) does not "
    "load: leave it out",
    evidence="tested",
)
_LF_INFO = "as the snapshot's `dataset_info.json` entry has it"

READERS: dict[str, dict[Reader, Support]] = {
    "alpaca": {
        "trl": Support(reads="no", how="`KeyError: 'text'`: SFTTrainer wants `text`, `messages` or "
                       "`prompt`/`completion`; a `formatting_func` makes it train on every token", evidence="tested"),
        "llamafactory": Support(reads="as is", how=f"alpaca columns, {_LF_INFO} (it joins instruction and input "
                                "with one newline); loss on `output` by its default `train_on_prompt: false`",
                                evidence="tested"),
        "axolotl": Support(reads="with option", how="`type: alpaca` (its Alpaca preamble and `### Instruction:` "
                           "layout); loss on `output` only (`train_on_inputs: false`)", evidence="run once"),
        "datasets": _DATASETS,
    },
    "sharegpt": {
        "trl": Support(reads="wrongly", how="renamed to role/content but the roles stay `human`/`gpt`, which the "
                       "chat template prints as they are; loss on every token, and `assistant_only_loss` is refused "
                       "(not conversational): use `messages` or `prompt_completion`", evidence="tested"),
        "llamafactory": Support(reads="with option", how=f"`formatting: sharegpt` with `tags` (from/value, human/gpt, "
                                f"system) {_LF_INFO}; loss on the `gpt` turns by its default `train_on_prompt: false`",
                                evidence="tested"),
        "axolotl": Support(reads="with option", how="`type: chat_template`, `field_messages: conversations`, "
                           "`message_property_mappings: {role: from, content: value}` (its default roles map "
                           "human/gpt); loss on assistant turns", evidence="run once"),
        "datasets": _DATASETS,
    },
    "messages": {
        "trl": Support(reads="with option", how="`assistant_only_loss=True` and a chat template with "
                       "`{% generation %}` markers (SmolLM2's has none: TRL refuses it); as is, the loss falls on "
                       "every token, the template's default system prompt included (set `system_prompt`)",
                       evidence="tested"),
        "llamafactory": Support(reads="with option", how=f"`formatting: sharegpt` with `tags` (role/content, "
                                f"user/assistant, system) {_LF_INFO}; loss on the assistant turns by its default "
                                "`train_on_prompt: false`", evidence="tested"),
        "axolotl": Support(reads="with option", how="`type: chat_template` (`field_messages: messages`, role/content "
                           "are its defaults); loss on assistant turns", evidence="run once"),
        "datasets": _DATASETS,
    },
    "prompt_completion": {
        "trl": Support(reads="as is", how="conversational prompt/completion; loss on the completion only "
                       "(`completion_only_loss` defaults on)", evidence="tested"),
        "llamafactory": Support(reads="no", how="no dataset_info mapping for prompt/completion message lists: use "
                                "`messages`", evidence="schema"),
        "axolotl": Support(reads="no", how="`type: chat_template` finds no `messages` (\"Messages is null\"); no "
                           "type reads prompt/completion message lists: use `messages`", evidence="run once"),
        "datasets": _DATASETS,
    },
}  # fmt: skip


def _cell(support: Support) -> str:
    return f"**{support.reads}**: {support.how} ({support.evidence})"


def readers_table(formats: tuple[str, ...] | None = None) -> str:
    """A Markdown table, one row per format (all of them by default), one column per reader."""
    readers = list(READER_NAMES)
    lines = [
        "| format | " + " | ".join(READER_NAMES[r] for r in readers) + " |",
        "|---|" + "---|" * len(readers),
    ]
    for fmt in formats or tuple(READERS):
        lines.append(f"| `{fmt}` | " + " | ".join(_cell(READERS[fmt][r]) for r in readers) + " |")
    return "\n".join(lines)
