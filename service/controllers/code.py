"""`POST /v1/code/verify`: how much a solution's tests prove, for code other systems bring.

The solution runs against its tests in the sandbox, then its mutants do (`generators.code_verification`):
the answer is the verdict per test, the kill rate and the mutants no test noticed. It runs in the request
(a few seconds: one sandbox run per mutant, at most `max_parallel` at a time, shared with the code jobs).
"""

from __future__ import annotations

import keyword
from typing import Annotated

import msgspec
from litestar import Controller, post
from litestar.datastructures import State
from litestar.params import JSONBody
from msgspec import Meta

from domain.errors import InvalidInputError
from domain.job_spec import MAX_MUTANTS, MAX_MUTANTS_LIMIT
from generators.code_verification import (
    CodeVerification,
    RunStatus,
    SurvivingMutant,
    TestVerdict,
    VerificationInputError,
    verify,
)
from service.errors import error_responses

MAX_SOLUTION_BYTES = 100_000
MAX_TESTS = 50
MAX_TEST_BYTES = 10_000

TestSource = Annotated[str, Meta(min_length=1, max_length=MAX_TEST_BYTES)]


class CodeVerifyRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    solution: Annotated[str, Meta(min_length=1, max_length=MAX_SOLUTION_BYTES)]
    tests: Annotated[list[TestSource], Meta(min_length=1, max_length=MAX_TESTS)]
    entry_point: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    max_mutants: Annotated[int, Meta(ge=0, le=MAX_MUTANTS_LIMIT)] = MAX_MUTANTS

    def __post_init__(self) -> None:
        # The length bounds count characters; the limits are in UTF-8 bytes.
        if len(self.solution.encode()) > MAX_SOLUTION_BYTES:
            raise ValueError(f"solution is longer than {MAX_SOLUTION_BYTES} bytes")
        if any(len(test.encode()) > MAX_TEST_BYTES for test in self.tests):
            raise ValueError(f"a test is longer than {MAX_TEST_BYTES} bytes")
        if keyword.iskeyword(self.entry_point):
            raise ValueError("entry_point is a Python keyword")


class CodeVerifyResponse(msgspec.Struct, frozen=True, kw_only=True):
    status: RunStatus  # the solution against all its tests
    tests_passed: int
    tests_total: int
    tests: tuple[TestVerdict, ...]
    weak_tests: int  # tests that cannot fail, each with its reason in `tests`
    mutants: int
    killed: int
    killed_by: dict[str, int]
    kill_rate: float | None
    kill_rate_note: str | None
    survivors: tuple[SurvivingMutant, ...]
    mutation_version: str
    duration_s: float

    @classmethod
    def of(cls, verification: CodeVerification) -> CodeVerifyResponse:
        return cls(**msgspec.structs.asdict(verification))


class CodeController(Controller):
    path = "/code"
    tags = ["code"]

    @post("/verify", status_code=200, sync_to_thread=True, responses=error_responses(400, 401, 413))
    def verify_code(self, state: State, data: JSONBody[CodeVerifyRequest]) -> CodeVerifyResponse:
        """Verdict per test, kill rate and surviving mutants of a solution and its assert tests."""
        try:
            result = verify(state.sandbox, data.solution, data.tests, data.entry_point, max_mutants=data.max_mutants)
        except VerificationInputError as exc:
            extra = {"errors": exc.errors} if exc.errors else None
            raise InvalidInputError(exc.detail, code=exc.code, extra=extra) from None
        return CodeVerifyResponse.of(result)
