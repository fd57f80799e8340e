"""Prometheus metrics, served at `GET /metrics` by each instance for its own process.

One uvicorn worker per process is the deployment, so every process has its own registry
and Prometheus scrapes each instance (no multiprocess mode). The hot path is one cached
label lookup and an inc/observe per operation and per HTTP request, never per field.

Labels hold only what the code or the schema bounds: operation names (capped, see
`graphql.operation_metrics.operation_label`, which records the GraphQL operations in
these series), operation types, outcomes, routes, status codes and channel kinds. Never
user ids, variables or health data.
"""

from __future__ import annotations

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

logger = logging.getLogger(__name__)

# `_created` series double the output and say nothing a process start time does not.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
REGISTRY = CollectorRegistry()
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
    registry=REGISTRY,
)
DURATION = Histogram(
    "healthcare_graphql_operation_duration_seconds",
    "Time from receiving a query or mutation to its result (subscriptions are not timed).",
    ["operation", "type", "outcome"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
SUBSCRIPTIONS = Gauge(
    "healthcare_graphql_subscriptions_active",
    "Subscriptions running now, by operation name.",
    ["operation"],
    registry=REGISTRY,
)
WEBSOCKETS = Gauge(
    "healthcare_websockets_open", "GraphQL WebSocket connections open now.", registry=REGISTRY
)
PUBLISH_FAILURES = Counter(
    "healthcare_pubsub_publish_failures",
    "Pub/sub events that could not be published (the change itself is committed).",
    ["channel"],
    registry=REGISTRY,
)
PUBSUB_SUBSCRIBED = Gauge(
    "healthcare_pubsub_subscribed",
    "1 while this process's pub/sub listening connection is subscribed, 0 while it is lost "
    "and reconnecting (live events are not heard meanwhile).",
    registry=REGISTRY,
)
PUBSUB_RECONNECTS = Counter(
    "healthcare_pubsub_reconnects",
    "Times the pub/sub listening connection was lost and established again.",
    registry=REGISTRY,
)
PUBSUB_RESYNCS = Counter(
    "healthcare_pubsub_resyncs",
    "Subscriptions told to catch up from the database after a pub/sub reconnection.",
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "healthcare_http_requests",
    "HTTP requests answered, by route and status code.",
    ["route", "status"],
    registry=REGISTRY,
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


class DatabasePoolCollector(Collector):
    """The asyncpg pool Tortoise holds, read at scrape time. SQLite has no pool: nothing."""

    def describe(self) -> list[Metric]:
        return []  # no scrape at registration: the ORM is not up yet

    def collect(self) -> Iterator[Metric]:
        try:
            client = get_connection("default")
            if not isinstance(client, AsyncpgDBClient):
                return
            pool = client._pool  # created by the first query
            if pool is None:
                size, idle, most = 0, 0, client.pool_maxsize
            else:
                size, idle, most = pool.get_size(), pool.get_idle_size(), pool.get_max_size()
        except Exception:  # ORM not initialised, or closing: report no pool
            logger.debug("no database pool to report", exc_info=True)
            return
        yield GaugeMetricFamily(
            "healthcare_db_pool_connections", "Connections open in the database pool.", size
        )
        yield GaugeMetricFamily(
            "healthcare_db_pool_connections_in_use",
            "Pool connections checked out by a query or transaction now.",
            size - idle,
        )
        yield GaugeMetricFamily(
            "healthcare_db_pool_max_connections", "The most connections the pool opens.", most
        )


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
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(REGISTRY), headers={"content-type": content_type})

    return [Route("/metrics", metrics, methods=["GET"])]
