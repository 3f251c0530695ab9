"""The report channel (fd 3 of the child), read back strictly (pure).

One line per report: `<nonce> <tag> <index> <payload>`, in this order and no other:

    R - -             the supervisor started (before any untrusted code)
    F - 'text'        the worker could not set up (limits, uid, work directory)
    C - 'text'        the solution did not load (syntax error, exception, SystemExit...)
    V i <literal>     check i evaluated to this plain-data value
    N i 'text'        check i evaluated to something that is not plain data
    E i 'text'        check i raised
    M i 'text'        check i ran out of memory
    P i -             check i (statements) ran without raising
    D - n             the worker reported all n checks
    X - code cpu      the supervisor: how the worker ended (exit code, negative for a signal; CPU seconds)
    T - -             the supervisor: the worker sent an R or X of its own, or a line without end

Only the supervisor writes this channel and only it knows the nonce; it relays each line the worker writes
to its pipe with the nonce in front. A line without the run's nonce, a report out of order, twice, of the
wrong kind for its check, or a T is tampering: the run is `crashed`, and nothing it reported counts.
"""

from __future__ import annotations

import ast

import msgspec

_CHECK_TAGS = frozenset("VNEMP")


class ChildResult(msgspec.Struct, frozen=True, kw_only=True):
    tag: str  # one of V N E M P
    payload: str


class Report(msgspec.Struct, kw_only=True):
    started: bool = False
    setup_error: str | None = None
    load_error: str | None = None
    results: list[ChildResult] = msgspec.field(default_factory=list)
    done: bool = False
    exit_code: int | None = None  # the worker's, from the supervisor
    cpu_s: float | None = None
    violation: str | None = None


def parse_report(data: bytes, nonce: str, checks: int) -> Report:
    report = Report()
    lines = data.split(b"\n")[:-1]  # an unfinished last line is a run cut short, not a report
    for line in lines:
        problem = _apply(report, line.decode("utf-8", "replace"), nonce, checks)
        if problem is not None:
            report.violation = problem
            break
    return report


def _apply(report: Report, line: str, nonce: str, checks: int) -> str | None:
    parts = line.split(" ", 3)
    if len(parts) != 4 or parts[0] != nonce:
        return "a report without the run's nonce"
    _, tag, index, payload = parts
    if report.exit_code is not None:
        return "a report after the worker ended"
    if tag == "R":
        if report.started or line != f"{nonce} R - -":
            return "a second start report"
        report.started = True
        return None
    if not report.started:
        return "a report before the start"
    if tag == "X":
        return _apply_exit(report, payload)
    if tag == "T":
        return "the solution wrote a supervisor's report, or a report without end"
    if report.done or report.setup_error is not None or report.load_error is not None:
        return "a report after the worker's last"
    if tag in ("F", "C"):
        return _apply_error(report, tag, index, payload)
    if tag in _CHECK_TAGS:
        return _apply_check(report, tag, index, payload, checks)
    if tag == "D":
        return None if _set_done(report, payload, checks) else "an early or miscounted end report"
    return f"an unknown report {tag!r}"


def _apply_exit(report: Report, payload: str) -> str | None:
    code, _, cpu = payload.partition(" ")
    try:
        report.exit_code, report.cpu_s = int(code), float(cpu)
    except ValueError:
        return "a malformed exit report"
    return None


def _apply_error(report: Report, tag: str, index: str, payload: str) -> str | None:
    text = decode_text(payload)
    if index != "-" or text is None or report.results:
        return "a malformed error report"
    if tag == "F":
        report.setup_error = text
    else:
        report.load_error = text
    return None


def _apply_check(report: Report, tag: str, index: str, payload: str, checks: int) -> str | None:
    if index != str(len(report.results)) or len(report.results) >= checks:
        return f"a report for check {index} out of order"
    if tag in "NEM" and decode_text(payload) is None:
        return "a malformed check report"
    report.results.append(ChildResult(tag=tag, payload=payload))
    return None


def _set_done(report: Report, payload: str, checks: int) -> bool:
    if payload != str(checks) or len(report.results) != checks:
        return False
    report.done = True
    return True


def decode_text(payload: str) -> str | None:
    """A text the harness wrote as repr(str)."""
    try:
        value = ast.literal_eval(payload)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if type(value) is str else None
