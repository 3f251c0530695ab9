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

from generators.sandbox.cgroups import RunGroup
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
from generators.sandbox.runner import RESULTS_CAP, RawRun, execute
from generators.sandbox.verdict import verdict
from generators.sandbox.view import RUN_TMP, SANDBOX_HARNESS, run_args

HARNESS = Path(__file__).with_name("harness.py")
DEFAULT_LIMITS = SandboxLimits()


class Sandbox:
    """Runs untrusted solutions against their tests, at most `max_parallel` at a time across all entry points.

    The isolation is probed once, here (tens of ms: it starts one wrapped interpreter); pass `isolation` to
    impose one instead.
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
    """One run in one child process tree, with its own uid and control group where the isolation gives them.

    It returns a verdict whatever the child does; what it raises comes from the host (no free uid, no
    process could be started), never from the run."""
    checks = []
    for number, test in enumerate(_test_list(tests), start=1):
        try:
            checks.append(parse_check(test))
        except InvalidTestError as exc:
            return _not_run(f"test {number}: {exc}", len(tests))
    if not checks:
        return _not_run("no tests to run: a solution passes only by passing tests", 0)
    slot = acquire_uid_slot() if isolation.per_run_uid else None
    try:
        return _run(isolation, limits, solution, checks, None if slot is None else slot.uid)
    finally:
        if slot is not None:
            slot.release()  # after killing every process left with its uid


def _run(
    isolation: Isolation, limits: SandboxLimits, solution: str, checks: list[Check], uid: int | None
) -> ExecutionResult:
    private = isolation.filesystem == "private"
    group: RunGroup | None = None
    outer: str | None = None
    owned: list[int] = []
    try:
        group = RunGroup(isolation.cgroups, limits.memory_mb, limits.processes) if isolation.cgroups else None
        outer, workdir = (None, RUN_TMP) if private else make_workdir(uid)
        # The child's fds from 4 on: bubblewrap's syscall filter, then the groups' cgroup.procs files.
        extra = [_filter_pipe(isolation.seccomp, owned)] if private and isolation.seccomp else []
        cgroup_fds = group.procs_fds() if group is not None else []
        owned += cgroup_fds
        targets = list(range(4 + len(extra), 4 + len(extra) + len(cgroup_fds)))
        nonce = secrets.token_hex(16)
        job = _job(uid, workdir, limits, solution, checks, isolation, targets)
        payload = len(job).to_bytes(4, "little") + job + nonce.encode()
        argv = _argv(isolation, limits, seccomp_fd=4 if extra else None)
        run = execute(argv, clean_env(workdir), payload, limits, _killer(uid), extra + cgroup_fds)
        memory_hit = group is not None and group.memory_exhausted()
    finally:
        for fd in owned:
            os.close(fd)
        if group is not None:
            group.close()
        if outer is not None:
            remove_tree(outer)
    return judge(checks, run, nonce, limits, memory_hit)


def _argv(isolation: Isolation, limits: SandboxLimits, seccomp_fd: int | None) -> list[str]:
    if isolation.filesystem == "private":
        tail, harness = run_args(limits.disk_mb, seccomp_fd), SANDBOX_HARNESS
    else:
        tail, harness = [], str(HARNESS)
    return [*isolation.wrapper, *tail, isolation.python, "-I", "-S", "-B", harness]


def judge(checks: list[Check], run: RawRun, nonce: str, limits: SandboxLimits, memory_hit: bool) -> ExecutionResult:
    """The verdict on a finished run. Whatever the child sent (any bytes, any value), this returns one: a
    fault in judging it is the run's failure, never the caller's."""
    try:
        return verdict(checks, run, parse_report(run.results, nonce, len(checks)), limits, memory_hit)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: the child chose these bytes
        return ExecutionResult(
            status="crashed",
            tests_passed=0,
            tests_total=len(checks),
            duration_s=round(run.duration_s, 4),
            error=f"the run's reports could not be judged: {type(exc).__name__}",
            stdout=run.stdout.decode("utf-8", "replace"),
            stderr=run.stderr.decode("utf-8", "replace"),
        )


def _filter_pipe(program: bytes, owned: list[int]) -> int:
    """A pipe holding the syscall filter, for `bwrap --seccomp` (a pipe per run: bwrap reads it to the end)."""
    read_end, write_end = os.pipe()
    owned.append(read_end)
    try:
        os.write(write_end, program)  # a few hundred bytes: far below the pipe's buffer
    finally:
        os.close(write_end)
    return read_end


def _job(
    uid: int | None,
    workdir: str,
    limits: SandboxLimits,
    solution: str,
    checks: list[Check],
    isolation: Isolation,
    cgroup_fds: list[int],
) -> bytes:
    harden = isolation.filesystem != "private"  # bubblewrap sets no-new-privs and the filter itself
    # Sharing the caller's uid, NPROC counts the caller's own threads too: allow those plus the limit.
    nproc = limits.processes if isolation.per_run_uid else own_task_count() + limits.processes
    return marshal.dumps(
        {
            "uid": uid,
            "gid": uid,
            "workdir": workdir,
            "limits": {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "file_mb": limits.file_mb, "nproc": nproc},
            "cgroup_fds": cgroup_fds,
            "harden": harden,
            "seccomp": isolation.seccomp if harden else None,
            "report_cap": RESULTS_CAP,
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
