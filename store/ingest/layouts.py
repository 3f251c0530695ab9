"""One decoded row of an import -> a `NewTask`, in each layout `domain.imports` lists; and which layout a file has.

Pure functions. `parse_row` raises `ValueError` with a readable reason; `detect_layout` raises `InvalidInputError`
naming the layouts that fit (none or several) and the field mappings that would.

Imports are documents, not seed prompts: an instruction may be as long as any text (`max_text_chars`). A row
without an answer (an empty or missing output, a chat that ends on a user turn with no exchange before it) is a
task with no instances, for an `annotate` job. Fields beyond the layout's are kept as provenance `metadata`,
as seed uploads keep them (`formats.extra_fields`). Values are read from JSON or Parquet alike: a Parquet null
is a missing field.
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.fingerprint import has_words
from domain.imports import FieldMapping, ImportSpec, Layout
from domain.records import DEFAULT_CATEGORY, Conversation, Instance, NewTask, Turn
from store.ingest import chats
from store.ingest.detection import detect_layout
from store.ingest.formats import TOO_DEEP, SeedLimits, extra_fields, parse_seed_record

__all__ = ["detect_layout", "parse_row"]


class _Parsed(msgspec.Struct, frozen=True, kw_only=True):
    """What a layout reads from a row, before the checks every layout shares."""

    instruction: str
    instances: tuple[Instance, ...]
    known: tuple[str, ...]  # the row's fields this layout reads; the others are metadata
    category: str | None = None
    is_classification: bool = False
    conversation: Conversation | None = None
    notes: dict[str, Any] = msgspec.field(default_factory=dict)  # provenance entries of the layout
    ignored: tuple[str, ...] = ()  # nested fields not kept (`conversations[].weight`)


class _Alpaca(msgspec.Struct, frozen=True, kw_only=True):
    instruction: str
    input: str | None = None
    output: str | None = None
    category: str | None = None
    is_classification: bool | None = None


class _Dolly(msgspec.Struct, frozen=True, kw_only=True):
    instruction: str
    context: str | None = None
    response: str | None = None
    category: str | None = None


def parse_row(obj: Any, layout: Layout, spec: ImportSpec, limits: SeedLimits, provenance: dict[str, Any]) -> NewTask:
    """One decoded row -> a NewTask; raises ValueError with a readable reason."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    try:
        if layout == "self_instruct":
            return _self_instruct(obj, spec, limits, provenance)
        parsed = _PARSERS[layout](obj, spec)
        return _task(parsed, obj, layout, spec, limits, provenance)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError(TOO_DEEP) from None


def _alpaca(obj: dict[str, Any], spec: ImportSpec) -> _Parsed:
    row = msgspec.convert(obj, _Alpaca)
    return _Parsed(
        instruction=row.instruction,
        instances=_answered(row.input, row.output),
        known=_Alpaca.__struct_fields__,
        category=row.category,
        is_classification=bool(row.is_classification),
    )


def _dolly(obj: dict[str, Any], spec: ImportSpec) -> _Parsed:
    row = msgspec.convert(obj, _Dolly)
    category = _clean_category(row.category)
    return _Parsed(
        instruction=row.instruction,
        instances=_answered(row.context, row.response),
        known=_Dolly.__struct_fields__,
        category=category,
        is_classification=category == "classification",  # one of dolly-15k's eight categories
    )


def _self_instruct(obj: dict[str, Any], spec: ImportSpec, limits: SeedLimits, provenance: dict[str, Any]) -> NewTask:
    """The seed parser's own reading (its structs, checks and extra fields), with the limits of an import."""
    if "instances" not in obj:
        raise ValueError("Object missing required field `instances`")
    seed_limits = msgspec.structs.replace(limits, max_instruction_chars=limits.max_text_chars)
    task = parse_seed_record(obj, seed_limits, provenance)
    category = task.category if _clean_category(obj.get("category")) else _default_category(spec)
    layout_provenance = {k: v for k, v in task.provenance.items() if k != "format"}
    return msgspec.structs.replace(
        task, category=category, provenance={**provenance, "layout": "self_instruct"} | layout_provenance
    )


def _sharegpt(obj: dict[str, Any], spec: ImportSpec) -> _Parsed:
    if "conversations" not in obj:
        raise ValueError("Object missing required field `conversations`")
    chat = chats.normalize_chat(chats.sharegpt_said(obj["conversations"]))
    ignored = tuple(chats.sharegpt_ignored(obj["conversations"]))
    return _chat(chat, obj, spec, ("conversations", "category"), ignored)


def _messages(obj: dict[str, Any], spec: ImportSpec) -> _Parsed:
    if "messages" not in obj:
        raise ValueError("Object missing required field `messages`")
    chat = chats.normalize_chat(chats.messages_said(obj["messages"]))
    return _chat(chat, obj, spec, ("messages", "category"), tuple(chats.messages_ignored(obj["messages"])))


def _prompt_completion(obj: dict[str, Any], spec: ImportSpec) -> _Parsed:
    """TRL's two forms: `prompt` and `completion` strings, or lists of messages (the chat is the two joined)."""
    prompt, completion = obj.get("prompt"), obj.get("completion")
    known = ("prompt", "completion", "category")
    if isinstance(prompt, str) and (completion is None or isinstance(completion, str)):
        return _Parsed(
            instruction=prompt, instances=_answered("", completion), known=known, category=_text(obj, "category")
        )
    if isinstance(prompt, list) and isinstance(completion, list | None):
        said = chats.messages_said(prompt, "prompt") + (
            chats.messages_said(completion, "completion") if completion else []
        )
        ignored = chats.messages_ignored(prompt, "prompt") + chats.messages_ignored(completion, "completion")
        return _chat(chats.normalize_chat(said), obj, spec, known, tuple(ignored))
    raise ValueError(
        "`prompt` and `completion` must be strings (plain) or lists of messages (conversational), "
        f"got {type(prompt).__name__} and {type(completion).__name__}"
    )


