"""Prometheus metrics, served at `GET /metrics`: the whole instance's, whichever of its
worker processes answers the scrape.

One process (WORKERS=1) keeps its series in its own registry, with the standard process,
platform and GC collectors. Several (`healthcare serve --workers N`) share them through
prometheus_client's multiprocess mode (worker_metrics.py): counters and histograms are
summed over every worker that ever ran, each gauge combines as its `multiprocess_mode`
says (and why, beside it), the database pool is published by each worker, and process
figures are served per worker. Prometheus scrapes each instance (each HOST:PORT) once.
The hot path is one cached label lookup and an inc/observe per operation and per HTTP
request, never per field.

Labels hold only what the code or the schema bounds: operation names (capped, see
`graphql.operation_metrics.operation_label`, which records the GraphQL operations in
these series), operation types, outcomes, routes, status codes and channel kinds. Never
user ids, variables or health data.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.connection import get_connection

from healthcare.config import Settings
from healthcare.ops import worker_metrics

logger = logging.getLogger(__name__)

# `_created` series double the output and say nothing a process start time does not.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
MULTIPROCESS = worker_metrics.enabled()
REGISTRY: CollectorRegistry  # what /metrics serves
_RECORDED_IN: CollectorRegistry | None  # where the series below are registered
if MULTIPROCESS:
    worker_metrics.forget_earlier_process()
    REGISTRY = worker_metrics.instance_registry()
    # Read back from every worker's files, never from this process's objects: registered
    # here as well, this worker's series would be served twice.
    _RECORDED_IN = None
else:
    REGISTRY = _RECORDED_IN = CollectorRegistry()
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)
    GCCollector(registry=REGISTRY)

OTHER = "(other)"  # parentheses: no route, channel or GraphQL name can take this value
# Up to REQUEST_TIMEOUT_SECONDS (15 s by default).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)
ROUTES = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})
# Routes with a path parameter: their prefix names them (GraphiQL's files, pictures).
ROUTE_PREFIXES = (("/graphql/assets/", "/graphql/assets"), ("/media/", "/media"))
CHANNEL_KINDS = frozenset(
    {"notifications", "appointments", "conversation", "typing", "receipts", "sessions"}
)

OPERATIONS = Counter(
    "healthcare_graphql_operations",
    "GraphQL operations finished (subscriptions: when they end), by name, type and outcome: "
    "ok, failure (a mutation returned an Error member of its result union), refused "
    "(unauthenticated, forbidden, invalid, rate limited) or error.",
    ["operation", "type", "outcome"],
    registry=_RECORDED_IN,
)
DURATION = Histogram(
    "healthcare_graphql_operation_duration_seconds",
    "Time from receiving a query or mutation to its result (subscriptions are not timed).",
    ["operation", "type", "outcome"],
    buckets=DURATION_BUCKETS,
    registry=_RECORDED_IN,
)
# Gauges with several workers: `livesum` where the instance's figure is the sum of its
# workers' (sockets, subscriptions: what the instance holds), and only of running workers:
# a dead worker's sockets are closed.
SUBSCRIPTIONS = Gauge(
    "healthcare_graphql_subscriptions_active",
    "Subscriptions running now, by operation name.",
    ["operation"],
    registry=_RECORDED_IN,
    multiprocess_mode="livesum",
)
WEBSOCKETS = Gauge(
    "healthcare_websockets_open",
    "GraphQL WebSocket connections open now.",
    registry=_RECORDED_IN,
    multiprocess_mode="livesum",
)
PUBLISH_FAILURES = Counter(
    "healthcare_pubsub_publish_failures",
    "Pub/sub events that could not be published (the change itself is committed).",
    ["channel"],
    registry=_RECORDED_IN,
)
# Each worker has its own listener, and a worker that is not subscribed does not hear
# the events of the sockets it holds: `livemin` makes the instance's figure 1 only while
# every running worker's is, so the one series and its alert (0 for long) mean the same
# with one worker or many. Which worker is deaf is in its log (`pub/sub listener lost`).
PUBSUB_SUBSCRIBED = Gauge(
    "healthcare_pubsub_subscribed",
    "1 while the pub/sub listening connection (of every worker process) is subscribed, "
    "0 while one is lost and reconnecting (live events are not heard meanwhile).",
    registry=_RECORDED_IN,
    multiprocess_mode="livemin",
)
PUBSUB_RECONNECTS = Counter(
    "healthcare_pubsub_reconnects",
    "Times the pub/sub listening connection was lost and established again.",
    registry=_RECORDED_IN,
)
PUBSUB_RESYNCS = Counter(
    "healthcare_pubsub_resyncs",
    "Subscriptions told to catch up from the database after a pub/sub reconnection.",
    registry=_RECORDED_IN,
)
HTTP_REQUESTS = Counter(
    "healthcare_http_requests",
    "HTTP requests answered, by route and status code.",
    ["route", "status"],
    registry=_RECORDED_IN,
)

_http_children: dict[tuple[str, int], Any] = {}


def route_of(path: str) -> str:
    for prefix, route in ROUTE_PREFIXES:
        if path.startswith(prefix):
            return route
    return OTHER


def count_http_request(scope_type: str, path: str, status: int) -> None:
    if scope_type != "http":
        return
    route = path if path in ROUTES else route_of(path)
    child = _http_children.get((route, status))
    if child is None:
        child = _http_children[(route, status)] = HTTP_REQUESTS.labels(route, str(status))
    child.inc()


def count_publish_failure(channel: str) -> None:
    kind = channel.split(".", 1)[0]
    PUBLISH_FAILURES.labels(kind if kind in CHANNEL_KINDS else OTHER).inc()


POOL_SERIES = (
    ("healthcare_db_pool_connections", "Connections open in the database pool."),
    (
        "healthcare_db_pool_connections_in_use",
        "Pool connections checked out by a query or transaction now.",
    ),
    ("healthcare_db_pool_max_connections", "The most connections the pool opens."),
)
# With several workers each publishes its own pool's figures (a collector would read the
# scraping worker's pool only): when it answers a scrape, so that its own are exact, and
# every second between, so that the others' are at most that old. That is one wake-up and
# three writes to memory a second; publishing on every acquire and release would be exact
# but needs hooks into the pool Tortoise creates, on the path of every query.
POOL_PUBLISH_SECONDS = 1.0


def pool_figures() -> tuple[int, int, int] | None:
    """Connections open, in use and at most in the asyncpg pool Tortoise holds; None
    where there is none (SQLite, or the ORM not up yet or closing)."""
    try:
        client = get_connection("default")
        if not isinstance(client, AsyncpgDBClient):
            return None
        pool = client._pool  # created by the first query
        if pool is None:
            return 0, 0, client.pool_maxsize
        size, idle = pool.get_size(), pool.get_idle_size()
        return size, size - idle, pool.get_max_size()
    except Exception:  # ORM not initialised, or closing: report no pool
        logger.debug("no database pool to report", exc_info=True)
        return None


class DatabasePoolCollector(Collector):
    """One process: its pool, read at scrape time. SQLite has no pool: nothing."""

    def describe(self) -> list[Metric]:
        return []  # no scrape at registration: the ORM is not up yet

    def collect(self) -> Iterator[Metric]:
        figures = pool_figures()
        if figures is not None:
            for (name, documentation), value in zip(POOL_SERIES, figures, strict=True):
                yield GaugeMetricFamily(name, documentation, value)


_pool_gauges: list[Gauge] = []


def publish_pool_figures() -> None:
    """Several workers: this worker's pool into gauges summed over the running workers
    (`livesum`: a dead worker's connections are closed; the instance's maximum is the sum
    of its workers'). Made with the first figures, so that SQLite has no such series."""
    figures = pool_figures()
    if figures is None:
        return
    if not _pool_gauges:
        _pool_gauges.extend(
            Gauge(name, documentation, registry=None, multiprocess_mode="livesum")
            for name, documentation in POOL_SERIES
        )
    for gauge, value in zip(_pool_gauges, figures, strict=True):
        gauge.set(value)


async def keep_pool_figures_published() -> None:
    """Several workers: run for the worker's life (the app's lifespan)."""
    while True:
        publish_pool_figures()
        await asyncio.sleep(POOL_PUBLISH_SECONDS)


if not MULTIPROCESS:
    REGISTRY.register(DatabasePoolCollector())


def routes(settings: Settings) -> list[Route]:
    """`GET /metrics` where the settings serve it (see README, "Metrics"); else no route."""
    if not settings.metrics_enabled:
        return []
    if not settings.metrics_served:
        logger.warning("METRICS_TOKEN is not set: /metrics is off in production")
        return []
    expected = settings.metrics_token.encode() if settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            scheme, _, presented = request.headers.get("authorization", "").partition(" ")
            right = hmac.compare_digest(presented.strip().encode(), expected)
            if scheme.lower() != "bearer" or not right:
                return PlainTextResponse(
                    "A bearer token is required.",
                    status_code=401,
                    headers={"www-authenticate": 'Bearer realm="metrics"'},
                )
        if MULTIPROCESS:
            publish_pool_figures()
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(REGISTRY), headers={"content-type": content_type})

    return [Route("/metrics", metrics, methods=["GET"])]
