"""A dataset with chats, for the export and snapshot tests: its tasks and every format's expected lines (the oracle).

One chat of three exchanges with a system prompt (JSON special characters and U+2028/U+2029 in its turns), one
of a single exchange kept for its system prompt, one plain task, and two tasks with no answer yet (a bare
instruction and a chat whose only turn is a question): those render no line.
"""

from __future__ import annotations

import json

from domain.records import Conversation, Instance, NewTask, Turn

MULTI_SYSTEM = 'You plan trips. Say "no" to \\ nothing.'
MULTI_TURNS = (
    ("user", "Plan a weekend in Paris."),
    ("assistant", "Where do you start from?"),
    ("user", 'From Lyon, "cheap" please \\ ok?\u2028 {"not": "json"}'),
    ("assistant", "Take the TGV: about 2 hours.\nBook early."),
    ("user", "And back?"),
    ("assistant", "The same train on Sunday.\u2029"),
)
ONE_SYSTEM = "Answer in French."
ONE_TURNS = (("user", "Say hello."), ("assistant", "Bonjour."))
PLAIN = ("Add the two numbers.", "2 and 3", "5")


def _chat(turns: tuple[tuple[str, str], ...], system: str | None, category: str) -> NewTask:
    conversation = Conversation(turns=tuple(Turn(role=r, content=c) for r, c in turns), system=system)  # type: ignore[arg-type]
    answer = (Instance(output=turns[1][1]),) if len(turns) > 1 else ()
    return NewTask(instruction=turns[0][1], instances=answer, category=category, conversation=conversation)


def chat_tasks() -> list[NewTask]:
    """In id order: the multi-turn chat, the one-exchange chat, the plain task, then the two unanswered ones."""
    return [
        _chat(MULTI_TURNS, MULTI_SYSTEM, "travel"),
        _chat(ONE_TURNS, ONE_SYSTEM, "language"),
        NewTask(instruction=PLAIN[0], instances=(Instance(input=PLAIN[1], output=PLAIN[2]),), category="math"),
        NewTask(instruction="Nobody has answered this yet.", instances=(), category="math"),
        _chat((("user", "Is this chat unanswered?"),), "Be brief.", "math"),
    ]


def _records(system_prompt: str | None) -> list[tuple[str | None, list[tuple[str, str]]]]:
    """(system, turns) of each answered record as the chat formats render it; the plain task takes the snapshot's."""
    plain = [("user", f"{PLAIN[0]}\n\n{PLAIN[1]}"), ("assistant", PLAIN[2])]
    return [(MULTI_SYSTEM, list(MULTI_TURNS)), (ONE_SYSTEM, list(ONE_TURNS)), (system_prompt, plain)]


def expected_chat_lines(fmt: str, system_prompt: str | None = None) -> list[dict]:
    lines = []
    for system, turns in _records(system_prompt):
        head = [{"role": "system", "content": system}] if system is not None else []
        messages = head + [{"role": role, "content": content} for role, content in turns]
        if fmt == "messages":
            lines.append({"messages": messages})
        elif fmt == "sharegpt":
            names = {"system": "system", "user": "human", "assistant": "gpt"}
            lines.append({"conversations": [{"from": names[m["role"]], "value": m["content"]} for m in messages]})
        elif fmt == "prompt_completion":
            lines.append({"prompt": messages[:-1], "completion": messages[-1:]})
        else:
            raise ValueError(fmt)
    return lines


def expected_alpaca_lines() -> list[dict]:
    """The first exchange of each record; no system prompt (the format has none)."""
    return [
        {"instruction": MULTI_TURNS[0][1], "input": "", "output": MULTI_TURNS[1][1]},
        {"instruction": ONE_TURNS[0][1], "input": "", "output": ONE_TURNS[1][1]},
        {"instruction": PLAIN[0], "input": PLAIN[1], "output": PLAIN[2]},
    ]


def expected_text(lines: list[dict]) -> str:
    """The exact file: compact JSON, UTF-8 as it is, U+2028/U+2029 escaped so that no line splitter breaks a record."""
    text = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
