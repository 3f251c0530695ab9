"""The sandbox's pure core: test items -> checks, the report channel, the verdict. No processes."""

from __future__ import annotations

import signal

import pytest

from generators.sandbox import SandboxLimits
from generators.sandbox.checks import Check, InvalidTestError, decode_value, judge_value, parse_check
from generators.sandbox.protocol import parse_report
from generators.sandbox.runner import RawRun
from generators.sandbox.verdict import verdict

NONCE = "f00d"


@pytest.mark.parametrize(
    ("source", "kind", "code", "expected"),
    [
        ("assert fib(10) == 55", "value", "(fib(10))", 55),
        ("assert [1, -2] == sort(x)", "value", "(sort(x))", [1, -2]),
        ("assert f() == {'a': (1,)}, 'message'", "value", "(f())", {"a": (1,)}),
        ("assert f() is None", "exact", "(f())", None),
        ("assert f() is False", "exact", "(f())", False),
        ("assert f() is 0", "exact", "(f() is 0)", True),
        ("assert is_prime(7)", "exact", "(is_prime(7))", True),
        ("assert f(x) == g(x)", "exact", "(f(x) == g(x))", True),
        ("assert 1 < f() == 2", "exact", "(1 < f() == 2)", True),
    ],
)
def test_asserts_become_checks_whose_expected_value_stays_in_the_parent(
    source: str, kind: str, code: str, expected: object
) -> None:
    assert parse_check(source) == Check(source=source, kind=kind, code=code, expected=expected)


def test_anything_but_one_assert_runs_as_statements() -> None:
    for source in ("x = f()\nassert x == 1", "assert f(); assert g()", "f()"):
        assert parse_check(source) == Check(source=source, kind="statements", code=source)
    with pytest.raises(InvalidTestError):
        parse_check("assert f( == 1")


def test_values_are_read_back_as_plain_data_only() -> None:
    assert decode_value("{'a': [1, 2.5, None, (True,)], 'b': {1}, 'c': b'x', 'd': -1e999}") == (
        True,
        {"a": [1, 2.5, None, (True,)], "b": {1}, "c": b"x", "d": float("-inf")},
    )
    for hostile in ("__import__('os').system('true')", "f()", "[" * 500 + "]" * 500, "1 +", "x"):
        assert decode_value(hostile) == (False, None)


def test_judging_compares_equal_values_or_exact_constants() -> None:
    value = parse_check("assert f() == 1")
    assert judge_value(value, 1) is None and judge_value(value, 1.0) is None
    assert judge_value(value, 2) == "assert f() == 1: got 2"
    exact = parse_check("assert f()")
    assert judge_value(exact, True) is None
    assert judge_value(exact, 1) == "assert f(): got 1"


def report_bytes(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def test_a_well_formed_report_is_read_in_order() -> None:
    data = report_bytes(f"{NONCE} R - -", f"{NONCE} V 0 55", f"{NONCE} E 1 'ValueError: x'", f"{NONCE} D - 2")
    data += report_bytes(f"{NONCE} X - 0 0.012")
    report = parse_report(data, NONCE, 2)
    assert (report.started, report.done, report.exit_code, report.cpu_s, report.violation) == (
        True,
        True,
        0,
        0.012,
        None,
    )
    assert [(r.tag, r.payload) for r in report.results] == [("V", "55"), ("E", "'ValueError: x'")]


@pytest.mark.parametrize(
    ("lines", "violation"),
    [
        (["beef R - -"], "a report without the run's nonce"),
        ([f"{NONCE} V 0 55"], "a report before the start"),
        ([f"{NONCE} R - -", f"{NONCE} V 1 55"], "a report for check 1 out of order"),
        ([f"{NONCE} R - -", f"{NONCE} V 0 55", f"{NONCE} V 0 55"], "a report for check 0 out of order"),
        ([f"{NONCE} R - -", f"{NONCE} D - 1"], "an early or miscounted end report"),
        ([f"{NONCE} R - -", f"{NONCE} X - 0 0.1", f"{NONCE} V 0 55"], "a report after the worker ended"),
        ([f"{NONCE} R - -", f"{NONCE} Q - -"], "an unknown report 'Q'"),
        ([f"{NONCE} R - -", f"{NONCE} E 0 not-a-repr"], "a malformed check report"),
    ],
)
def test_tampered_reports_are_violations(lines: list[str], violation: str) -> None:
    assert parse_report(report_bytes(*lines), NONCE, 1).violation == violation


def raw(results: bytes, **fields: object) -> RawRun:
    defaults = {"stdout": b"", "stderr": b"", "started": True, "timed_out": False, "flooded": None, "exit_code": 0}
    return RawRun(results=results, duration_s=0.05, **{**defaults, **fields})


def judged(data: bytes, tests: list[str], **fields: object):
    checks = [parse_check(test) for test in tests]
    run = raw(data, **fields)
    return verdict(checks, run, parse_report(data, NONCE, len(checks)), SandboxLimits())


def test_verdicts_from_reports() -> None:
    start, end = f"{NONCE} R - -", f"{NONCE} X - 0 0.01"
    ok = judged(report_bytes(start, f"{NONCE} V 0 55", f"{NONCE} D - 1", end), ["assert fib(10) == 55"])
    assert (ok.status, ok.tests_passed, ok.error) == ("passed", 1, None)
    wrong = judged(report_bytes(start, f"{NONCE} V 0 54", f"{NONCE} D - 1", end), ["assert fib(10) == 55"])
    assert (wrong.status, wrong.error) == ("failed", "assert fib(10) == 55: got 54")
    kind = judged(report_bytes(start, f"{NONCE} P 0 -", f"{NONCE} D - 1", end), ["assert fib(10) == 55"])
    assert (kind.status, kind.tests_passed) == ("failed", 0)  # a statements report cannot pass a value check


def test_verdicts_from_how_the_run_ended() -> None:
    start = f"{NONCE} R - -"
    early = judged(report_bytes(start, f"{NONCE} X - 0 0.01"), ["assert f() == 1"])
    assert (early.status, early.error) == ("crashed", "the solution exited with code 0 before reporting test 1 of 1")
    segv = judged(report_bytes(start, f"{NONCE} X - {-signal.SIGSEGV} 0.01"), ["assert f() == 1"])
    assert segv.error == "the solution was killed by SIGSEGV before reporting test 1 of 1"
    cpu = judged(report_bytes(start, f"{NONCE} X - {-signal.SIGXCPU} 4.0"), ["assert f() == 1"])
    assert (cpu.status, cpu.error) == ("timeout", "CPU time limit of 4 s exceeded")
    wall = judged(report_bytes(start), ["assert f() == 1"], timed_out=True)
    assert (wall.status, wall.error) == ("timeout", "timed out after 5 s")
    stalled = judged(b"", ["assert f() == 1"], timed_out=True, started=False)
    assert (stalled.status, stalled.error) == ("crashed", "the sandbox did not start within 30 s")
    flood = judged(report_bytes(start), ["assert f() == 1"], flooded="stdout")
    assert (flood.status, flood.error) == ("crashed", "killed for writing more than 1024 KB to stdout")
    forged = judged(report_bytes(start, "0000 V 0 1"), ["assert f() == 1"])
    assert (forged.status, forged.tests_passed) == ("crashed", 0)
    assert forged.error == "harness tampering detected: a report without the run's nonce"
