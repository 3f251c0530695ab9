"""What the OpenAPI document says beyond what Litestar infers from the handlers.

- `operation_id`: one naming scheme for every operation (`createJob`, `listDatasets`, `getDatasetStats`).
- The API-key security schemes (`Authorization: Bearer KEY` or `X-API-Key: KEY`), applied to /v1.
- The bodies the service reads raw: seed uploads and benchmarks. Those handlers read `request.body()`
  themselves (JSON Lines is not JSON, and an upload is parsed all or nothing with every bad line reported),
  so Litestar cannot infer them; the operation classes describe them, so clients and schema-driven fuzzers
  (schemathesis, in the tests) send real uploads.
- The shapes of the JSON documents the API passes through as they were stored (a record's provenance, a
  snapshot's manifest and counts): `Meta` for those fields, so the document shows their properties while
  the JSON on the wire stays the stored document, keys this schema does not know included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.types import Method
from msgspec import Meta

from service.schema_viewers import render_plugins

_TEXT = Schema(type=OpenAPIType.STRING)
_INSTANCE = Schema(
    type=OpenAPIType.OBJECT,
    required=["output"],
    properties={"input": _TEXT, "output": _TEXT},
    description="other fields of an instance are ignored (named in provenance `ignored_fields`)",
)
SEED_RECORD = Schema(
    type=OpenAPIType.OBJECT,
    description="a self-instruct record (`instances`) or an Alpaca record (`input`, `output`); other fields are kept "
    "as the record's provenance `metadata` and counted in the answer's `extra_fields`",
    any_of=[
        Schema(
            type=OpenAPIType.OBJECT,
            required=["instruction", "instances"],
            properties={
                "instruction": _TEXT,
                "instances": Schema(type=OpenAPIType.ARRAY, items=_INSTANCE),
                "is_classification": Schema(type=OpenAPIType.BOOLEAN),
                "category": _TEXT,
                "id": Schema(one_of=[_TEXT, Schema(type=OpenAPIType.INTEGER)]),
                "name": _TEXT,
            },  # fmt: skip
        ),
        Schema(
            type=OpenAPIType.OBJECT,
            required=["instruction", "output"],
            properties={
                "instruction": _TEXT,
                "input": _TEXT,
                "output": _TEXT,
                "category": _TEXT,
                "is_classification": Schema(type=OpenAPIType.BOOLEAN),
            },  # fmt: skip
        ),
    ],
)
_JSON_LINES = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, description="one JSON object per line"))


@dataclass
class SeedUploadOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="seed tasks: JSON Lines, or a JSON array of the same records",
            content={
                "application/x-ndjson": _JSON_LINES,
                "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.ARRAY, items=SEED_RECORD)),
            },
        )


@dataclass
class ExportOperation(Operation):
    """The export's 200 is JSON Lines (a Stream: Litestar documents it with an empty schema)."""

    def __post_init__(self) -> None:
        self.responses = {**(self.responses or {}), "200": OpenAPIResponse(
            description="the records as JSON Lines, one per instance, in the `format` asked for; streamed",
            content={"application/x-ndjson": _JSON_LINES},
            headers={"Content-Disposition": OpenAPIHeader(
                schema=_TEXT, description='`attachment; filename="DATASET-FORMAT.jsonl"`',
            ), "X-Conversations-Cut": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
                description="multi-turn records the format cut to their first exchange (alpaca holds one; the "
                "chat formats keep every turn, so 0)",
            )},
        )}  # fmt: skip


@dataclass
class ImportUploadOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="the file itself: JSON Lines, a JSON array or Parquet (streamed to disk, never held whole)",
            content={
                "application/x-ndjson": _JSON_LINES,
                "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.ARRAY, items=Schema(
                    type=OpenAPIType.OBJECT, description="a record in one of the layouts"))),
                "application/vnd.apache.parquet": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING,
                                                                                 format=OpenAPIFormat.BINARY)),
            },
        )  # fmt: skip


@dataclass
class BenchmarkUploadOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="the benchmark as JSON Lines; every string value of a record is benchmark text",
            content={"application/x-ndjson": _JSON_LINES},
        )


# Operation ids. A handler is named by a bare verb (`create`, `read` ...: it acts on the resource its path
# names), by `verb_noun` (`upload_seeds`: that is the operation), or by a noun (`stats`, `engine_status`:
# read or written by its HTTP method).
_VERBS = {
    "create": "create", "list": "list", "read": "get", "remove": "delete", "register": "register",
    "cancel": "cancel", "download": "download", "export": "export", "upload": "upload", "verify": "verify",
}  # fmt: skip
_METHOD_VERBS = {"GET": "get", "POST": "create", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}


def _camel(words: Sequence[str]) -> str:
    return "".join(part[:1].upper() + part[1:] for word in words for part in word.replace("-", "_").split("_"))


