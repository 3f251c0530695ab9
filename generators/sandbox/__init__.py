"""Runs untrusted, model-written Python (a solution and its assert tests) in an isolated child process.

    from generators.sandbox import Sandbox, SandboxLimits, run_tests

    run_tests("def fib(n): ...", ["assert fib(10) == 55"])            # one blocking run
    sandbox = Sandbox(SandboxLimits(wall_s=2.0), max_parallel=2)
    await sandbox.run(solution, tests)                                   # from the event loop
    sandbox.run_many([(solution, tests), ...])                           # blocking, parallel, in order

Modules: `limits` (the Structs), `checks` (test items -> checks the parent judges), `harness` (the child),
`protocol` (its report channel), `runner` (one watched child process), `isolation` (the probe, per-run
uids, clean-up), `view` (what a run sees under bubblewrap), `seccomp` (the syscall filter), `cgroups` (a
control group per run), `verdict` (status and error), `sandbox` (the entry points).
"""

from generators.sandbox.isolation import Isolation, SandboxBusyError, probe_isolation
from generators.sandbox.limits import ExecutionResult, ExecutionStatus, SandboxLimits
from generators.sandbox.sandbox import Sandbox, isolation_report, run_isolated, run_tests

__all__ = [
    "ExecutionResult",
    "ExecutionStatus",
    "Isolation",
    "Sandbox",
    "SandboxBusyError",
    "SandboxLimits",
    "isolation_report",
    "probe_isolation",
    "run_isolated",
    "run_tests",
]
