"""Job webhooks: the outbox of status changes to deliver, and every delivery attempt with its outcome.

A status change and its outbox row are written in one transaction (`queue_webhook`, called by `store.jobs`),
so a change is never lost: an event still pending when the process stops is delivered after the next start
(at least once; receivers tell repeats apart by the event id). `service.webhooks` does the delivering.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import duckdb
import msgspec

from store.database import Store

WebhookEventKind = Literal["status", "end"]
EventState = Literal["pending", "delivered", "failed"]


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    job_id: str
    event: WebhookEventKind
    job_status: str  # the status the change led to
    job: str  # the job (`store.jobs.JobRecord` JSON) as the change left it: what the body shows
    state: EventState
    body: str | None  # the JSON sent, fixed at the first attempt so every retry sends the same signed bytes
    attempts: int


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    event_id: int
    event: WebhookEventKind
    attempt: int
    status_code: int | None  # None: no answer (connection refused, timeout): see `error`
    error: str | None
    duration_s: float
    attempted_at: datetime


def queue_webhook(
    cur: duckdb.DuckDBPyConnection, job_id: str, event: WebhookEventKind, job_status: str, job: str
) -> None:
    """Inside the transaction that changed the job's status: the outbox row of the change."""
    cur.execute(
        "INSERT INTO webhook_events (job_id, event, job_status, job) VALUES (?, ?, ?, ?)",
        [job_id, event, job_status, job],
    )


def pending_webhooks(store: Store) -> list[WebhookEvent]:
    """Events not yet delivered nor given up, oldest first (a job's events in the order they happened)."""
    with store.read() as cur:
        rows = cur.execute(
            """SELECT id, job_id, event, job_status, job, state, body, attempts FROM webhook_events
               WHERE state = 'pending' ORDER BY id"""
        ).fetchall()
    return [WebhookEvent(**dict(zip(WebhookEvent.__struct_fields__, row, strict=True))) for row in rows]


def fix_webhook_body(store: Store, event_id: int, body: str) -> str:
    """Keep the body the event's first attempt sends; a body kept before (an earlier process) wins."""
    with store.write() as cur:
        cur.execute("UPDATE webhook_events SET body = coalesce(body, ?) WHERE id = ?", [body, event_id])
        return cur.execute("SELECT body FROM webhook_events WHERE id = ?", [event_id]).fetchall()[0][0]


def record_attempt(
    store: Store,
    event: WebhookEvent,
    attempt: int,
    *,
    status_code: int | None,
    error: str | None,
    duration_s: float,
    state: EventState,
) -> None:
    """One attempt and the event's state after it (pending while tries are left), in one transaction."""
    with store.write() as cur:
        cur.execute(
            """INSERT INTO webhook_deliveries (event_id, job_id, event, attempt, status_code, error, duration_s)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [event.id, event.job_id, event.event, attempt, status_code, error, duration_s],
        )
        cur.execute(
            """UPDATE webhook_events SET attempts = ?, state = ?,
                   finished_at = CASE WHEN ? = 'pending' THEN NULL ELSE current_timestamp END
               WHERE id = ?""",
            [attempt, state, state, event.id],
        )


def give_up(store: Store, event_id: int) -> None:
    """An event whose tries were all spent before a restart: failed, with no further attempt."""
    with store.write() as cur:
        cur.execute(
            "UPDATE webhook_events SET state = 'failed', finished_at = current_timestamp WHERE id = ?", [event_id]
        )


def job_deliveries(store: Store, job_id: str) -> list[WebhookDelivery]:
    with store.read() as cur:
        rows = cur.execute(
            """SELECT event_id, event, attempt, status_code, error, duration_s, attempted_at
               FROM webhook_deliveries WHERE job_id = ? ORDER BY event_id, attempt""",
            [job_id],
        ).fetchall()
    return [WebhookDelivery(**dict(zip(WebhookDelivery.__struct_fields__, row, strict=True))) for row in rows]
