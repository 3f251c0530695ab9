"""Delivering job webhooks: each status change a job's webhook asked for, POSTed, signed, retried.

`store.jobs` writes an outbox row (`store.webhooks`) in the same transaction as each status change of a
job with a webhook: `status` when it starts running, `end` when it finishes. This task, started in the
app's lifespan, reads the outbox every `POLL_S` and POSTs each event:

- body: the job as `GET /v1/jobs/{id}` answers it, as the change left it (the outbox row keeps the job's
  state of that moment; its rejection counts are read at the first attempt), and every retry sends the same
  bytes;
- `X-InstructForge-Event: status|end`, `X-InstructForge-Delivery: <event id>` (the same on every retry),
  `X-InstructForge-Signature: sha256=<hex HMAC-SHA256(secret, body)>`;
- a 2xx answer delivers it; anything else (another status, a refused connection, a timeout) is retried with
  exponential back-off and full jitter, up to `INSTRUCTFORGE_WEBHOOK_MAX_ATTEMPTS` tries in all;
- every attempt is recorded (`GET /v1/jobs/{id}/webhook-deliveries`).

Nothing here touches the job: the worker never waits for a receiver, and a receiver that fails only fails
its deliveries. A job's events go out in order, one at a time; jobs do not wait for each other. After a
crash or restart, events still pending are sent again with the tries they have left (at least once: a
receiver that must act once per event keeps the delivery ids it has seen).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import time
from collections.abc import Callable
from functools import partial

import anyio
import httpx
import msgspec
from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_random_exponential

from domain.redaction import redact_text
from service import __version__
from service.schemas import JobOut
from service.settings import WebhookSettings
from store import Store
from store.jobs import JobRecord
from store.webhooks import WebhookEvent, fix_webhook_body, give_up, pending_webhooks, record_attempt

log = logging.getLogger("instructforge.webhooks")
POLL_S = 0.5


def signature(secret: str, body: bytes) -> str:
    """The `X-InstructForge-Signature` value: what a receiver recomputes with the secret it shares."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookDeliverer:
    def __init__(self, store: Store, settings: WebhookSettings, render: Callable[[JobRecord], JobOut]) -> None:
        self.store, self.settings, self.render = store, settings, render
        self.busy: set[str] = set()  # jobs whose events are being delivered now

    async def run(self) -> None:
        """Forever: start delivering the pending events of each job that is not being served already."""
        timeout = httpx.Timeout(self.settings.timeout_s)
        # trust_env off: no proxy from the environment sits between the service and a receiver
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            anyio.create_task_group() as deliveries,
        ):
            while True:
                # A job busy when the read began may finish during it: what the read saw of it may be stale.
                busy = set(self.busy)
                for job_id, events in (await self._pending()).items():
                    if job_id not in busy and job_id not in self.busy:
                        self.busy.add(job_id)
                        deliveries.start_soon(self._deliver_job, client, job_id, events)
                await anyio.sleep(POLL_S)

    async def _pending(self) -> dict[str, list[WebhookEvent]]:
        """Pending events by job, each job's in the order they happened."""
        try:
            events = await anyio.to_thread.run_sync(pending_webhooks, self.store)
        except Exception:  # the store is the worker's to worry about; deliveries try again next poll
            log.exception("reading pending webhooks failed")
            return {}
        by_job: dict[str, list[WebhookEvent]] = {}
        for event in events:
            by_job.setdefault(event.job_id, []).append(event)
        return by_job

    async def _deliver_job(self, client: httpx.AsyncClient, job_id: str, events: list[WebhookEvent]) -> None:
        try:
            for event in events:
                await self._deliver(client, event)
        except Exception:
            log.exception("delivering the webhooks of job %s failed", job_id)
        finally:
            self.busy.discard(job_id)

    async def _deliver(self, client: httpx.AsyncClient, event: WebhookEvent) -> None:
        left = self.settings.max_attempts - event.attempts
        if left <= 0:  # spent before a restart
            await anyio.to_thread.run_sync(give_up, self.store, event.id)
            return
        job = msgspec.json.decode(event.job, type=JobRecord)  # as the change left it
        body = event.body or await self._first_body(event, job)
        webhook = job.spec.webhook
        if webhook is None:  # the outbox holds events of jobs with a webhook only
            raise RuntimeError(f"webhook event {event.id} of job {job.id}, which has no webhook")
        headers = {
            "content-type": "application/json",
            "user-agent": f"instructforge/{__version__}",
            "x-instructforge-event": event.event,
            "x-instructforge-delivery": str(event.id),
            "x-instructforge-signature": signature(webhook.secret, body.encode()),
        }
        request = client.build_request("POST", webhook.url, content=body.encode(), headers=headers)
        attempts = itertools.count(event.attempts + 1)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(left),
            wait=wait_random_exponential(multiplier=self.settings.backoff_s, max=self.settings.backoff_max_s),
            retry=retry_if_result(lambda delivered: not delivered),
            retry_error_callback=lambda _: False,  # tries spent: recorded as failed, nothing raised
        )
        await retrying(self._attempt, client, request, event, attempts)

    async def _first_body(self, event: WebhookEvent, job: JobRecord) -> str:
        rendered = msgspec.json.encode(await anyio.to_thread.run_sync(self.render, job)).decode()
        return await anyio.to_thread.run_sync(fix_webhook_body, self.store, event.id, rendered)

    async def _attempt(
        self, client: httpx.AsyncClient, request: httpx.Request, event: WebhookEvent, attempts: itertools.count
    ) -> bool:
        number = next(attempts)
        status_code, error, began = None, None, time.monotonic()
        try:
            response = await client.send(request)
            await response.aclose()
            status_code = response.status_code
        except Exception as exc:  # any failure to get an answer is this attempt's outcome, never the job's
            error = redact_text(f"{type(exc).__name__}: {exc}")[:1000]
        delivered = status_code is not None and 200 <= status_code < 300
        state = "delivered" if delivered else "failed" if number >= self.settings.max_attempts else "pending"
        record = partial(record_attempt, self.store, event, number, status_code=status_code, error=error,
                         duration_s=round(time.monotonic() - began, 3), state=state)  # fmt: skip
        await anyio.to_thread.run_sync(record)
        return delivered
