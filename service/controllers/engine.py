from __future__ import annotations

from litestar import Request, get

from service.errors import error_responses
from service.schemas import EngineStatus


@get("/engine", tags=["health"], responses=error_responses(401))
async def engine_status(request: Request) -> EngineStatus:
    """The generation engine's status and detail (model, endpoints, the last error), credentials redacted."""
    holder = request.app.state.engine
    return EngineStatus(status=holder.status, detail=holder.detail, endpoints=holder.fleet.snapshot())