def _singular(segment: str) -> str:
    return segment[:-1] if segment.endswith("s") and not segment.endswith("ss") else segment


def operation_id(handler: HTTPRouteHandler, method: Method, path_components: Sequence[Any]) -> str:
    """`verbNoun` in camelCase from the handler's name and its path's literal segments (`v1` aside).

    `create` on /datasets -> createDataset; `list` -> listDatasets; `download` on /snapshots/{id}/files/{name}
    -> downloadSnapshotFile; `cancel` on /jobs/{id}/cancel -> cancelJob; `upload_seeds` -> uploadSeeds; `stats`
    on /datasets/{id}/stats (GET) -> getDatasetStats. Stable: it changes only when a handler or its path does.
    Litestar refuses a document with two equal ids, and `tests/service/test_openapi.py` checks the case.
    """
    words = handler.handler_name.split("_")
    segments = [c for c in path_components if isinstance(c, str) and c not in ("", "v1")]
    segments = [s for s in segments if not set(s.replace("-", "_").split("_")) <= set(words)]  # named already
    verb = _VERBS.get(words[0])
    if verb is not None and len(words) > 1:
        return verb + _camel(words[1:])
    nouns = [_singular(segment) for segment in segments]
    if verb is None:
        method_name = str(getattr(method, "value", method)).upper()
        return _METHOD_VERBS.get(method_name, method_name.lower()) + _camel([*nouns, *words])
    if verb == "list" and segments:
        nouns[-1] = segments[-1]
    return verb + _camel(nouns)


# The API keys (INSTRUCTFORGE_API_KEYS): either scheme; with no keys configured, /v1 asks for none.
_KEY_NOTE = "Needed on /v1 when INSTRUCTFORGE_API_KEYS is set; a missing or wrong key is a 401."
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "BearerAuth": SecurityScheme(type="http", scheme="bearer", description=f"`Authorization: Bearer KEY`. {_KEY_NOTE}"),
    "ApiKeyHeader": SecurityScheme(
        type="apiKey", name="X-API-Key", security_scheme_in="header", description=f"`X-API-Key: KEY`. {_KEY_NOTE}"
    ),
}
API_KEY_SECURITY: list[SecurityRequirement] = [{name: []} for name in SECURITY_SCHEMES]


def openapi_config(version: str) -> OpenAPIConfig:
    """The document at /schema/openapi.json and its viewers (served offline: `service.schema_viewers`)."""
    return OpenAPIConfig(
        title="InstructForge",
        version=version,
        path="/schema",
        render_plugins=render_plugins(),
        operation_id_creator=operation_id,
        components=Components(security_schemes=dict(SECURITY_SCHEMES)),
        use_handler_docstrings=True,
    )


def _documented(description: str, schema: Schema) -> Meta:
    """`Meta` for a `dict[str, Any]` field whose JSON is a stored document: its schema for the OpenAPI document.

    Litestar sets each key of `extra_json_schema["extra"]` on the field's schema (plain JSON values, so
    nothing re-serialises them); the value on the wire is untouched, keys not listed here included.
    """
    document = schema.to_schema()
    extra = {"properties": document["properties"], "required": document.get("required"), "additional_properties": {}}
    return Meta(extra_json_schema={"description": description, "extra": extra})


