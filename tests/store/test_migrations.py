from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from domain.job_spec import CodeConfig, JobSpec
from store import Store
from store.jobs import get_job
from store.migrations import MIGRATIONS, Migration, applied_versions, apply_migrations


def test_fresh_database_records_every_migration_in_order(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a.duckdb")
    with store.read() as cur:
        assert applied_versions(cur) == [(m.version, m.name) for m in MIGRATIONS]
        tables = {row[0] for row in cur.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    store.close()
    assert {"datasets", "tasks", "instances", "jobs", "rejections", "schema_migrations"} <= tables


def test_reopening_applies_nothing_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    store = Store.open(path)
    with store.write() as cur:
        cur.execute("INSERT INTO datasets (id, name) VALUES ('ds_1', 'kept')")
    store.close()
    con = duckdb.connect(str(path))
    assert apply_migrations(con) == []
    assert con.execute("SELECT name FROM datasets").fetchall() == [("kept",)]
    con.close()


def test_pending_migrations_apply_in_version_order(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    shipped = [m.version for m in MIGRATIONS]
    top = max(shipped)
    extra = (
        Migration(top + 2, "third", ("ALTER TABLE probe ADD COLUMN b INTEGER",)),
        Migration(top + 1, "second", ("CREATE TABLE probe (a INTEGER)",)),
    )
    assert apply_migrations(con, MIGRATIONS + extra) == [*sorted(shipped), top + 1, top + 2]
    assert [v for v, _ in applied_versions(con)] == [*sorted(shipped), top + 1, top + 2]
    con.close()


def test_a_failing_migration_leaves_no_trace(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    apply_migrations(con)
    shipped = sorted(m.version for m in MIGRATIONS)
    broken = Migration(shipped[-1] + 1, "broken", ("CREATE TABLE half (a INTEGER)", "THIS IS NOT SQL"))
    try:
        apply_migrations(con, MIGRATIONS + (broken,))
    except duckdb.Error:
        pass
    else:
        raise AssertionError("the broken migration should have raised")
    assert [v for v, _ in applied_versions(con)] == shipped
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half'").fetchall() == [(0,)]
    con.close()


def test_jobs_stored_before_whole_specs_read_back_as_their_spec(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, tuple(m for m in MIGRATIONS if m.version < 5))
    con.execute("INSERT INTO datasets (id, name) VALUES ('ds_1', 'old')")
    con.execute(
        """INSERT INTO jobs (id, dataset_id, method, status, params)
           VALUES ('job_1', 'ds_1', 'code', 'succeeded', '{"target": 4, "seed": 7, "code": {"min_tests": 1}}')"""
    )
    con.close()
    store = Store.open(path)
    job = get_job(store, "job_1")
    store.close()
    assert job.spec == JobSpec(dataset_id="ds_1", method="code", target=4, seed=7, code=CodeConfig(min_tests=1))


def test_tasks_stored_before_imports_keep_every_column_and_their_unique_key(tmp_path: Path) -> None:
    """Migration 10 rebuilds `tasks` (any source name): rows written before it read back the same."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, tuple(m for m in MIGRATIONS if m.version < 10))
    con.execute("INSERT INTO datasets (id, name) VALUES ('ds_1', 'old')")
    con.execute("""INSERT INTO tasks (id, dataset_id, instruction, fingerprint, is_classification, category, source,
                   job_id, provenance, instruction_chars, text_chars, category_confidence)
                   VALUES (7, 'ds_1', 'Name a color.', 42, false, 'open_qa', 'generated', 'job_x', '{"a": 1}', 13, 20,
                           0.75)""")
    before = con.execute("SELECT * FROM tasks").fetchall()
    con.close()
    store = Store.open(path)
    with store.read() as cur:
        assert cur.execute("SELECT * EXCLUDE (import_id, instruction_words) FROM tasks").fetchall() == before
        assert cur.execute("SELECT import_id FROM tasks").fetchall() == [(None,)]
    with store.write() as cur:
        cur.execute("""INSERT INTO tasks (id, dataset_id, instruction, fingerprint, is_classification, category, source,
                       provenance, instruction_chars, text_chars) VALUES (8, 'ds_1', 'x', 43, false, 'c', 'alpaca',
                       '{}', 1, 1)""")  # an import's source name: allowed now
    try:
        with pytest.raises(duckdb.ConstraintException), store.write() as cur:  # the unique key survived the rebuild
            cur.execute("""INSERT INTO tasks (id, dataset_id, instruction, fingerprint, is_classification, category,
                           source, provenance, instruction_chars, text_chars) VALUES (9, 'ds_1', 'y', 42, false, 'c',
                           'seed', '{}', 1, 1)""")  # the same fingerprint in the same dataset
    finally:
        store.close()
