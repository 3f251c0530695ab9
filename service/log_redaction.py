"""Credentials out of log lines: every record's message and traceback with URLs redacted (`domain.redaction`).

Installed by `instructforge serve` for the whole process, so it covers what any library logs (httpx errors
name the URL they failed on, tracebacks repeat it), whichever handler and formatter print the record.
uvicorn's access log is left as it is: its formatter reads the record's arguments one by one, and a request
line holds only what the client sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.redaction import redact_text

_UNTOUCHED = ("uvicorn.access",)


def redacting_factory(base: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args, **kwargs) -> logging.LogRecord:
        record = base(*args, **kwargs)
        if record.name in _UNTOUCHED:
            return record
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the formatter's to report, unredacted of nothing
            return record
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse `exc_text` when it is set: the traceback is printed as redacted here.
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return record

    return make


def install_redaction() -> Callable[..., logging.LogRecord]:
    """Redact every log record made from now on in this process; returns the factory it replaced."""
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(redacting_factory(previous))
    return previous
