from __future__ import annotations

import pytest

from domain.errors import InvalidInputError
from domain.records import Instance
from store.ingest.formats import SeedLimits, parse_seed_upload

LIMITS = SeedLimits(max_instruction_chars=100, max_text_chars=200, max_instances=3)


def parse(body: bytes, kind="jsonl"):
    return parse_seed_upload(body, kind, LIMITS, "up_test")


def errors(body: bytes, kind="jsonl") -> list[dict]:
    with pytest.raises(InvalidInputError) as raised:
        parse(body, kind)
    assert raised.value.code == "invalid_upload"
    return raised.value.extra["errors"]


def test_self_instruct_record() -> None:
    body = (
        b'{"id": "seed_task_1", "name": "antonyms", "instruction": "  Give the antonym. ", '
        b'"instances": [{"input": "hot", "output": "cold"}, {"output": "x"}], "is_classification": false}\n'
    )
    [seed] = parse(body)
    assert seed.instruction == "Give the antonym."
    assert seed.instances == (Instance(input="hot", output="cold"), Instance(input="", output="x"))
    assert (seed.is_classification, seed.category) == (False, "uncategorized")
    assert seed.provenance == {
        "format": "self_instruct",
        "upload": "up_test",
        "line": 1,
        "seed_id": "seed_task_1",
        "seed_name": "antonyms",
    }


def test_alpaca_record_with_category_as_json_array() -> None:
    body = (
        b'[{"instruction": "Is this spam?", "input": "WIN NOW", "output": "yes", '
        b'"category": " Classification ", "is_classification": true}]'
    )
    [seed] = parse(body, "json")
    assert seed.instances == (Instance(input="WIN NOW", output="yes"),)
    assert (seed.is_classification, seed.category) == (True, "classification")
    assert seed.provenance == {"format": "alpaca", "upload": "up_test", "item": 1}


def test_blank_lines_are_skipped_and_numbering_follows_the_file() -> None:
    body = b'\n{"instruction": "A b c", "output": "d"}\n\n{"instruction": "E f g", "output": "h"}\n'
    assert [s.provenance["line"] for s in parse(body)] == [2, 4]


def test_every_bad_line_is_reported() -> None:
    body = b"\n".join(
        [
            b'{"instruction": "Fine task", "output": "ok"}',
            b'{"instruction": "No output"}',
            b"{not json",
            b'{"instruction": 7, "output": "x"}',
            b'["a list"]',
            b'{"instruction": "Listed output", "output": ["x"]}',
            b'{"instruction": "Empty output", "output": "   "}',
            b'{"instruction": "?!", "output": "x"}',
            b'{"instruction": "Too many", "instances": [{"output": "a"}, {"output": "b"}, {"output": "c"}, '
            b'{"output": "d"}]}',
            b'{"instruction": "No instances", "instances": []}',
            b'{"instruction": "' + b"x" * 101 + b'", "output": "x"}',
        ]
    )
    found = errors(body)
    assert [e["line"] for e in found] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    reasons = [e["reason"] for e in found]
    assert reasons[0] == "Object missing required field `output`"
    assert reasons[1].startswith("invalid JSON")
    assert reasons[2] == "Expected `str`, got `int` - at `$.instruction`"
    assert reasons[3] == "expected a JSON object, got list"
    assert reasons[4] == "Expected `str`, got `array` - at `$.output`"
    assert reasons[5] == "instances[0].output is empty"
    assert reasons[6] == "instruction has no letters or digits"
    assert reasons[7] == "instances must hold between 1 and 3 items"
    assert reasons[8] == "instances must hold between 1 and 3 items"
    assert reasons[9] == "instruction is longer than 100 characters"


@pytest.mark.parametrize("body", [b"", b"\n\n  \n", b"[]"])
def test_empty_upload(body: bytes) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse(body, "json" if body == b"[]" else "jsonl")
    assert raised.value.code == "empty_upload"


def test_a_body_that_is_not_an_array() -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse(b'{"instruction": "x"}', "json")
    assert raised.value.code == "invalid_upload"


def test_the_real_seed_file_parses(seed_bytes: bytes) -> None:
    seeds = parse_seed_upload(seed_bytes, "jsonl", SeedLimits(), "up")
    assert len(seeds) == 175
    assert sum(s.is_classification for s in seeds) == 26


def test_extra_fields_are_kept_as_metadata_never_a_reason_to_refuse() -> None:
    """The self-instruct paper's own files carry `id`, `motivation_app`, ...: such uploads were refused whole."""
    body = b"\n".join([
        b'{"id": "user_oriented_task_0", "motivation_app": "Grammarly", "instruction": "Fix the grammar.", '
        b'"instances": [{"input": "he go home", "output": "He goes home.", "note": "x"}]}',
        b'{"instruction": "Say hello.", "output": "Hello!", "source": "dolly", "tags": ["greeting"]}',
        b'{"instruction": "Say goodbye.", "output": "Bye!", "blob": "' + b"x" * 60 + b'"}',
    ])  # fmt: skip
    first, second, third = parse_seed_upload(body, "jsonl", SeedLimits(max_metadata_chars=50), "up")
    assert first.provenance["metadata"] == {"motivation_app": "Grammarly"}  # `id` is the format's own: seed_id
    assert first.provenance["seed_id"] == "user_oriented_task_0"
    assert first.provenance["ignored_fields"] == ["instances[].note"]  # an instance's extras are not kept
    assert second.provenance["metadata"] == {"source": "dolly", "tags": ["greeting"]}
    assert "metadata" not in third.provenance and third.provenance["ignored_fields"] == ["blob"]  # over the bound
    assert [t.instances[0].output for t in (first, second, third)] == ["He goes home.", "Hello!", "Bye!"]
