"""Logs that say which request and which job they are about: request ids, job ids, JSON lines.

A request's id comes from its `X-Request-ID` header (when it is a short token) or is made here; it is echoed
in the response's `X-Request-ID` and kept in a context variable for the request's task, so every record
logged while serving it (uvicorn's access line included) carries it. The worker binds a job's id the same
way while it runs the job. `ContextFilter` copies both onto each record; `JSONFormatter` writes one object
per line. With `INSTRUCTFORGE_LOG_FORMAT=json`, `instructforge serve` logs through them (`configure_logging`).

Records are redacted when they are made (`service.log_redaction`), before any filter or formatter sees them,
so the JSON message and traceback are the redacted ones.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import re
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.settings import ServerSettings

REQUEST_ID: ContextVar[str | None] = ContextVar("instructforge_request_id", default=None)
JOB_ID: ContextVar[str | None] = ContextVar("instructforge_job_id", default=None)
HEADER = b"x-request-id"
# A client's id is kept when it is a plain token; anything else (long, spaces, control bytes) is replaced.
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_json = msgspec.json.Encoder()
Job = TypeVar("Job")


def request_id_from(scope: Scope) -> str:
    offered = next((value for name, value in scope.get("headers", ()) if name == HEADER), b"")
    return offered.decode() if _CLIENT_ID.fullmatch(offered) else uuid.uuid4().hex


class RequestIds:
    """The outermost ASGI layer: binds the request id and echoes it on every response, errors and 404s too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def bind_job_id(run: Callable[[Any, Job], Awaitable[None]]) -> Callable[[Any, Job], Awaitable[None]]:
    """Decorates the worker's `run_job(self, job)`: what it logs (and what its rounds log) names the job."""

    @functools.wraps(run)
    async def bound(self: Any, job: Job) -> None:
        token = JOB_ID.set(job.id)  # type: ignore[attr-defined]
        try:
            await run(self, job)
        finally:
            JOB_ID.reset(token)

    return bound


class ContextFilter(logging.Filter):
    """Puts the current request and job ids on each record (None outside a request or a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.job_id = JOB_ID.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id, job_id, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "job_id": getattr(record, "job_id", None),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return _json.encode(line).decode()


def configure_logging(server: ServerSettings) -> dict[str, Any]:
    """The logging config `instructforge serve` hands uvicorn; for JSON, also applied at once.

    Applied before the app is built, so what building it logs or warns is JSON too (warnings go through
    logging); uvicorn applies it again at start, after Litestar has put its own handler on the root logger.
    Text: uvicorn's own config, as before.
    """
    if server.log_format != "json":
        from uvicorn.config import LOGGING_CONFIG

        return LOGGING_CONFIG
    config = json_log_config(server.log_level.upper())
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    return config


def json_log_config(level: str) -> dict[str, Any]:
    # Every logger (uvicorn's, Litestar's, ours, the libraries') propagates to the one JSON handler on root.
    propagating = ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar", "py.warnings")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"json": {"()": JSONFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["context"],
            },
        },
        "loggers": {name: {"handlers": [], "propagate": True} for name in propagating},
        "root": {"handlers": ["json"], "level": level},
    }
