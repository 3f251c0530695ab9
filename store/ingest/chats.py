"""Chats in imported rows (ShareGPT `conversations`, OpenAI/TRL `messages`) -> the parts of a task.

Pure functions raising `ValueError` with a readable reason. Each layout first turns its row into `(role, content)`
pairs with role system, user or assistant (`sharegpt_said`, `messages_said`); `normalize_chat` checks and tidies
them; `chat_parts` makes the task's instruction, its instance (the first exchange) and, when asked, the whole chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from domain.imports import TurnPolicy
from domain.records import Conversation, Instance, Turn

Said = tuple[str, str]  # (system|user|assistant, content) as the row says it
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
}
_MESSAGE_ROLES = ("system", "user", "assistant")
_SHAREGPT_TURN_FIELDS = frozenset({"from", "value"})
_MESSAGE_FIELDS = frozenset({"role", "content"})
# What a message may carry that we cannot keep as text: refused when set, rather than imported as half a turn.
_UNSUPPORTED_MESSAGE_FIELDS = ("tool_calls", "function_call", "tool_call_id")


class Chat(msgspec.Struct, frozen=True, kw_only=True):
    """A checked chat: turns alternate user/assistant from a user turn and end with an answer, or are one
    unanswered user turn."""

    turns: tuple[Turn, ...]
    system: str | None = None
    dropped_unanswered: bool = False  # a last user turn without an answer was left out


def sharegpt_said(turns: Any, field: str = "conversations") -> list[Said]:
    """`[{from, value}]` -> (role, content) pairs; a speaker we do not know is an error that names it."""
    said = []
    for n, turn in enumerate(_turn_list(turns, field)):
        speaker, value = turn.get("from"), turn.get("value")
        if not isinstance(speaker, str) or not isinstance(value, str):
            raise ValueError(f"{field}[{n}] needs `from` and `value` strings")
        role = _SHAREGPT_ROLES.get(speaker.strip().lower())
        if role is None:
            raise ValueError(f"{field}[{n}] is from {speaker!r}: known speakers are {', '.join(_SHAREGPT_ROLES)}")
        said.append((role, value))
    return said


def messages_said(messages: Any, field: str = "messages") -> list[Said]:
    """`[{role, content}]` -> (role, content) pairs; content is a string or a list of text parts."""
    said = []
    for n, message in enumerate(_turn_list(messages, field)):
        where = f"{field}[{n}]"
        role = message.get("role")
        if role not in _MESSAGE_ROLES:
            raise ValueError(f"{where} has role {role!r}: only {', '.join(_MESSAGE_ROLES)} can be imported")
        for key in _UNSUPPORTED_MESSAGE_FIELDS:
            if message.get(key):
                raise ValueError(f"{where} carries `{key}`: tool calls cannot be imported as text")
        said.append((role, _content_text(message.get("content"), where)))
    return said


def ignored_turn_fields(turns: Any, field: str, known: frozenset[str]) -> list[str]:
    """The names of the turns' fields that are not kept (`conversations[].weight`), for provenance."""
    items = turns if isinstance(turns, list) else []
    return sorted({f"{field}[].{key}" for item in items if isinstance(item, dict) for key in item if key not in known})


def sharegpt_ignored(turns: Any, field: str = "conversations") -> list[str]:
    return ignored_turn_fields(turns, field, _SHAREGPT_TURN_FIELDS)


def messages_ignored(messages: Any, field: str = "messages") -> list[str]:
    return ignored_turn_fields(messages, field, _MESSAGE_FIELDS)


def _turn_list(turns: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(turns, list) or not all(isinstance(turn, dict) for turn in turns):
        raise ValueError(f"`{field}` must be a list of objects")
    if not turns:
        raise ValueError(f"`{field}` is empty")
    return turns


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise ValueError(f"{where}.content must be a string or a list of text parts")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise ValueError(f"{where}.content holds a part of type {kind!r}: only text parts can be imported")
        texts.append(part["text"])
    return "\n\n".join(texts)  # parts are paragraphs of one message (a question, then the text it is about)


def normalize_chat(said: Sequence[Said]) -> Chat:
    """Check the turns (a system prompt only first, then a user turn) and tidy them (see `Chat`)."""
    system, turns = None, []
    for n, (role, content) in enumerate(said, start=1):
        text = content.strip()
        if not text:
            raise ValueError(f"turn {n} ({role}) is empty")
        if role == "system":
            if n != 1:
                raise ValueError(f"turn {n} is a system prompt: one is allowed, as the first turn")
            system = text
        elif turns and turns[-1][0] == role:
            # Real ShareGPT files hold consecutive turns of one speaker (a reply split in two, a follow-up sent
            # before the answer): they are one turn of the chat, joined as paragraphs.
            turns[-1][1] += "\n\n" + text
        elif not turns and role != "user":
            raise ValueError(f"turn {n} is an {role} turn: a chat starts with a user turn (after a system prompt)")
        else:
            turns.append([role, text])
    if not turns:
        raise ValueError("the chat has no user turn")
    dropped = len(turns) > 1 and turns[-1][0] == "user"
    kept = turns[:-1] if dropped else turns
    return Chat(turns=tuple(Turn(role=r, content=c) for r, c in kept), system=system, dropped_unanswered=dropped)


def chat_parts(chat: Chat, policy: TurnPolicy) -> tuple[str, tuple[Instance, ...], Conversation | None, dict[str, Any]]:
    """(instruction, instances, conversation, provenance notes) of a chat.

    The first exchange is the task's instruction and instance. The whole chat is kept (policy "all") only when
    it holds more than that: a second exchange or a system prompt. An unanswered chat keeps no conversation (its
    system prompt, if any, goes to provenance `system_prompt`), so an answer written later cannot leave a chat
    that ends on a user turn.
    """
    instruction = chat.turns[0].content
    notes: dict[str, Any] = {"unanswered_turn_dropped": True} if chat.dropped_unanswered else {}
    if len(chat.turns) == 1:
        return instruction, (), None, notes | ({"system_prompt": chat.system} if chat.system is not None else {})
    instances = (Instance(input="", output=chat.turns[1].content),)
    if policy == "all":
        whole = len(chat.turns) > 2 or chat.system is not None
        return instruction, instances, Conversation(turns=chat.turns, system=chat.system) if whole else None, notes
    if len(chat.turns) > 2:
        notes["cut_turns"] = len(chat.turns) - 2
    if chat.system is not None:
        notes["cut_system"] = True
    return instruction, instances, None, notes
