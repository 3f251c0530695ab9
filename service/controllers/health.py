"""Open probes for load balancers and orchestrators: liveness and readiness, and nothing else.

Both answer without an API key, so they say no more than a probe needs: no version, no path, no endpoint,
no error text. The engine's full status (redacted) is `GET /v1/engine`, behind the keys.
"""

from __future__ import annotations

from litestar import Request, get

from service.dependencies import StoreDep
from service.errors import CodedHTTPException, error_responses
from service.schemas import HealthOut, ReadyOut

RETRY_AFTER_S = "5"


@get("/health", tags=["health"])
async def health() -> HealthOut:
    """Liveness: the process answers HTTP. Its database and engine are `/ready`'s business."""
    return HealthOut(status="ok")


@get("/ready", sync_to_thread=True, tags=["health"], responses=error_responses(503))
def ready(store: StoreDep, request: Request) -> ReadyOut:
    """Readiness: 200 when the database answers and the engine is ready (or generation is off, `ENGINE=none`).

    503 with the error shape otherwise: `database_unavailable`, `engine_starting` or `engine_failed`.
    """
    try:
        store.ping()
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the cause is not for an open endpoint
        raise CodedHTTPException(503, "database_unavailable", "the database does not answer") from None
    status = request.app.state.engine.status
    if status == "starting":
        raise CodedHTTPException(
            503, "engine_starting", "the generation engine is starting", headers={"Retry-After": RETRY_AFTER_S}
        )
    if status == "failed":
        raise CodedHTTPException(503, "engine_failed", "the generation engine failed (see GET /v1/engine)")
    return ReadyOut(status="ready")
