"""Following a job to its end: its server-sent events when the service has them, polling when it does not.

The events contract (`GET /v1/jobs/{id}/events`, text/event-stream): `status` first (the current state), then
`progress` as rounds commit, then `end` when the job finished, after which the stream closes. Each `data:` is
the job's JobOut JSON, each `id:` an increasing integer, and `: keep-alive` comments keep proxies from closing
an idle stream. A service without the endpoint answers 404: the job is then polled with GET.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from httpx_sse import SSEError, connect_sse

from service.client.core import Core, decode, unreachable
from service.client.errors import APIError
from service.schemas import JobOut
from store.jobs import FINISHED

OnUpdate = Callable[[JobOut], None]
_JOB_EVENTS = ("status", "progress", "end")
_STREAM_READ_S = 60.0  # far above the keep-alive period: a silent stream this long is a dead one
_MAX_BROKEN_STREAMS = 3  # reconnections in a row that delivered nothing before the wait gives up


def wait_for_job(
    core: Core, job_id: str, on_update: OnUpdate | None = None, *, poll_s: float = 1.0, timeout_s: float | None = None
) -> JobOut:
    """Block until the job finished (succeeded, failed or cancelled); its last state.

    `on_update` sees every state on the way. Raises TimeoutError after `timeout_s`, APIError for an unknown job,
    UnreachableError when the service stops answering.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    notify = on_update or (lambda job: None)
    last_event_id: str | None = None
    broken = 0
    while True:
        outcome = _follow_stream(core, job_id, notify, last_event_id, deadline)
        if outcome is None:  # no events endpoint on this service
            return poll_job(core, job_id, notify, poll_s=poll_s, deadline=deadline)
        job, event_id, delivered = outcome
        if job is not None:
            return job
        # The stream closed before `end` (a restart, a proxy): the job may have finished meanwhile.
        current = core.call("GET", f"/v1/jobs/{job_id}", JobOut)
        if current.status in FINISHED:
            notify(current)
            return current
        broken = 0 if delivered else broken + 1
        if broken >= _MAX_BROKEN_STREAMS:
            return poll_job(core, job_id, notify, poll_s=poll_s, deadline=deadline)
        last_event_id = event_id or last_event_id
        _check_deadline(deadline, job_id)
        time.sleep(poll_s)


def _follow_stream(
    core: Core, job_id: str, notify: OnUpdate, last_event_id: str | None, deadline: float | None
) -> tuple[JobOut | None, str | None, bool] | None:
    """Read one events stream: (the final job or None if it closed early, the last event id, whether any
    event came); None when the service has no events endpoint (404 on the route)."""
    headers = {"last-event-id": last_event_id} if last_event_id else {}
    timeout = httpx.Timeout(core.http.timeout.connect or 10.0, read=_STREAM_READ_S)
    event_id, delivered = None, False
    try:
        with connect_sse(core.http, "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout) as source:
            response = source.response
            if response.status_code == 404:
                error = APIError.from_response(404, response.read())
                if error.code == "job_not_found":
                    raise error
                return None
            if response.is_error:
                raise APIError.from_response(response.status_code, response.read())
            for event in source.iter_sse():
                if event.event not in _JOB_EVENTS:
                    continue  # an event this client does not know yet: skipped, not fatal
                job = decode(event.data, JobOut)
                event_id, delivered = event.id or event_id, True
                notify(job)
                if event.event == "end" or job.status in FINISHED:
                    return job, event_id, True
                _check_deadline(deadline, job_id)
    except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError):
        return None, event_id, delivered  # the stream went quiet or broke: the caller checks and reconnects
    except SSEError:
        return None  # something answered that is not an event stream: poll instead
    except httpx.TransportError as exc:
        raise unreachable(core.url, exc) from exc
    return None, event_id, delivered


def poll_job(
    core: Core, job_id: str, notify: OnUpdate, *, poll_s: float = 1.0, deadline: float | None = None
) -> JobOut:
    """GET the job every `poll_s` until it finished; `notify` sees each state that changed."""
    seen: JobOut | None = None
    while True:
        job = core.call("GET", f"/v1/jobs/{job_id}", JobOut)
        if job != seen:
            notify(job)
            seen = job
        if job.status in FINISHED:
            return job
        _check_deadline(deadline, job_id)
        time.sleep(poll_s)


def _check_deadline(deadline: float | None, job_id: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"job {job_id} did not finish in time")
