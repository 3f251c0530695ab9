"""Prometheus `GET /metrics`: the HTTP traffic this process served, and the store's figures read at each scrape.

Each app has its own `CollectorRegistry` (tests build many apps in one process). Two kinds of series:

- HTTP requests, counted and timed in this process by `RequestMetrics`, labelled by the route's path template
  (`/v1/jobs/{job_id}`, never the raw path, so ids do not multiply series); a path that matches no route is
  counted under one label, `UNMATCHED`. The method is one of the known ones or `other`.
- Jobs, tokens, accepted and rejected candidates, judgements, sandbox verdicts and the store's size, read from
  the database by `StoreCollector` when Prometheus scrapes (`store.metrics`: one aggregate query). They are
  the store's totals, so they survive restarts and agree with `/v1` figures; the engine's state is read live.
"""

from __future__ import annotations

import logging
import time
from typing import get_args

import duckdb
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Guard, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from domain.records import GENERATED_SOURCE, SEED_SOURCE
from service.engine_holder import EngineStatus
from service.errors import CodedHTTPException, error_responses
from store.code_checks import EXECUTION_FAILURES
from store.jobs import JobStatus
from store.metrics import store_figures

log = logging.getLogger("instructforge.metrics")
# Prometheus' text format 0.0.4 (`CONTENT_TYPE_PLAIN_0_0_4`); Litestar adds the `charset=utf-8` of a text type.
MEDIA_TYPE = "text/plain; version=0.0.4"
UNMATCHED = "unmatched"  # the route label of every path that matches no route (404s, probes, scanners)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; exports and snapshot downloads may stream for a minute.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_OUTCOMES = ("scored", "unreadable", "engine_error")
# The tasks gauge's `source` label: seed and generated always (0 when none), then import sources, whose names
# users choose. Each label value is a series Prometheus keeps, so only the `_TOP_SOURCES` largest imports are
# labelled by name and the rest are summed under `OTHER_SOURCES`; a source name starts with a letter or digit,
# so that label never collides with one. Which imports are named can change between scrapes as counts move.
_SOURCES = (SEED_SOURCE, GENERATED_SOURCE)
_TOP_SOURCES = 20
OTHER_SOURCES = "_other"


class HTTPMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "instructforge_http_requests", "HTTP requests answered, by route template and status",
            ("method", "route", "status"), registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "instructforge_http_request_duration_seconds", "Time to answer an HTTP request (the whole body sent)",
            ("method", "route"), registry=registry, buckets=_BUCKETS,
        )  # fmt: skip

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


class RequestMetrics:
    """An ASGI layer around Litestar's router: it sees every request, unmatched ones included.

    Litestar's app-level middleware runs inside a matched route only, so a 404 would never be counted there;
    this layer wraps the router the way Litestar's own OpenTelemetry middleware does.
    """

    def __init__(self, app: ASGIApp, metrics: HTTPMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500  # 500: what uvicorn answers if nothing was sent

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = scope.get("path_template") or UNMATCHED  # set by the router once a route matched
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


class StoreCollector:
    """Reads the store's figures and the engine's state when the registry is collected (at each scrape)."""

    def __init__(self, state: State) -> None:
        self.state = state  # the store and engine are put there by the lifespan, after the app is built

    def collect(self) -> list[Metric]:
        figures = store_figures(self.state.store)
        return [
            _labelled(GaugeMetricFamily, "instructforge_jobs", "Jobs by status", "status",
                      _filled(figures.jobs, get_args(JobStatus))),
            CounterMetricFamily("instructforge_tokens_generated", "Tokens generated, summed over every job's progress",
                                value=figures.tokens),
            GaugeMetricFamily("instructforge_running_jobs_tokens_per_second",
                              "Tokens per second of the running jobs, summed", value=figures.running_tokens_per_s),
            CounterMetricFamily("instructforge_candidates_accepted", "Generated candidates accepted into the store",
                                value=figures.tasks.get(GENERATED_SOURCE, 0)),
            _rejections(figures.rejections),
            _labelled(CounterMetricFamily, "instructforge_judgements", "Judge readings by outcome", "outcome",
                      _filled(figures.judgements, _OUTCOMES)),
            _labelled(CounterMetricFamily, "instructforge_sandbox_runs", "Code checks run in the sandbox, by verdict",
                      "verdict", _filled(figures.sandbox, ("passed", *EXECUTION_FAILURES))),
            _labelled(GaugeMetricFamily, "instructforge_engine_state", "1 for the generation engine's state",
                      "state", {s: int(s == self.state.engine.status) for s in get_args(EngineStatus)}),
            GaugeMetricFamily("instructforge_store_database_bytes", "Size of the database file and its WAL",
                              value=figures.database_bytes),
            _labelled(GaugeMetricFamily, "instructforge_store_tasks", "Tasks in the store by source", "source",
                      source_labels(figures.tasks)),
        ]  # fmt: skip


def _filled(counts: dict[str, int], names: tuple[str, ...]) -> dict[str, int]:
    """Every known label present (0 when none yet), so a series exists before its first event."""
    return {name: counts.get(name, 0) for name in names} | counts


def source_labels(tasks: dict[str, int], top: int = _TOP_SOURCES) -> dict[str, int]:
    """Tasks by source label: seed and generated, the `top` largest others, the rest under `OTHER_SOURCES`."""
    imported = sorted((key for key in tasks if key not in _SOURCES), key=lambda key: (-tasks[key], key))
    labels = {name: tasks.get(name, 0) for name in _SOURCES} | {key: tasks[key] for key in imported[:top]}
    if len(imported) > top:
        labels[OTHER_SOURCES] = sum(tasks[key] for key in imported[top:])
    return labels


def _labelled(family: type, name: str, documentation: str, label: str, values: dict[str, float]) -> Metric:
    metric = family(name, documentation, labels=[label])
    for value_label, value in sorted(values.items()):
        metric.add_metric([value_label], value)
    return metric


def _rejections(counts: dict[tuple[str, str], int]) -> Metric:
    metric = CounterMetricFamily("instructforge_candidates_rejected", "Candidates rejected, by stage and reason",
                                 labels=["stage", "reason"])  # fmt: skip
    for (stage, reason), value in sorted(counts.items()):
        metric.add_metric([stage, reason], value)
    return metric


def instrument(app: Litestar) -> ASGIApp:
    """Give the app its registry (on `app.state`) and return its router wrapped in `RequestMetrics`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(app.state))  # type: ignore[arg-type]
    app.state.metrics_registry = registry
    return RequestMetrics(app.asgi_handler, HTTPMetrics(registry))


def metrics_route(guards: list[Guard]) -> HTTPRouteHandler:
    """`GET /metrics`; `guards` is the API-key guard unless metrics are public (`INSTRUCTFORGE_METRICS_PUBLIC`)."""

    @get("/metrics", guards=guards, sync_to_thread=True, media_type=MEDIA_TYPE, tags=["health"],
         responses=error_responses(401, 503))  # fmt: skip
    def metrics(request: Request) -> str:
        """Prometheus text format 0.0.4: HTTP requests, jobs, tokens, candidates, judge, sandbox, engine, store.

        401 when API keys are set and metrics are not public; 503 when the database does not answer.
        """
        try:
            return generate_latest(request.app.state.metrics_registry).decode()
        except duckdb.Error:
            log.exception("the metrics query failed")
            raise CodedHTTPException(503, "database_unavailable", "the database does not answer") from None

    return metrics