_INT = Schema(type=OpenAPIType.INTEGER)
_OBJECT = Schema(type=OpenAPIType.OBJECT)
_ID = Schema(one_of=[_TEXT, _INT])
_NULLABLE_TEXT = Schema(one_of=[_TEXT, Schema(type=OpenAPIType.NULL)])
_COUNT_BY_NAME = Schema(type=OpenAPIType.OBJECT, additional_properties=_INT)
_SPLIT_COUNTS = Schema(
    type=OpenAPIType.OBJECT,
    required=["tasks", "records", "by_category"],
    properties={"tasks": _INT, "records": _INT, "by_category": _COUNT_BY_NAME, "multi_turn_records": _INT,
                "turns": _INT, "conversations_cut_to_first_exchange": _INT},
    description="tasks and records (lines) in one split, and tasks by category; the records with more than one "
    "exchange, the user and assistant turns written, and the multi-turn records cut to their first exchange "
    "(alpaca)",
)
SNAPSHOT_COUNTS = Schema(
    type=OpenAPIType.OBJECT, required=["train", "validation"],
    properties={"train": _SPLIT_COUNTS, "validation": _SPLIT_COUNTS},
)  # fmt: skip
_FILE_ENTRY = Schema(
    type=OpenAPIType.OBJECT,
    required=["sha256", "records", "bytes"],
    properties={"sha256": _TEXT, "records": _INT, "bytes": _INT},
)
_GENERATION = Schema(
    type=OpenAPIType.OBJECT,
    description="where the records came from: source, method, model and templates; the jobs and their settings",
    properties={
        "records_by_origin": Schema(type=OpenAPIType.ARRAY, items=Schema(
            type=OpenAPIType.OBJECT,
            properties={"source": _TEXT, "method": _NULLABLE_TEXT, "model": _NULLABLE_TEXT,
                        "templates": Schema(one_of=[_OBJECT, Schema(type=OpenAPIType.NULL)]), "tasks": _INT},
        )),
        "jobs": Schema(type=OpenAPIType.ARRAY, items=Schema(
            type=OpenAPIType.OBJECT, properties={"id": _TEXT, "method": _TEXT, "params": _OBJECT},
        )),
    },
)  # fmt: skip
SNAPSHOT_MANIFEST = Schema(
    type=OpenAPIType.OBJECT,
    required=["snapshot_id", "dataset_id", "number", "format", "files", "content_sha256", "counts", "created_at"],
    properties={
        "snapshot_id": _TEXT, "dataset_id": _TEXT, "dataset_name": _TEXT, "number": _INT, "format": _TEXT,
        "spec": Schema(type=OpenAPIType.OBJECT, description="the request that made it (SnapshotSpec), every field"),
        "files": Schema(type=OpenAPIType.OBJECT, additional_properties=_FILE_ENTRY, description="data files by name"),
        "content_sha256": Schema(type=OpenAPIType.STRING, description="over the data files' hashes"),
        "counts": SNAPSHOT_COUNTS,
        "selection": Schema(type=OpenAPIType.OBJECT, description="how many tasks matched, and why some were left out",
                            properties={"matched": _INT, "unanswered": _INT, "excluded_contaminated": _INT,
                                        "capped_by_category": _COUNT_BY_NAME, "cut_by_max_tasks": _INT,
                                        "cut_by_mix": _INT,
                                        "moved_to_train_near_duplicates": _INT}),
        "contamination": Schema(type=OpenAPIType.OBJECT, description="overlap with the registered benchmarks"),
        "balance": Schema(type=OpenAPIType.OBJECT, description="the balance report over the snapshot's tasks"),
        "generation": _GENERATION,
        "sources": Schema(type=OpenAPIType.ARRAY, items=_OBJECT, description="per source in the snapshot: tasks, "
                          "instances, share, licences and URLs of its imports (GET /v1/datasets/{id}/sources)"),
        "licence_warnings": Schema(type=OpenAPIType.ARRAY, items=_OBJECT,
                                   description="licence notes on the mix: code, message, sources (not legal advice)"),
        "licence_note": _TEXT,
        "mix": Schema(one_of=[_OBJECT, Schema(type=OpenAPIType.NULL)], description="the mixing recipe, and per "
                      "source and category its requested and achieved shares (null: no recipe)"),
        "created_at": Schema(type=OpenAPIType.STRING, format="date-time"),  # type: ignore[arg-type]
    },
)  # fmt: skip
_NUMBER = Schema(type=OpenAPIType.NUMBER)
PROVENANCE = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "upload": _TEXT, "line": _INT, "item": _INT, "format": _TEXT, "seed_id": _ID, "seed_name": _TEXT,
        "job_id": _TEXT, "method": _TEXT, "model": _TEXT, "round": _INT, "temperature": _NUMBER,
        "templates": Schema(type=OpenAPIType.OBJECT, additional_properties=_TEXT,
                            description="prompt template name.version by role"),
        "quality_flags": Schema(type=OpenAPIType.ARRAY, items=_OBJECT,
                                description="checks failed, kept with `record_only`: reason, instance, detail"),
        "consistency": Schema(type=OpenAPIType.OBJECT, description="self-consistency: samples, kind, agreement ...",
                              properties={"samples": _INT, "kind": _TEXT, "agreement": _NUMBER}),
        "parent_id": Schema(one_of=[_ID, Schema(type=OpenAPIType.NULL)]), "parent_instruction": _TEXT,
        "operator": _TEXT, "evol_depth": _INT,
        "metadata": Schema(type=OpenAPIType.OBJECT, description="a seed record's fields beyond its format's, as sent"),
        "ignored_fields": Schema(type=OpenAPIType.ARRAY, items=_TEXT,
                                 description="seed fields not kept (an instance's; metadata over the bound)"),
    },
)  # fmt: skip
MANIFEST_DOC = _documented("the snapshot's manifest.json, as stored", SNAPSHOT_MANIFEST)
COUNTS_DOC = _documented("tasks and records per split", SNAPSHOT_COUNTS)
PROVENANCE_DOC = _documented(
    "where the task came from: the upload and its line (seeds), the import, its line and layout (an import's "
    "source), or the job, model, round and prompt templates (generated), with each method's notes; keys vary by "
    "source and method",
    PROVENANCE,
)
