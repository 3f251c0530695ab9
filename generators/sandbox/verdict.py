"""The parent's verdict on a run, from what it saw itself and what the report channel said (pure).

passed   every check reported, each judged a pass here, the worker ended normally after its last report
failed   a check's value was wrong, it raised, or it was not plain data; error holds the first such
timeout  the wall clock ran out, or the worker hit its CPU-time limit
crashed  the solution did not load, the worker died by a signal or exited before reporting every check,
         it ran out of memory (MemoryError, or the run's group at its limit), flooded its output, or the report
         channel was tampered with
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from generators.sandbox.checks import Check, decode_value, judge_value, shorten
from generators.sandbox.limits import OUTPUT_FLOOD_FACTOR, ExecutionResult, ExecutionStatus, SandboxLimits
from generators.sandbox.protocol import ChildResult, Report, decode_text
from generators.sandbox.runner import RESULTS_CAP, STARTUP_LIMIT_S, RawRun


def verdict(
    checks: Sequence[Check], run: RawRun, report: Report, limits: SandboxLimits, memory_hit: bool = False
) -> ExecutionResult:
    """`memory_hit`: the kernel killed a process of the run's control group at its memory limit."""
    status, error = _status(checks, run, report, limits, memory_hit)
    passed = 0 if report.violation else sum(_judge(c, r) is None for c, r in zip(checks, report.results, strict=False))
    return ExecutionResult(
        status=status,
        tests_passed=passed,
        tests_total=len(checks),
        duration_s=round(run.duration_s, 4),
        error=error,
        stdout=run.stdout.decode("utf-8", "replace"),
        stderr=run.stderr.decode("utf-8", "replace"),
    )


def _status(
    checks: Sequence[Check], run: RawRun, report: Report, limits: SandboxLimits, memory_hit: bool
) -> tuple[ExecutionStatus, str | None]:
    if run.timed_out and not run.started:
        return "crashed", f"the sandbox did not start within {STARTUP_LIMIT_S:g} s"
    if run.timed_out:
        return "timeout", f"timed out after {limits.wall_s:g} s"
    if _cpu_exhausted(report, limits):
        return "timeout", f"CPU time limit of {limits.cpu_s} s exceeded"
    if run.flooded is not None:
        return "crashed", f"killed for writing more than {_flood_text(run, limits)} to {run.flooded}"
    if report.violation is not None:
        return "crashed", f"harness tampering detected: {report.violation}"
    if not report.started:
        return "crashed", f"the sandbox did not start: {shorten(run.stderr.decode('utf-8', 'replace').strip())}"
    if report.setup_error is not None or report.load_error is not None:
        return "crashed", report.setup_error or report.load_error
    for check, result in zip(checks, report.results, strict=False):
        failure = _judge(check, result)
        if failure is not None:
            return ("crashed" if result.tag == "M" else "failed"), failure
    if len(report.results) < len(checks) or not report.done or report.exit_code != 0:
        if memory_hit:
            return "crashed", f"the run reached its memory limit of {limits.memory_mb} MB and was killed"
        return "crashed", _early_end(run, report, len(checks))
    return "passed", None


def _judge(check: Check, result: ChildResult) -> str | None:
    """None for a pass, else the failure message; a report of the wrong kind for the check never passes."""
    if result.tag == "P" and check.kind == "statements":
        return None
    if result.tag == "V" and check.kind != "statements":
        ok, value = decode_value(result.payload)
        return judge_value(check, value) if ok else f"{shorten(check.source)}: got an unreadable value"
    text = decode_text(result.payload) if result.tag in "NEM" else None
    if result.tag == "N":
        return f"{shorten(check.source)}: got {text}"
    if result.tag in "EM":
        return f"{shorten(check.source)}: {text}"
    return f"{shorten(check.source)}: the report does not fit the check"


def _cpu_exhausted(report: Report, limits: SandboxLimits) -> bool:
    if report.violation is not None or report.exit_code is None:
        return False
    if report.exit_code == -signal.SIGXCPU:
        return True
    return report.exit_code == -signal.SIGKILL and (report.cpu_s or 0.0) >= limits.cpu_s


def _early_end(run: RawRun, report: Report, total: int) -> str:
    code = report.exit_code if report.exit_code is not None else run.exit_code
    if code is None:
        how = "ended"
    elif code < 0:
        how = f"was killed by {_signal_name(-code)}"
    else:
        how = f"exited with code {code}"
    if len(report.results) < total:
        return f"the solution {how} before reporting test {len(report.results) + 1} of {total}"
    return f"the solution {how} after its last test, without the harness's end report"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _flood_text(run: RawRun, limits: SandboxLimits) -> str:
    cap = RESULTS_CAP if run.flooded == "results" else (limits.output_kb << 10) * OUTPUT_FLOOD_FACTOR
    return f"{cap >> 10} KB"
