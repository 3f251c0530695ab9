"""What a sandboxed run may use, and what it produced: the public Structs of the sandbox."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ExecutionStatus = Literal["passed", "failed", "timeout", "crashed"]

# Output beyond `output_kb` is dropped; a run that keeps writing past this many times the cap is killed.
OUTPUT_FLOOD_FACTOR = 16


class SandboxLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Per-run limits. Each applies to one run, whatever else runs beside it. "The run's group" is its control
    group, where the machine gives one (`isolation_report().cgroups`); without it the per-process limits
    alone hold (see the README)."""

    wall_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0  # then the run's processes are all killed
    cpu_s: Annotated[int, msgspec.Meta(ge=1, le=600)] = 4  # RLIMIT_CPU of the worker process
    memory_mb: Annotated[int, msgspec.Meta(ge=64, le=65536)] = 512  # the run's group, and RLIMIT_AS of each process
    file_mb: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 16  # RLIMIT_FSIZE: the largest file it may write
    disk_mb: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 64  # the run's tmpfs (/tmp, /var/tmp, /dev/shm together)
    processes: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 32  # the run's group, and RLIMIT_NPROC of its own uid
    output_kb: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 64  # stdout and stderr are each kept up to this


class ExecutionResult(msgspec.Struct, frozen=True, kw_only=True):
    """The parent's verdict on one run; see `generators.sandbox` for what each status means."""

    status: ExecutionStatus
    tests_passed: int
    tests_total: int
    duration_s: float
    error: str | None  # the first failure, the exception, "timed out after 5.0 s", the signal...
    stdout: str  # at most output_kb of it
    stderr: str
