"""What the OpenAPI document says about the bodies the service reads raw: seed uploads and benchmarks.

Those handlers read `request.body()` themselves (JSON Lines is not JSON, and an upload is parsed all or
nothing with every bad line reported), so Litestar cannot infer their bodies; these operation classes
describe them, so clients and schema-driven fuzzers (schemathesis, in the tests) send real uploads.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

_TEXT = Schema(type=OpenAPIType.STRING)
_INSTANCE = Schema(
    type=OpenAPIType.OBJECT,
    required=["output"],
    properties={"input": _TEXT, "output": _TEXT},
    additional_properties=False,
)
SEED_RECORD = Schema(
    type=OpenAPIType.OBJECT,
    description="a self-instruct record (`instances`) or an Alpaca record (`input`, `output`)",
    one_of=[
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
            additional_properties=False,
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
            additional_properties=False,
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
class BenchmarkUploadOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="the benchmark as JSON Lines; every string value of a record is benchmark text",
            content={"application/x-ndjson": _JSON_LINES},
        )
