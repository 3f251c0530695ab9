"""Parse seed-task uploads (self-instruct or Alpaca records, as JSON Lines or a JSON array).

Pure functions: bytes in, `NewTask`s out, or one `InvalidInputError` listing every bad line.
Fields a record carries beyond its format's (the self-instruct paper's own files hold `motivation_app`, for one)
are data, never a reason to refuse it: they are kept in the task's provenance as `metadata` (up to
`max_metadata_chars` of JSON), and what is not kept (fields of an instance, metadata over the bound) is named in
provenance `ignored_fields`. The upload's answer counts both.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from domain.errors import InvalidInputError
from domain.fingerprint import has_words
from domain.records import DEFAULT_CATEGORY, Instance, NewTask

UploadKind = Literal["jsonl", "json"]
_MAX_REPORTED_ERRORS = 100
TOO_DEEP = "nested too deeply to decode"


class SeedLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_instruction_chars: int = 4_000
    max_text_chars: int = 100_000
    max_instances: int = 64
    max_category_chars: int = 64
    max_metadata_chars: int = 16_000  # a record's extra fields, as JSON, kept with it up to this size


class _InstanceIn(msgspec.Struct, frozen=True):
    output: str
    input: str = ""


class _SelfInstructSeed(msgspec.Struct, frozen=True, kw_only=True):
    """The self-instruct paper's seed format (`id` and `name` are kept as provenance)."""

    instruction: str
    instances: list[_InstanceIn]
    is_classification: bool = False
    category: str | None = None
    id: str | int | None = None
    name: str | None = None


class _AlpacaSeed(msgspec.Struct, frozen=True, kw_only=True):
    instruction: str
    output: str
    input: str = ""
    is_classification: bool = False
    category: str | None = None


def _content_problems(
    instruction: str, instances: list[_InstanceIn], category: str | None, limits: SeedLimits
) -> list[str]:
    problems = []
    if not has_words(instruction):
        problems.append("instruction has no letters or digits")
    if len(instruction) > limits.max_instruction_chars:
        problems.append(f"instruction is longer than {limits.max_instruction_chars} characters")
    if not 1 <= len(instances) <= limits.max_instances:
        problems.append(f"instances must hold between 1 and {limits.max_instances} items")
    for n, instance in enumerate(instances):
        if not instance.output.strip():
            problems.append(f"instances[{n}].output is empty")
        if max(len(instance.input), len(instance.output)) > limits.max_text_chars:
            problems.append(f"instances[{n}] has a text longer than {limits.max_text_chars} characters")
    if category is not None and not 0 < len(category.strip()) <= limits.max_category_chars:
        problems.append(f"category must have 1 to {limits.max_category_chars} characters")
    return problems


_INSTANCE_FIELDS = frozenset(_InstanceIn.__struct_fields__)


def extra_fields(obj: dict[str, Any], known: tuple[str, ...], limits: SeedLimits) -> dict[str, Any]:
    """Provenance entries for the fields of `obj` beyond `known`: `metadata` kept, `ignored_fields` named."""
    extras = {key: value for key, value in obj.items() if key not in known}
    instances = obj.get("instances")
    ignored = sorted({f"instances[].{key}" for item in (instances if isinstance(instances, list) else [])
                      if isinstance(item, dict) for key in item if key not in _INSTANCE_FIELDS})  # fmt: skip
    if extras and len(msgspec.json.encode(extras)) > limits.max_metadata_chars:
        ignored, extras = sorted(extras) + ignored, {}
    return ({"metadata": extras} if extras else {}) | ({"ignored_fields": ignored} if ignored else {})


def parse_seed_record(obj: Any, limits: SeedLimits, provenance: dict[str, Any]) -> NewTask:
    """One decoded JSON value -> a NewTask; raises ValueError with a readable reason."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    try:
        if "instances" in obj:
            seed = msgspec.convert(obj, _SelfInstructSeed)
            instances = seed.instances
            provenance = {"format": "self_instruct", **provenance}
            provenance |= {k: v for k, v in (("seed_id", seed.id), ("seed_name", seed.name)) if v is not None}
        else:
            seed = msgspec.convert(obj, _AlpacaSeed)
            instances = [_InstanceIn(input=seed.input, output=seed.output)]
            provenance = {"format": "alpaca", **provenance}
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    provenance |= extra_fields(obj, type(seed).__struct_fields__, limits)
    problems = _content_problems(seed.instruction, instances, seed.category, limits)
    if problems:
        raise ValueError("; ".join(problems))
    return NewTask(
        instruction=seed.instruction.strip(),
        instances=tuple(Instance(input=i.input, output=i.output) for i in instances),
        is_classification=seed.is_classification,
        category=seed.category.strip().lower() if seed.category else DEFAULT_CATEGORY,
        provenance=provenance,
    )


def _units(body: bytes, kind: UploadKind) -> list[tuple[int, Any]]:
    """(1-based line or item number, raw JSON value) pairs; blank JSONL lines are skipped."""
    if not body.strip():
        return []
    if kind == "json":
        try:
            return list(enumerate(msgspec.json.decode(body, type=list[msgspec.Raw]), start=1))
        except msgspec.DecodeError as exc:
            raise InvalidInputError(f"the body is not a JSON array: {exc}", code="invalid_upload") from None
        except RecursionError:  # msgspec decodes recursively: ~1,000 levels raise instead of failing
            raise InvalidInputError(f"the body is {TOO_DEEP}", code="invalid_upload") from None
    return [(n, line) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()]


def parse_seed_upload(body: bytes, kind: UploadKind, limits: SeedLimits, upload_id: str) -> list[NewTask]:
    """Every record or nothing: one bad record rejects the upload, listing each bad one."""
    units = _units(body, kind)
    if not units:
        raise InvalidInputError("the upload holds no seed tasks", code="empty_upload")
    where = "line" if kind == "jsonl" else "item"
    tasks, errors = [], []
    for number, raw in units:
        try:
            obj = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            errors.append({where: number, "reason": f"invalid JSON: {exc}"})
            continue
        except RecursionError:
            errors.append({where: number, "reason": f"invalid JSON: {TOO_DEEP}"})
            continue
        try:
            tasks.append(parse_seed_record(obj, limits, {"upload": upload_id, where: number}))
        except ValueError as exc:
            errors.append({where: number, "reason": str(exc)})
    if errors:
        raise InvalidInputError(
            f"{len(errors)} of {len(units)} records are invalid; nothing was stored",
            code="invalid_upload",
            extra={"error_count": len(errors), "errors": errors[:_MAX_REPORTED_ERRORS]},
        )
    return tasks
