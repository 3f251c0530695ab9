"""Every query and path parameter of the API, with its bounds: one home, documented in the OpenAPI schema.

Litestar checks a parameter against the bounds given to `QueryParameter(...)` and `PathParameter(...)` (it
ignores msgspec `Meta` inside `Annotated` for parameters), so bounds hold for query parameters exactly as
they do for bodies: a value out of bounds, `nan` and `inf` included, is a 400 with the error shape, before
the handler runs.
Patterns are portable (the schema's readers use ECMA regexes); where Python's `$` lets a trailing newline
through, the handler's own check (`service.paging`, `domain.names`) closes it.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from domain.names import MAX_NAME_CHARS, NAME_DESCRIPTION, NAME_PATTERN
from domain.quality import SCALE_MAX, SCALE_MIN
from service.settings import MAX_PAGE_SIZE_BOUND

MAX_ID_CHARS = 64  # dataset, job and snapshot ids are 23-27 characters
TASK_CURSOR_DIGITS = 18  # a task id below 10**18 fits DuckDB's BIGINT
TASK_CURSOR_PATTERN = rf"^[0-9]{{1,{TASK_CURSOR_DIGITS}}}$"
DATASET_CURSOR_PATTERN = r"^ds_[0-9a-f]{20}$"
JOB_CURSOR_PATTERN = r"^job_[0-9a-f]{20}$"

PageLimit = Annotated[
    int | None,
    QueryParameter(ge=1, le=MAX_PAGE_SIZE_BOUND, description="page size; at most INSTRUCTFORGE_MAX_PAGE_SIZE"),
]
TaskCursor = Annotated[
    str | None,
    QueryParameter(
        pattern=TASK_CURSOR_PATTERN, max_length=TASK_CURSOR_DIGITS, description="the `next` of the previous page"
    ),
]
DatasetCursor = Annotated[
    str | None,
    QueryParameter(pattern=DATASET_CURSOR_PATTERN, max_length=23, description="the `next` of the previous page"),
]
JobCursor = Annotated[
    str | None, QueryParameter(pattern=JOB_CURSOR_PATTERN, max_length=24, description="the `next` of the previous page")
]
DatasetIdFilter = Annotated[str | None, QueryParameter(min_length=1, max_length=MAX_ID_CHARS)]
CategoryFilter = Annotated[str | None, QueryParameter(min_length=1, max_length=64)]
SourceFilter = Annotated[
    str | None,
    QueryParameter(
        min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN,
        description="seed, generated, or an import's source name",
    ),
]
ClassificationFilter = Annotated[bool | None, QueryParameter()]
# The judge's score, on its fixed scale: only tasks whose current score is at least this.
MinQualityFilter = Annotated[float | None, QueryParameter(ge=SCALE_MIN, le=SCALE_MAX)]
WithBalance = Annotated[bool, QueryParameter(description="false skips the balance report")]
ShareLimit = Annotated[
    float | None, QueryParameter(gt=0, le=1, description="a share above it is a warning; default the setting")
]
NgramSize = Annotated[int, QueryParameter(ge=1, le=64, description="words per n-gram")]
BenchmarkName = Annotated[
    str, QueryParameter(min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN, description=NAME_DESCRIPTION)
]

# Path parameters: an id longer than any id the service makes names nothing; a file name is one of a few.
DatasetId = Annotated[str, PathParameter(min_length=1, max_length=MAX_ID_CHARS)]
JobId = Annotated[str, PathParameter(min_length=1, max_length=MAX_ID_CHARS)]
SnapshotId = Annotated[str, PathParameter(min_length=1, max_length=MAX_ID_CHARS)]
FileName = Annotated[str, PathParameter(min_length=1, max_length=64)]
