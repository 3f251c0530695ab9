from __future__ import annotations

from litestar import Request, get

from service import __version__
from service.dependencies import StoreDep
from service.schemas import EngineStatus, HealthOut


@get("/health", sync_to_thread=True, tags=["health"])
def health(store: StoreDep, request: Request) -> HealthOut:
    """Liveness and readiness: answers only once the database has been opened and migrated."""
    store.ping()
    return HealthOut(
        status="ok",
        version=__version__,
        database=store.path,
        engine=EngineStatus(status=request.app.state.engine.status, detail=request.app.state.engine.detail),
    )