def _mapping(obj: dict[str, Any], spec: ImportSpec) -> _Parsed:
    """The fields the mapping names; the top-level fields its paths start from are read, the others metadata."""
    mapping = spec.mapping
    if mapping is None:
        raise ValueError("layout 'mapping' needs a mapping")
    instruction = _mapped(obj, mapping.instruction)
    if instruction is None:
        raise ValueError(f"the instruction field `{mapping.instruction}` is missing")
    system = _mapped(obj, mapping.system) if mapping.system else None
    instances = _answered(_mapped(obj, mapping.input), _mapped(obj, mapping.output))
    known = tuple(dict.fromkeys(path.split(".", 1)[0] for path in _paths(mapping)))
    parsed = _Parsed(instruction=instruction, instances=instances, known=known, category=_mapped(obj, mapping.category))
    if system is None or not system.strip():
        return parsed
    return _with_system(parsed, system.strip(), spec)


def _with_system(parsed: _Parsed, system: str, spec: ImportSpec) -> _Parsed:
    """A mapped row with a system prompt is a one-exchange chat with it (see `chats.chat_parts`)."""
    turns = [Turn(role="user", content=parsed.instruction.strip())]
    turns += [Turn(role="assistant", content=i.output) for i in parsed.instances]
    if len(turns) == 1:
        return msgspec.structs.replace(parsed, notes={"system_prompt": system})
    if spec.turns == "first":
        return msgspec.structs.replace(parsed, notes={"cut_system": True})
    return msgspec.structs.replace(parsed, conversation=Conversation(turns=tuple(turns), system=system))


def _paths(mapping: FieldMapping) -> list[str]:
    fields = (mapping.instruction, mapping.input, mapping.output, mapping.category, mapping.system)
    return [path for path in fields if path is not None]


def _mapped(obj: Any, path: str | None) -> str | None:
    """The value at a dotted path (`meta.answer`; a number steps into a list: `answers.0`), as text; None when
    missing. Numbers become their text; anything else is an error."""
    if path is None:
        return None
    value = obj
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"`{path}` must be a string or a number, got {type(value).__name__}")


def _chat(
    chat: chats.Chat, obj: dict[str, Any], spec: ImportSpec, known: tuple[str, ...], ignored: tuple[str, ...]
) -> _Parsed:
    instruction, instances, conversation, notes = chats.chat_parts(chat, spec.turns)
    return _Parsed(
        instruction=instruction,
        instances=instances,
        known=known,
        category=_text(obj, "category"),
        conversation=conversation,
        notes=notes,
        ignored=ignored,
    )


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"Expected `str | null`, got `{type(value).__name__}` - at `$.{key}`")
    return value


def _answered(input_text: str | None, output: str | None) -> tuple[Instance, ...]:
    """The row's one instance, or none when its output is missing or blank (an instruction with no answer yet)."""
    if output is None or not output.strip():
        return ()
    return (Instance(input=input_text or "", output=output),)


def _clean_category(category: Any) -> str | None:
    return (category.strip().lower() or None) if isinstance(category, str) else None


def _default_category(spec: ImportSpec) -> str:
    return spec.default_category.strip().lower() if spec.default_category else DEFAULT_CATEGORY


def _problems(parsed: _Parsed, category: str, limits: SeedLimits) -> list[str]:
    problems = []
    if not has_words(parsed.instruction):
        problems.append("instruction has no letters or digits")
    texts = [parsed.instruction, *(t for i in parsed.instances for t in (i.input, i.output))]
    if parsed.conversation is not None:
        texts += [parsed.conversation.system or "", *(turn.content for turn in parsed.conversation.turns)]
    if any(len(text) > limits.max_text_chars for text in texts):
        problems.append(f"a text is longer than {limits.max_text_chars} characters")
    if len(parsed.instances) > limits.max_instances:
        problems.append(f"more than {limits.max_instances} instances")
    if len(category) > limits.max_category_chars:
        problems.append(f"category is longer than {limits.max_category_chars} characters")
    return problems


def _task(
    parsed: _Parsed,
    obj: dict[str, Any],
    layout: Layout,
    spec: ImportSpec,
    limits: SeedLimits,
    provenance: dict[str, Any],
) -> NewTask:
    category = _clean_category(parsed.category) or _default_category(spec)
    problems = _problems(parsed, category, limits)
    if problems:
        raise ValueError("; ".join(problems))
    extras = extra_fields(obj, parsed.known, limits)
    ignored = sorted([*extras.pop("ignored_fields", ()), *parsed.ignored])
    return NewTask(
        instruction=parsed.instruction.strip(),
        instances=parsed.instances,
        is_classification=parsed.is_classification,
        category=category,
        provenance={**provenance, "layout": layout, **parsed.notes, **extras}
        | ({"ignored_fields": ignored} if ignored else {}),
        conversation=parsed.conversation,
    )


_PARSERS = {
    "alpaca": _alpaca,
    "dolly": _dolly,
    "sharegpt": _sharegpt,
    "messages": _messages,
    "prompt_completion": _prompt_completion,
    "mapping": _mapping,
}
