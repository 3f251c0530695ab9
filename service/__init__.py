"""The InstructForge HTTP service (Litestar): wires the store and the generators together; nothing imports it.

`app` (create_app and its lifespan), `settings` (INSTRUCTFORGE_* environment), `controllers/` (thin handlers),
`schemas` (API bodies), `bodies` (strict request decoding, upload media types), `errors` (the error table and
shape), `engine_holder` (the engine's life: embedded vLLM child or remote servers), `methods` (a job's method
loaded with its pool), `worker` (runs jobs round by round, commits each), `defaults`, `paging`, `streaming`, `cli`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("instructforge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
