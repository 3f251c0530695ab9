"""The four snapshot formats as TRL's conversational prompt/completion: pure functions over records.

`prompt_completion` is TRL's own form and passes through unchanged; so does `messages` when the tokenizer's
chat template can mark assistant turns (TRL then masks everything else). Alpaca and ShareGPT records are
converted in memory, and so are `messages` records whose template cannot mark turns (SmolLM2's cannot):
the last assistant turn becomes the completion, everything before it the prompt. Either way the loss falls
on the answer only.
"""

from __future__ import annotations

from typing import Any, Literal

from trainer.snapshot import SnapshotFormat

Message = dict[str, str]
LossMask = Literal["completion", "assistant"]

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class FormatError(ValueError):
    """A record does not have the shape its snapshot's format promises."""


def user_turn(instruction: str, input_text: str = "") -> str:
    """The user's message: the instruction, then a blank line and the input when there is one."""
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def sharegpt_messages(conversations: list[dict[str, str]]) -> list[Message]:
    messages = []
    for turn in conversations:
        role = _SHAREGPT_ROLES.get(turn.get("from", ""))
        if role is None or "value" not in turn:
            raise FormatError(f"unknown ShareGPT turn {turn!r}")
        messages.append({"role": role, "content": turn["value"]})
    return messages


def split_last_assistant(messages: list[Message]) -> dict[str, list[Message]]:
    """Prompt = every turn before the last assistant turn; completion = that turn."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "assistant":
            if index == 0:
                break
            return {"prompt": list(messages[:index]), "completion": [messages[index]]}
    raise FormatError("a conversation needs a user turn followed by an assistant turn")


def to_prompt_completion(record: dict[str, Any], fmt: SnapshotFormat) -> dict[str, list[Message]]:
    """One record of any format as {"prompt": [...], "completion": [...]} (conversational)."""
    try:
        if fmt == "prompt_completion":
            return {"prompt": list(record["prompt"]), "completion": list(record["completion"])}
        if fmt == "messages":
            return split_last_assistant(record["messages"])
        if fmt == "sharegpt":
            return split_last_assistant(sharegpt_messages(record["conversations"]))
        if fmt == "alpaca":
            prompt = user_turn(record["instruction"], record.get("input", ""))
            return {
                "prompt": [{"role": "user", "content": prompt}],
                "completion": [{"role": "assistant", "content": record["output"]}],
            }
    except (KeyError, TypeError) as exc:
        raise FormatError(f"not a {fmt} record ({exc!r}): {str(record)[:200]}") from None
    raise FormatError(f"unknown snapshot format {fmt!r}")


def training_rows(
    records: list[dict[str, Any]], fmt: SnapshotFormat, *, template_marks_assistant: bool
) -> tuple[list[dict[str, Any]], LossMask]:
    """The rows handed to SFTTrainer and how TRL will mask them.

    `template_marks_assistant`: the tokenizer's chat template has (or TRL supplies) `{% generation %}` markers,
    so `messages` records can be trained as they are with `assistant_only_loss`.
    """
    if fmt == "prompt_completion":
        return [to_prompt_completion(record, fmt) for record in records], "completion"
    if fmt == "messages" and template_marks_assistant:
        return [{"messages": list(record["messages"])} for record in records], "assistant"
    return [to_prompt_completion(record, fmt) for record in records], "completion"


def completion_text(pair: dict[str, list[Message]]) -> str:
    """The reference answer of a prompt/completion pair: its completion turns' text."""
    return "\n".join(message["content"] for message in pair["completion"])


def last_user_text(pair: dict[str, list[Message]]) -> str:
    """The last user turn of the prompt: what identifies a task across the split files and code_tests.jsonl."""
    for message in reversed(pair["prompt"]):
        if message.get("role") == "user":
            return message["content"]
    return ""
