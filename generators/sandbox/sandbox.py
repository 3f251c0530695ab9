"""The sandbox's entry points: one blocking run, many in parallel, and an async run for the event loop."""

from __future__ import annotations

import asyncio
import marshal
import os
import secrets
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generators.sandbox.checks import Check, InvalidTestError, parse_check
from generators.sandbox.isolation import (
    Isolation,
    acquire_uid_slot,
    clean_env,
    kill_uid,
    make_workdir,
    own_task_count,
    probe_isolation,
    remove_tree,
)
from generators.sandbox.limits import ExecutionResult, SandboxLimits
from generators.sandbox.protocol import parse_report
from generators.sandbox.runner import execute
from generators.sandbox.verdict import verdict

HARNESS = Path(__file__).with_name("harness.py")
DEFAULT_LIMITS = SandboxLimits()


class Sandbox:
    """Runs untrusted solutions against their tests, at most `max_parallel` at a time across all entry points.

    The isolation is probed once, here (a few ms); pass `isolation` to impose one instead.
    """

    def __init__(
        self, limits: SandboxLimits = DEFAULT_LIMITS, max_parallel: int = 2, *, isolation: Isolation | None = None
    ) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.limits = limits
        self.max_parallel = max_parallel
        self.isolation = isolation if isolation is not None else probe_isolation()
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._executor = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="sandbox")

    def run_blocking(self, solution: str, tests: Sequence[str]) -> ExecutionResult:
        with self._slots:
            return run_isolated(self.isolation, self.limits, solution, tests)

    async def run(self, solution: str, tests: Sequence[str]) -> ExecutionResult:
        """On a worker thread of this sandbox: never blocks the event loop. A cancelled call that has already
        started still runs to its end (bounded by the limits) on that thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.run_blocking, solution, _test_list(tests))

    def run_many(self, jobs: Sequence[tuple[str, Sequence[str]]]) -> list[ExecutionResult]:
        """Blocking; runs the (solution, tests) jobs in parallel and returns their results in the jobs' order."""
        with ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="sandbox-many") as pool:
            return list(pool.map(lambda job: self.run_blocking(job[0], job[1]), jobs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def run_tests(solution: str, tests: Sequence[str], limits: SandboxLimits = DEFAULT_LIMITS) -> ExecutionResult:
    """One blocking run. It probes the isolation each call: to run many, keep a `Sandbox`."""
    with Sandbox(limits, max_parallel=1) as sandbox:
        return sandbox.run_blocking(solution, tests)


def isolation_report() -> Isolation:
    """The isolation a new `Sandbox` applies on this machine (see `generators.sandbox.isolation`)."""
    return probe_isolation()


def run_isolated(isolation: Isolation, limits: SandboxLimits, solution: str, tests: Sequence[str]) -> ExecutionResult:
    """One run in one child process tree, with its own uid where the isolation gives one."""
    checks = []
    for number, test in enumerate(_test_list(tests), start=1):
        try:
            checks.append(parse_check(test))
        except InvalidTestError as exc:
            return _not_run(f"test {number}: {exc}", len(tests))
    if not checks:
        return _not_run("no tests to run: a solution passes only by passing tests", 0)
    slot = acquire_uid_slot() if isolation.per_run_uid else None
    uid = slot.uid if slot is not None else None
    try:
        outer, workdir = make_workdir(uid)
        try:
            nonce = secrets.token_hex(16)
            payload = _job(nonce, uid, workdir, limits, solution, checks, isolation)
            argv = [*isolation.wrapper, isolation.python, "-I", "-S", "-B", str(HARNESS)]
            run = execute(argv, clean_env(workdir), payload, limits, _killer(uid))
        finally:
            remove_tree(outer)
    finally:
        if slot is not None:
            slot.release()  # after killing every process left with its uid
    return verdict(checks, run, parse_report(run.results, nonce, len(checks)), limits)


def _job(
    nonce: str,
    uid: int | None,
    workdir: str,
    limits: SandboxLimits,
    solution: str,
    checks: list[Check],
    isolation: Isolation,
) -> bytes:
    # Sharing the caller's uid, NPROC counts the caller's own threads too: allow those plus the limit.
    nproc = limits.processes if isolation.per_run_uid else own_task_count() + limits.processes
    return marshal.dumps(
        {
            "nonce": nonce,
            "uid": uid,
            "gid": uid,
            "workdir": workdir,
            "limits": {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "file_mb": limits.file_mb, "nproc": nproc},
            "solution": solution,
            "checks": [("exec" if c.kind == "statements" else "eval", c.code) for c in checks],
        }
    )


def _killer(uid: int | None) -> Callable[[int], None]:
    """How to end a run that is still going: by its uid, or by its child (the supervisor, whose death ends a
    pid namespace). The child goes before the process group so that it is never left to the host's init."""
    if uid is not None:
        return lambda _pid: kill_uid(uid)
    return _kill_children


def _kill_children(pid: int) -> None:
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                children = [int(child) for child in listing.read().split()]
        except OSError:
            continue
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _test_list(tests: Sequence[str]) -> tuple[str, ...]:
    if isinstance(tests, str):
        raise TypeError("tests must be a sequence of test sources, not one string")
    return tuple(tests)


def _not_run(error: str, total: int) -> ExecutionResult:
    return ExecutionResult(
        status="failed", tests_passed=0, tests_total=total, duration_s=0.0, error=error, stdout="", stderr=""
    )
