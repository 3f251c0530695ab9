"""A job's changes as server-sent events (`GET /v1/jobs/{id}/events`), read by polling the store.

Events, each with an `id:` increasing from 1 within the stream and `data:` the job as `GET /v1/jobs/{id}`
answers it (`JobOut`):
- `status`: the first event (the job as it is now), then each change of status;
- `progress`: the job's progress, accepted count or rejections changed, its status not;
- `end`: the job finished (succeeded, failed or cancelled); sent once, then the stream closes.
A finished job's stream is one `end`. A `: keep-alive` comment goes out after `KEEPALIVE_S` without an
event, so proxies and clients keep an idle stream open.

Polling the store (a cheap read, on a worker thread) keeps the worker free of any notion of listeners;
when the client goes away, Litestar cancels the stream and the polling stops with it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal

import anyio
import msgspec
from litestar.response import ServerSentEventMessage

from service.schemas import JobOut
from store.jobs import FINISHED

EventKind = Literal["status", "progress", "end"]
POLL_S = 0.5
KEEPALIVE_S = 15.0


def event_kind(before: JobOut | None, now: JobOut) -> EventKind | None:
    """Which event `now` is after `before` (None: the first read), or None when nothing changed."""
    if now.status in FINISHED:
        return "end"
    if before is None or now.status != before.status:
        return "status"
    if (now.accepted, now.progress, now.rejections_by_reason) != (
        before.accepted, before.progress, before.rejections_by_reason,
    ):  # fmt: skip
        return "progress"
    return None


async def job_events(
    read: Callable[[], JobOut], *, poll_s: float = POLL_S, keepalive_s: float = KEEPALIVE_S
) -> AsyncIterator[ServerSentEventMessage]:
    """The events of one job; `read` answers the job as it is now (it runs on a worker thread)."""
    numbers = itertools.count(1)
    before: JobOut | None = None
    quiet_since = time.monotonic()
    while True:
        now = await anyio.to_thread.run_sync(read)
        kind = event_kind(before, now)
        if kind is not None:
            yield ServerSentEventMessage(event=kind, data=msgspec.json.encode(now).decode(), id=next(numbers))
            if kind == "end":
                return
            before, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= keepalive_s:
            yield ServerSentEventMessage(comment="keep-alive", data=None)
            quiet_since = time.monotonic()
        await anyio.sleep(poll_s)
