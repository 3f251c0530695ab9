"""Code tasks: the stored proofs (sandbox runs that passed) and the code method's figures."""

from __future__ import annotations

import msgspec

from domain.records import CodeExample, StoredCodeExample
from store.database import Store
from store.datasets import require_dataset
from store.quality import tenths

# Rejection reasons of candidates that reached the sandbox and did not pass.
EXECUTION_FAILURES = ("tests_failed", "tests_timeout", "tests_crashed")


class CodeStats(msgspec.Struct, frozen=True, kw_only=True):
    verified_tasks: int  # code tasks stored with a passing sandbox run
    executed: int  # candidates run in the sandbox (passed + failed + timed out + crashed)
    passed: int  # candidates whose tests passed (some may then be surplus to a job's target)
    pass_rate: float | None
    failures: dict[str, int]  # tests_failed / tests_timeout / tests_crashed
    mean_duration_s: float | None
    # The strength of the stored proofs: tasks whose tests were mutation-scored, and their kill rates in
    # tenths ("0.8-0.9": n; 1.0 falls in "0.9-1.0").
    strength_measured: int = 0
    kill_rates: dict[str, int] = msgspec.field(default_factory=dict)
    mean_kill_rate: float | None = None


def code_examples(store: Store, dataset_id: str) -> list[StoredCodeExample]:
    """Every verified code task of a dataset, in arrival order, with its source (seed or generated)."""
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(
            """SELECT t.instruction, c.entry_point, c.solution, c.tests, t.source FROM code_checks c
               JOIN tasks t ON t.id = c.task_id AND t.dataset_id = c.dataset_id
               WHERE c.dataset_id = ? AND c.status = 'passed' ORDER BY t.id""",
            [dataset_id],
        ).fetchall()
    return [
        StoredCodeExample(
            example=CodeExample(
                instruction=r[0], entry_point=r[1], solution=r[2], tests=tuple(msgspec.json.decode(r[3]))
            ),
            source=r[4],
        )
        for r in rows
    ]


def code_stats(store: Store, dataset_id: str) -> CodeStats:
    marks = ", ".join("?" for _ in EXECUTION_FAILURES)
    with store.read() as cur:
        verified, mean_s = cur.execute(
            "SELECT count(*), avg(duration_s) FROM code_checks WHERE dataset_id = ? AND status = 'passed'", [dataset_id]
        ).fetchall()[0]
        failures = dict(
            cur.execute(
                f"SELECT reason, count(*) FROM rejections WHERE dataset_id = ? AND reason IN ({marks}) GROUP BY reason",
                [dataset_id, *EXECUTION_FAILURES],
            ).fetchall()
        )
        # A passing candidate beyond a job's target, or whose tests proved too little, is kept as a rejection
        # (`target_reached`, `weak_tests`) with its run.
        surplus = cur.execute(
            """SELECT count(*) FROM rejections WHERE dataset_id = ? AND reason IN ('target_reached', 'weak_tests')
               AND json_extract_string(detail, '$.code_status') = 'passed'""",
            [dataset_id],
        ).fetchall()[0][0]
        rates = [r[0] for r in cur.execute(
            "SELECT kill_rate FROM code_checks WHERE dataset_id = ? AND status = 'passed' AND kill_rate IS NOT NULL",
            [dataset_id],
        ).fetchall()]  # fmt: skip
    generated_passed = _generated_verified(store, dataset_id) + surplus
    executed = generated_passed + sum(failures.values())
    return CodeStats(
        verified_tasks=verified,
        executed=executed,
        passed=generated_passed,
        pass_rate=round(generated_passed / executed, 4) if executed else None,
        failures={reason: failures.get(reason, 0) for reason in EXECUTION_FAILURES},
        mean_duration_s=round(mean_s, 4) if mean_s is not None else None,
        strength_measured=len(rates),
        kill_rates=tenths(rates),
        mean_kill_rate=round(sum(rates) / len(rates), 4) if rates else None,
    )


def _generated_verified(store: Store, dataset_id: str) -> int:
    with store.read() as cur:
        return cur.execute(
            """SELECT count(*) FROM code_checks c JOIN tasks t ON t.id = c.task_id
               WHERE c.dataset_id = ? AND t.source = 'generated' AND c.status = 'passed'""",
            [dataset_id],
        ).fetchall()[0][0]
