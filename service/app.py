"""`create_app(settings)`: the Litestar application, its lifespan and its wiring."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers import BaseRouteHandler
from litestar.middleware import DefineMiddleware

from generators.sandbox import Sandbox, SandboxLimits
from service import __version__
from service.bodies import ServiceRequest
from service.compression import GzipMiddleware
from service.controllers.benchmarks import BenchmarkController
from service.controllers.code import CodeController
from service.controllers.composition import composition
from service.controllers.dashboard import dashboard_asset, dashboard_page
from service.controllers.datasets import DatasetController
from service.controllers.engine import engine_status
from service.controllers.health import health, ready
from service.controllers.imports import ImportController
from service.controllers.jobs import JobController, job_out
from service.controllers.records import RecordController
from service.controllers.snapshots import DatasetSnapshotController, SnapshotController
from service.controllers.sources import sources
from service.defaults import ensure_default_dataset
from service.dependencies import DEPENDENCIES
from service.engine_holder import EngineHolder
from service.errors import EXCEPTION_HANDLERS, CodedHTTPException
from service.logging_setup import RequestIds
from service.metrics import instrument, metrics_route
from service.openapi import API_KEY_SECURITY, openapi_config
from service.schema_viewers import schema_asset
from service.settings import SandboxSettings, Settings
from service.webhooks import WebhookDeliverer
from service.worker import JobWorker
from store import Store
from store.dedup.shared_screen import ScreenCache
from store.imports import settle_imports
from store.snapshots.publish import settle_snapshots

_CHALLENGE = 'Bearer realm="instructforge"'


def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """With INSTRUCTFORGE_API_KEYS set, /v1 needs `Authorization: Bearer KEY` or `X-API-Key: KEY`."""
    keys: tuple[str, ...] = connection.app.state.settings.server.api_keys
    if not keys:
        return
    offered = connection.headers.get("x-api-key") or ""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        offered = token.strip()
    if not any(hmac.compare_digest(offered.encode(), key.encode()) for key in keys):
        raise CodedHTTPException(
            401, "unauthorized", "a valid API key is required", headers={"WWW-Authenticate": _CHALLENGE}
        )


def sandbox_from(settings: SandboxSettings) -> Sandbox:
    limits = SandboxLimits(**{name: getattr(settings, name) for name in SandboxLimits.__struct_fields__})
    return Sandbox(limits, max_parallel=settings.max_parallel)


def private_data_dir(path: Path) -> None:
    """The data dir holds the database, snapshots (with code tests) and logs: owner only (0700).

    A dir that already exists with wider permissions is narrowed, so nothing the service writes there can be
    read by other users, the sandbox's run uids included.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _lifespan(settings: Settings):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        private_data_dir(Path(settings.store.data_dir))
        store = Store.open(
            settings.store.database_path,
            threads=settings.store.duckdb_threads,
            memory_limit=settings.store.duckdb_memory_limit,
        )
        settle_snapshots(store, Path(settings.store.data_dir) / "snapshots")  # after a crash: no half snapshot
        settle_imports(store, Path(settings.store.data_dir) / "imports")  # after a crash: no half import
        if settings.engine.default_dataset:
            ensure_default_dataset(store)
        holder = EngineHolder(settings.engine, Path(settings.store.data_dir))
        # per-dataset duplicate screens, shared by uploads and jobs, kept on disk between runs
        screens = ScreenCache(directory=Path(settings.store.data_dir) / "index")
        worker = JobWorker(store, holder, sandbox_from(settings.sandbox), screens)
        app.state.store, app.state.engine, app.state.worker, app.state.screens = store, holder, worker, screens
        app.state.sandbox = worker.sandbox  # one sandbox (one max_parallel) for code jobs and /v1/code/verify
        holder.start()
        worker_task = asyncio.create_task(worker.run(), name="job-worker")
        deliverer = WebhookDeliverer(store, settings.webhooks, partial(job_out, store))
        webhooks_task = asyncio.create_task(deliverer.run(), name="webhooks")  # never waited on by a job
        try:
            yield
        finally:
            for task in (worker_task, webhooks_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await holder.stop()
            await asyncio.to_thread(screens.close)  # writes the screens that grew since their last save
            store.close()

    return lifespan


def create_app(settings: Settings) -> Litestar:
    v1 = Router(
        path="/v1",
        route_handlers=[
            DatasetController,
            RecordController,
            ImportController,
            JobController,
            DatasetSnapshotController,
            SnapshotController,
            BenchmarkController,
            CodeController,
            composition,
            sources,
            engine_status,
        ],
        guards=[require_api_key],
        security=API_KEY_SECURITY,  # documents the guard: every /v1 operation names both schemes
    )
    # /metrics reveals counts only, yet with keys set it needs one unless INSTRUCTFORGE_METRICS_PUBLIC is true.
    metrics = metrics_route(guards=[] if settings.server.metrics_public else [require_api_key])
    app = Litestar(
        route_handlers=[health, ready, metrics, dashboard_page, dashboard_asset, schema_asset, v1],
        request_class=ServiceRequest,
        middleware=[DefineMiddleware(GzipMiddleware, level=settings.server.gzip_level)],  # service.compression
        lifespan=[_lifespan(settings)],
        state=State({"settings": settings}),
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.limits.max_body_bytes,
        openapi_config=openapi_config(__version__),
    )
    # Around the router, so every request is counted and gets an id, 404s too (app middleware runs per route).
    app.asgi_handler = RequestIds(instrument(app))
    return app
