"""The sandbox's pure core: test items -> checks, the report channel, the verdict. No processes."""

from __future__ import annotations

import signal

import pytest

from generators.sandbox import SandboxLimits
from generators.sandbox import sandbox as sandbox_module
from generators.sandbox.checks import Check, InvalidTestError, decode_value, judge_value, parse_check, show_value
from generators.sandbox.protocol import parse_report
from generators.sandbox.runner import RawRun
from generators.sandbox.sandbox import judge
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
        ([f"{NONCE} R - -", f"{NONCE} T - -"], "the solution wrote a supervisor's report, or a report without end"),
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


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (10**5000, "<an int of about 5001 digits>"),
        ([1, -(10**5000)], "[1, <a negative int of about 5001 digits>]"),
        ("x" * 50_000_000, "'" + "x" * 37 + "..." + "x" * 38 + "'"),
        (b"y" * 10_000_000, "b'" + "y" * 80 + "'..."),
        ([[[[[[1]]]]]], "[[[[[...]]]]]"),
        ({3, 1, 2}, "{1, 2, 3}"),
        (float("nan"), "nan"),
        (list(range(100)), "[0, 1, 2, 3, 4, 5, ...]"),
    ],
    ids=["10**5000", "a list of -10**5000", "50 MB str", "10 MB bytes", "deep list", "set", "nan", "long list"],
)
def test_values_are_shown_short_whatever_their_size(value: object, shown: str) -> None:
    assert show_value(value) == shown
    assert judge_value(parse_check("assert f() == 1"), value) == f"assert f() == 1: got {shown}"


# What a solution that writes its own reports could put on the channel: the parent must judge any of it.
HOSTILE_PAYLOADS = {
    "a 5,000-digit decimal int": ("1" * 5000, "failed", "assert f() == 1: got an unreadable value"),
    "a 100,000-digit hex int": ("0x" + "f" * 100_000, "failed", "assert f() == 1: got <an int of about 120413 digits>"),
    "10,000 nested brackets": ("[" * 10_000 + "]" * 10_000, "failed", "assert f() == 1: got an unreadable value"),
    "a set with a list in it": ("{[1], 2}", "failed", "assert f() == 1: got an unreadable value"),
    "code": ("__import__('os').system('true')", "failed", "assert f() == 1: got an unreadable value"),
    "infinities": ("1e999-1e999j", "failed", "assert f() == 1: got (inf-infj)"),
    "a 15 MB string": ("'" + "x" * (15 << 20) + "'", "failed", "assert f() == 1: got '" + "x" * 37 + "..."),
    "bytes that are not UTF-8": ("b'\\xff' \udcff", "failed", "assert f() == 1: got an unreadable value"),
}


@pytest.mark.parametrize("name", list(HOSTILE_PAYLOADS))
def test_any_report_a_child_writes_is_judged_without_raising(name: str) -> None:
    payload, status, error = HOSTILE_PAYLOADS[name]
    lines = [f"{NONCE} R - -", f"{NONCE} V 0 {payload}", f"{NONCE} D - 1", f"{NONCE} X - 0 0.01"]
    data = "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape")
    result = judge([parse_check("assert f() == 1")], raw(data), NONCE, SandboxLimits(), False)
    assert (result.status, result.error[: len(error)]) == (status, error)
    assert len(result.error) <= 300


def test_a_fault_in_judging_is_the_runs_failure_not_the_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("a bug in judging")

    monkeypatch.setattr(sandbox_module, "verdict", broken)
    result = judge([parse_check("assert f() == 1")], raw(b""), NONCE, SandboxLimits(), False)
    assert (result.status, result.error) == ("crashed", "the run's reports could not be judged: RuntimeError")


def test_a_run_killed_at_its_groups_memory_limit_says_so() -> None:
    data = report_bytes(f"{NONCE} R - -", f"{NONCE} X - {-signal.SIGKILL} 0.3")
    checks = [parse_check("assert f() == 1")]
    result = verdict(checks, raw(data), parse_report(data, NONCE, 1), SandboxLimits(memory_mb=256), memory_hit=True)
    assert (result.status, result.error) == ("crashed", "the run reached its memory limit of 256 MB and was killed")
