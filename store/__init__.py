"""DuckDB storage: the one owner of the database file and of all SQL.

Top level: `database` (Store: one connection, a read cursor per thread, one writer), `migrations`,
`records` (what reads answer with), `datasets`, `tasks` (batch ingest with exact dedup, paged reads),
`jobs` (job state, committed a round at a time), `code_checks` (sandbox proofs), `stats`, `export`,
`quality` (judgements), `imports` (import records, staging and the one-transaction move), `sources` (per
source: counts, licences), `annotations` (what an annotate job answers and the answers it replaced),
`composition` (the dashboard's histograms and verb sunburst), `metrics` (the figures
/metrics reads), `webhooks` (the delivery outbox and its attempts).
Sub-packages: `ingest/` (seed upload formats and the upload use case; imports: `readers` streams rows of JSON
Lines / JSON arrays / Parquet, `layouts` + `chats` + `detection` turn a row of a known layout into a task,
`imports.import_file` is the import use case), `dedup/` (near-duplicate index: MinHash
LSH + exact ROUGE-L, the optional semantic tier, and loading a dataset's screen), `balance/` (the balance
report and its verb parser), `contamination/` (benchmark registry and n-gram decontamination), `snapshots/`
(immutable split exports with manifest and data card). Imports `domain` only; never `generators` or `service`.
"""

from store.database import Store

__all__ = ["Store"]
