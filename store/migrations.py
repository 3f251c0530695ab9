"""Ordered, named schema migrations. Append new ones; never edit one that has shipped."""

from __future__ import annotations

import duckdb
import msgspec

from store.words import words_sql


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    statements: tuple[str, ...]


_INITIAL_SCHEMA = (
    """
    CREATE TABLE datasets (
        id          VARCHAR PRIMARY KEY,
        name        VARCHAR NOT NULL UNIQUE,
        description VARCHAR NOT NULL DEFAULT '',
        created_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
    # Task ids are allocated by the store's single writer, increasing in arrival order, so keyset
    # paging and exports follow insertion order and DuckDB's zone maps prune id ranges.
    # Lengths are stored once at ingest so stats never re-scan the text; text_chars (the task's
    # instruction once per instance, plus every input and output) sizes export chunks.
    """
    CREATE TABLE tasks (
        id                BIGINT NOT NULL,
        dataset_id        VARCHAR NOT NULL,
        instruction       VARCHAR NOT NULL,
        fingerprint       BIGINT NOT NULL,
        is_classification BOOLEAN NOT NULL,
        category          VARCHAR NOT NULL,
        source            VARCHAR NOT NULL CHECK (source IN ('seed', 'generated')),
        job_id            VARCHAR,
        provenance        JSON NOT NULL,
        instruction_chars INTEGER NOT NULL,
        text_chars        BIGINT NOT NULL,
        created_at        TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        UNIQUE (dataset_id, fingerprint)
    )
    """,
    """
    CREATE TABLE instances (
        task_id      BIGINT NOT NULL,
        position     INTEGER NOT NULL,
        dataset_id   VARCHAR NOT NULL,
        input        VARCHAR NOT NULL,
        output       VARCHAR NOT NULL,
        input_chars  INTEGER NOT NULL,
        output_chars INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE jobs (
        id               VARCHAR PRIMARY KEY,
        dataset_id       VARCHAR NOT NULL,
        method           VARCHAR NOT NULL,
        status           VARCHAR NOT NULL
                         CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        params           JSON NOT NULL,
        progress         JSON NOT NULL DEFAULT '{}',
        cancel_requested BOOLEAN NOT NULL DEFAULT false,
        stop_reason      VARCHAR,
        error            VARCHAR,
        created_at       TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        started_at       TIMESTAMPTZ,
        finished_at      TIMESTAMPTZ,
        updated_at       TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
    "CREATE SEQUENCE rejection_ids START 1",
    """
    CREATE TABLE rejections (
        id          BIGINT NOT NULL DEFAULT nextval('rejection_ids'),
        dataset_id  VARCHAR NOT NULL,
        job_id      VARCHAR,
        stage       VARCHAR NOT NULL,
        reason      VARCHAR NOT NULL,
        instruction VARCHAR NOT NULL,
        detail      JSON NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
)

# Version 3: code tasks carry the proof that their answer works (the sandbox run that passed), and
# snapshots are recorded with their manifest; their files live under <data_dir>/snapshots/<id>/.
_CODE_AND_SNAPSHOTS = (
    """
    CREATE TABLE code_checks (
        task_id      BIGINT NOT NULL,
        dataset_id   VARCHAR NOT NULL,
        entry_point  VARCHAR NOT NULL,
        solution     VARCHAR NOT NULL,
        tests        JSON NOT NULL,
        status       VARCHAR NOT NULL,
        tests_passed INTEGER NOT NULL,
        tests_total  INTEGER NOT NULL,
        duration_s   DOUBLE NOT NULL,
        error        VARCHAR,
        checked_at   TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
    """
    CREATE TABLE snapshots (
        id         VARCHAR PRIMARY KEY,
        dataset_id VARCHAR NOT NULL,
        number     INTEGER NOT NULL,
        format     VARCHAR NOT NULL,
        path       VARCHAR NOT NULL,
        manifest   JSON NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        UNIQUE (dataset_id, number)
    )
    """,
)

# Version 4: reference benchmarks for decontamination (`store.contamination.benchmarks`, checked by
# `store.contamination.check`).
_BENCHMARKS = (
    "CREATE SEQUENCE benchmark_ids START 1",
    """
        CREATE TABLE benchmarks (
            id                  BIGINT PRIMARY KEY DEFAULT nextval('benchmark_ids'),
            name                VARCHAR NOT NULL UNIQUE,
            ngram               INTEGER NOT NULL,
            min_substring_chars INTEGER NOT NULL,
            hash_version        INTEGER NOT NULL,
            records             INTEGER NOT NULL,
            texts               BIGINT NOT NULL,
            ngrams              BIGINT NOT NULL,
            substring_texts     BIGINT NOT NULL,
            created_at          TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        )
        """,
    # Distinct word n-gram hashes of each benchmark.
    "CREATE TABLE benchmark_ngrams (benchmark_id BIGINT NOT NULL, hash BIGINT NOT NULL)",
    # Normalised texts long enough for the substring check, each with its rarest 4-word window.
    """
        CREATE TABLE benchmark_texts (
            benchmark_id BIGINT NOT NULL,
            text_id      INTEGER NOT NULL,
            text         VARCHAR NOT NULL,
            chars        INTEGER NOT NULL,
            anchor       BIGINT NOT NULL
        )
        """,
    # Every distinct 4-word window of those texts, and how many of the benchmark's texts hold it.
    "CREATE TABLE benchmark_grams (benchmark_id BIGINT NOT NULL, text_id INTEGER NOT NULL, hash BIGINT NOT NULL)",
)

# A job's params are its whole request (`domain.job_spec.JobSpec`), read back as that type: rows written
# before that held the request without its dataset and method, which live in their own columns.
_WHOLE_JOB_SPECS = (
    """UPDATE jobs SET params = json_merge_patch(params, json_object('dataset_id', dataset_id, 'method', method))
       WHERE json_extract(params, '$.dataset_id') IS NULL""",
)

# Quality signals. A task may be judged several times (another judge model, another rubric version): each
# judgement is its own row with the model and template that made it; the task's score is its latest scored
# one. Code proofs gain the mutation score of their tests; generated labels gain the labeller's confidence.
_QUALITY = (
    "CREATE SEQUENCE judgement_ids START 1",
    """
    CREATE TABLE judgements (
        id          BIGINT NOT NULL DEFAULT nextval('judgement_ids'),
        task_id     BIGINT NOT NULL,
        dataset_id  VARCHAR NOT NULL,
        job_id      VARCHAR,
        judge_model VARCHAR NOT NULL,
        template    VARCHAR NOT NULL,
        outcome     VARCHAR NOT NULL CHECK (outcome IN ('scored', 'unreadable', 'engine_error')),
        score       DOUBLE,
        criteria    JSON NOT NULL,
        method      VARCHAR,
        scale_mass  DOUBLE,
        raw         VARCHAR NOT NULL,
        error       VARCHAR,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
    "ALTER TABLE code_checks ADD COLUMN kill_rate DOUBLE",
    "ALTER TABLE code_checks ADD COLUMN strength JSON",
    "ALTER TABLE tasks ADD COLUMN category_confidence DOUBLE",
)

# Benchmark names follow `domain.names` now; one registered before under a name no URL can carry (`a/b`,
# U+202E) could be neither read nor deleted, while every snapshot was checked against it: it gets a valid one.
_VALID_BENCHMARK_NAMES = (
    """UPDATE benchmarks SET name = 'renamed-benchmark-' || CAST(id AS VARCHAR)
       WHERE NOT regexp_full_match(name, '[A-Za-z0-9][A-Za-z0-9._-]{0,99}')""",
)

# Idempotency keys of `POST /v1/jobs` (`store.jobs.create_job_once`): the primary key makes a key name one
# job, even for two requests that race; the request's hash tells a retry from a different request.
_IDEMPOTENCY_KEYS = (
    """
    CREATE TABLE job_idempotency_keys (
        key            VARCHAR PRIMARY KEY,
        job_id         VARCHAR NOT NULL,
        request_sha256 VARCHAR NOT NULL,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
)

# Job webhooks (`store.webhooks`, `service.webhooks`): an outbox written in the same transaction as the
# status change it reports, so no change is lost to a crash, and every delivery attempt with its outcome.
_WEBHOOKS = (
    "CREATE SEQUENCE webhook_event_ids START 1",
    """
    CREATE TABLE webhook_events (
        id          BIGINT NOT NULL DEFAULT nextval('webhook_event_ids'),
        job_id      VARCHAR NOT NULL,
        event       VARCHAR NOT NULL CHECK (event IN ('status', 'end')),
        job_status  VARCHAR NOT NULL,
        job         JSON NOT NULL,
        state       VARCHAR NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
        body        VARCHAR,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        finished_at TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE webhook_deliveries (
        event_id     BIGINT NOT NULL,
        job_id       VARCHAR NOT NULL,
        event        VARCHAR NOT NULL,
        attempt      INTEGER NOT NULL,
        status_code  INTEGER,
        error        VARCHAR,
        duration_s   DOUBLE NOT NULL,
        attempted_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
)

# Imports of open datasets (`store.ingest.imports`). A task's `source` becomes any source name ("seed",
# "generated", or an import's name: `domain.records.Source`) and points at its import; DuckDB cannot drop a CHECK,
# so the table is rebuilt (same columns, same order, same unique key). A chat is kept whole beside its first
# exchange; an import is staged (a file streams through, its rows land here chunk by chunk) and moves into
# `tasks` in one transaction, so it is all or nothing even for a 1 GB file; `annotations` keeps each answer an
# `annotate` job replaced, with what wrote the new one.
_IMPORTS = (
    """
    CREATE TABLE tasks_v10 (
        id                  BIGINT NOT NULL,
        dataset_id          VARCHAR NOT NULL,
        instruction         VARCHAR NOT NULL,
        fingerprint         BIGINT NOT NULL,
        is_classification   BOOLEAN NOT NULL,
        category            VARCHAR NOT NULL,
        source              VARCHAR NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
        job_id              VARCHAR,
        provenance          JSON NOT NULL,
        instruction_chars   INTEGER NOT NULL,
        text_chars          BIGINT NOT NULL,
        created_at          TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        category_confidence DOUBLE,
        import_id           VARCHAR,
        UNIQUE (dataset_id, fingerprint)
    )
    """,
    """INSERT INTO tasks_v10 SELECT id, dataset_id, instruction, fingerprint, is_classification, category, source,
           job_id, provenance, instruction_chars, text_chars, created_at, category_confidence, NULL FROM tasks""",
    "DROP TABLE tasks",
    "ALTER TABLE tasks_v10 RENAME TO tasks",
    """
    CREATE TABLE conversations (
        task_id    BIGINT NOT NULL,
        dataset_id VARCHAR NOT NULL,
        system     VARCHAR,
        turns      STRUCT(role VARCHAR, content VARCHAR)[] NOT NULL
    )
    """,
    """
    CREATE TABLE imports (
        id          VARCHAR PRIMARY KEY,
        dataset_id  VARCHAR NOT NULL,
        source      VARCHAR NOT NULL,
        license     VARCHAR NOT NULL,
        url         VARCHAR,
        layout      VARCHAR NOT NULL,
        file_format VARCHAR NOT NULL,
        options     JSON NOT NULL,
        status      VARCHAR NOT NULL CHECK (status IN ('staging', 'succeeded', 'failed')),
        progress    JSON NOT NULL DEFAULT '{}',
        rows        BIGINT NOT NULL DEFAULT 0,
        added       BIGINT NOT NULL DEFAULT 0,
        bytes       BIGINT NOT NULL DEFAULT 0,
        report      JSON,
        error       VARCHAR,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        finished_at TIMESTAMPTZ
    )
    """,
    # A staged row is either a task to add (reason NULL) or a rejection (its reason and detail) of the import.
    """
    CREATE TABLE import_staged_tasks (
        import_id         VARCHAR NOT NULL,
        position          BIGINT NOT NULL,
        instruction       VARCHAR NOT NULL,
        fingerprint       BIGINT NOT NULL,
        is_classification BOOLEAN NOT NULL,
        category          VARCHAR NOT NULL,
        provenance        JSON NOT NULL,
        text_chars        BIGINT NOT NULL,
        reason            VARCHAR,
        detail            JSON
    )
    """,
    """
    CREATE TABLE import_staged_instances (
        import_id VARCHAR NOT NULL, position BIGINT NOT NULL, n INTEGER NOT NULL, input VARCHAR NOT NULL,
        output VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE import_staged_conversations (
        import_id VARCHAR NOT NULL, position BIGINT NOT NULL, system VARCHAR,
        turns STRUCT(role VARCHAR, content VARCHAR)[] NOT NULL
    )
    """,
    """
    CREATE TABLE annotations (
        task_id    BIGINT NOT NULL,
        dataset_id VARCHAR NOT NULL,
        job_id     VARCHAR NOT NULL,
        model      VARCHAR NOT NULL,
        template   VARCHAR NOT NULL,
        reason     VARCHAR NOT NULL CHECK (reason IN ('no_answer', 'failed_checks')),
        previous   JSON NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
    """,
)

# A task's instruction length in words (`store.words`), stored once: the balance report's length bands read it
# instead of a regex over every instruction at every call. Nullable (DuckDB adds no NOT NULL column), filled by
# every path that inserts tasks; existing rows are counted here, ~12 s at 1M tasks on the 2-core machine.
_INSTRUCTION_WORDS = (
    "ALTER TABLE tasks ADD COLUMN instruction_words INTEGER",
    f"UPDATE tasks SET instruction_words = {words_sql('instruction')}",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial_schema", _INITIAL_SCHEMA),
    Migration(3, "code_checks_and_snapshots", _CODE_AND_SNAPSHOTS),
    Migration(4, "benchmarks", _BENCHMARKS),
    Migration(5, "whole_job_specs", _WHOLE_JOB_SPECS),
    Migration(6, "quality_signals", _QUALITY),
    Migration(7, "valid_benchmark_names", _VALID_BENCHMARK_NAMES),
    Migration(8, "idempotency_keys", _IDEMPOTENCY_KEYS),
    Migration(9, "webhooks", _WEBHOOKS),
    Migration(10, "imports", _IMPORTS),
    Migration(11, "instruction_words", _INSTRUCTION_WORDS),
)

_LEDGER = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       VARCHAR NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    )
"""


def apply_migrations(con: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the pending migrations in order, each in its own transaction; return their versions."""
    con.execute(_LEDGER)
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [migration.version, migration.name]
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied


def applied_versions(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    return [(v, n) for v, n in con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()]
