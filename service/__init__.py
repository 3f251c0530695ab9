"""The InstructForge HTTP service (Litestar): wires the store and the generators together; nothing imports it.

`app` (create_app and its lifespan), `settings` (INSTRUCTFORGE_* environment), `controllers/` (thin handlers),
`schemas` (API bodies), `bodies` (strict request decoding, upload media types), `errors` (the error table and
shape), `engine_holder` (the engine's life: embedded vLLM child or remote servers), `methods` (a job's method
loaded with its pool), `worker` (runs every job at once, round by round, commits each), `job_run` (when a job
starts another round: as the fleet takes its requests), `defaults`, `paging`, `streaming`, `cli`.
Platform edges: `metrics` (/metrics, per-app Prometheus registry), `logging_setup` (JSON logs, request and job
ids), `events` (a job's server-sent events), `webhooks` (per-job deliveries from the outbox), `compression`
(gzip middleware), `file_ranges` (304/206 on snapshot files), `openapi` and `schema_viewers` (the document and
its offline viewers), `dashboard/` (the page's static files), `client/` (the typed httpx client), `client_cli`
and `client_views` (the CLI commands on it and their rich views).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("instructforge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
