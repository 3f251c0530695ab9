"""The figures `/metrics` reads at each scrape: one aggregate query over jobs, tasks, rejections, judgements, proofs.

Everything here is a count or a sum the store already holds, so a restarted service reports the same totals
(Prometheus' counters from the database, not from process memory). The query is one pass per table, grouped
by a few low-cardinality columns (status, source, stage and reason, outcome); on 100k rejections and 100k
tasks a scrape measured a few milliseconds (see the service's metrics test and README).
"""

from __future__ import annotations

import os

import msgspec

from store.code_checks import EXECUTION_FAILURES
from store.database import Store

# (figure, label, second label, value); every value a DOUBLE so the branches unite.
_FIGURES = f"""
    SELECT 'jobs', status, '', count(*)::DOUBLE FROM jobs GROUP BY status
    UNION ALL
    SELECT 'tokens', '', '', coalesce(sum(try_cast(progress->>'$.tokens' AS BIGINT)), 0)::DOUBLE FROM jobs
    UNION ALL
    SELECT 'running_tokens_per_s', '', '', coalesce(sum(try_cast(progress->>'$.tokens_per_s' AS DOUBLE)), 0)
    FROM jobs WHERE status = 'running'
    UNION ALL
    SELECT 'tasks', source, '', count(*)::DOUBLE FROM tasks GROUP BY source
    UNION ALL
    SELECT 'rejections', stage, reason, count(*)::DOUBLE FROM rejections GROUP BY stage, reason
    UNION ALL
    SELECT 'judgements', outcome, '', count(*)::DOUBLE FROM judgements GROUP BY outcome
    UNION ALL
    SELECT 'sandbox', status, '', count(*)::DOUBLE FROM code_checks GROUP BY status
    UNION ALL
    -- a candidate that passed but was kept as a rejection (beyond a job's target, tests too weak) ran too
    SELECT 'sandbox', 'passed', '', count(*)::DOUBLE FROM rejections
    WHERE reason IN ('target_reached', 'weak_tests') AND detail->>'$.code_status' = 'passed'
    UNION ALL
    SELECT 'sandbox', reason, '', count(*)::DOUBLE FROM rejections
    WHERE reason IN ({", ".join(f"'{reason}'" for reason in EXECUTION_FAILURES)}) GROUP BY reason
"""


class StoreFigures(msgspec.Struct, frozen=True, kw_only=True):
    jobs: dict[str, int]  # status -> jobs
    tokens: int  # tokens generated, summed over every job's progress
    running_tokens_per_s: float  # the running jobs' rates, summed
    tasks: dict[str, int]  # source (seed, generated, an import's) -> tasks; generated: the accepted candidates
    rejections: dict[tuple[str, str], int]  # (stage, reason) -> rejected candidates
    judgements: dict[str, int]  # outcome (scored, unreadable, engine_error) -> judgements
    sandbox: dict[str, int]  # verdict (passed, tests_failed, tests_timeout, tests_crashed) -> sandbox runs
    database_bytes: int  # the database file and its write-ahead log


def store_figures(store: Store) -> StoreFigures:
    with store.read() as cur:
        rows = cur.execute(_FIGURES).fetchall()
    grouped: dict[str, dict] = {"jobs": {}, "tasks": {}, "rejections": {}, "judgements": {}, "sandbox": {}}
    scalars: dict[str, float] = {}
    for figure, label, second, value in rows:
        if figure in grouped:
            key = (label, second) if figure == "rejections" else label
            grouped[figure][key] = grouped[figure].get(key, 0) + int(value)
        else:
            scalars[figure] = value
    return StoreFigures(
        **grouped,
        tokens=int(scalars.get("tokens", 0)),
        running_tokens_per_s=float(scalars.get("running_tokens_per_s", 0.0)),
        database_bytes=database_bytes(store.path),
    )


def database_bytes(path: str) -> int:
    """The bytes the database holds on disk; 0 for an in-memory database."""
    if path == ":memory:":
        return 0
    return sum(os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p))
