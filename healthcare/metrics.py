"""Prometheus metrics, served at `GET /metrics` by each instance for its own process.

One uvicorn worker per process is the deployment, so every process has its own registry
and Prometheus scrapes each instance (no multiprocess mode). The hot path is one cached
label lookup and an inc/observe per operation and per HTTP request, never per field.

Labels hold only what the code or the schema bounds: operation names (capped, see
`operation_label`), operation types, outcomes, routes, status codes and channel kinds.
Never user ids, variables or health data.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLUnionType,
    OperationDefinitionNode,
)
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
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.connection import get_connection

from healthcare import errors
from healthcare.config import Settings
from healthcare.ratelimit import RATE_LIMITED

logger = logging.getLogger(__name__)

# `_created` series double the output and say nothing a process start time does not.
disable_created_metrics()
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

ANONYMOUS = "(anonymous)"  # parentheses: no GraphQL name can take these values
OTHER = "(other)"
UNKNOWN = "unknown"
SUBSCRIPTION = OperationType.SUBSCRIPTION.value
OK, FAILURE, REFUSED, ERROR = "ok", "failure", "refused", "error"
# Top-level error codes that mean "the request was not allowed or not valid", not "broken".
REFUSAL_CODES = frozenset(
    {
        errors.UNAUTHENTICATED,
        errors.FORBIDDEN,
        errors.BAD_USER_INPUT,
        errors.GRAPHQL_PARSE_FAILED,
        errors.GRAPHQL_VALIDATION_FAILED,
        errors.ErrorCode.NOT_FOUND.value,
        RATE_LIMITED,
    }
)
# Operation names are chosen by front-end developers; the cap stops a client that makes
# up names from growing the registry without bound (later names count as "(other)").
MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Up to REQUEST_TIMEOUT_SECONDS (15 s by default).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)
ROUTES = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})
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
HTTP_REQUESTS = Counter(
    "healthcare_http_requests",
    "HTTP requests answered, by route and status code.",
    ["route", "status"],
    registry=REGISTRY,
)

_operation_names: dict[str, str] = {}
_operation_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_http_children: dict[tuple[str, int], Any] = {}


def operation_label(name: str | None, admit: bool = True) -> str:
    """The operation's name as a label: only plain names, only the first few hundred, and
    a new name only from an operation that was not refused (`admit`), so that nobody can
    fill the labels with made-up names in requests that are turned away."""
    if name is None:
        return ANONYMOUS
    label = _operation_names.get(name)
    if label is not None:
        return label
    if admit and len(_operation_names) < MAX_OPERATION_NAMES and _OPERATION_NAME.fullmatch(name):
        _operation_names[name] = name
        return name
    return OTHER


def outcome_of(errors: Iterable[GraphQLError] | None, typed_failure: bool) -> str:
    if errors:
        for error in errors:
            if (error.extensions or {}).get("code") not in REFUSAL_CODES:
                return ERROR
        return REFUSED
    return FAILURE if typed_failure else OK


def _record(operation: str, kind: str, outcome: str, seconds: float) -> None:
    key = (operation, kind, outcome)
    children = _operation_children.get(key)
    if children is None:
        children = (OPERATIONS.labels(*key), DURATION.labels(*key))
        _operation_children[key] = children
    children[0].inc()
    if kind != SUBSCRIPTION:
        children[1].observe(seconds)


# The operation running in this task, for the resolvers `instrument` wraps.
_current: ContextVar[OperationMetrics | None] = ContextVar("metrics_operation", default=None)


class OperationMetrics(SchemaExtension):
    """Counts and times each operation. First in the schema's extensions, so that its time
    includes theirs (error masking, the audit flush). One hook: each more costs about 5 µs
    an operation in strawberry's machinery, so `instrument` notes subscriptions and typed
    failures instead. No per-field hook."""

    typed_failure = False
    _subscription: Any = None  # its gauge, while a subscription runs

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        _current.set(self)
        outcome = None
        try:
            yield
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            outcome = REFUSED  # no query, no such operation, or a subscription over HTTP
            raise
        except (GeneratorExit, asyncio.CancelledError):
            # A subscription ends so when its client stops it; anything else was cut short.
            outcome = None if self._subscription is not None else ERROR
            raise
        except BaseException:
            outcome = ERROR
            raise
        finally:
            self._finish(outcome, time.perf_counter() - started)

    def subscription_started(self) -> None:
        if self._subscription is None:
            name = operation_label(self.execution_context.operation_name)
            self._subscription = SUBSCRIPTIONS.labels(name)
            self._subscription.inc()

    def _finish(self, outcome: str | None, seconds: float) -> None:
        context = self.execution_context
        if self._subscription is not None:
            self._subscription.dec()
        kind = _operation_kind(context.graphql_document, context.operation_name)
        if outcome is None:
            found = getattr(context.result, "errors", None) or context.pre_execution_errors
            outcome = outcome_of(found, self.typed_failure)
        name = operation_label(context.operation_name, admit=outcome != REFUSED)
        _record(name, kind, outcome, seconds)


def _operation_kind(document: DocumentNode | None, name: str | None) -> str:
    """`ExecutionContext.operation_type` as a label, without its slower enum lookups."""
    for definition in document.definitions if document is not None else ():
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition.operation.value
    return UNKNOWN  # unparsable, or no operation of the given name


def instrument(schema: strawberry.Schema) -> None:
    """Let the running operation's `OperationMetrics` know, at no cost to other fields:
    - when a subscription starts: each root Subscription field's `subscribe` says so;
    - when it ended in an expected failure: every result union with members implementing
      `Error` (mutation results) checks, when it resolves, whether it resolved to one.
    """
    graphql_schema = schema._schema
    if graphql_schema.subscription_type is not None:
        for field in graphql_schema.subscription_type.fields.values():
            if field.subscribe is not None:
                field.subscribe = _noting_subscription(field.subscribe)
    error = graphql_schema.get_type("Error")
    if not isinstance(error, GraphQLInterfaceType):
        return
    failures = frozenset(t.name for t in graphql_schema.get_implementations(error).objects)
    for type_ in graphql_schema.type_map.values():
        if (
            isinstance(type_, GraphQLUnionType)
            and type_.resolve_type is not None
            and any(member.name in failures for member in type_.types)
        ):
            type_.resolve_type = _noting_failures(type_.resolve_type, failures)


def _noting_subscription(subscribe: Any) -> Any:
    def noted(root: Any, info: Any, **arguments: Any) -> Any:
        operation = _current.get()
        if operation is not None:
            operation.subscription_started()
        return subscribe(root, info, **arguments)

    return noted


def _noting_failures(resolve: Any, failures: frozenset[str]) -> Any:
    def resolve_type(value: Any, info: Any, abstract_type: Any) -> Any:
        resolved = resolve(value, info, abstract_type)
        if getattr(resolved, "name", resolved) in failures:
            operation = _current.get()
            if operation is not None:
                operation.typed_failure = True
        return resolved

    return resolve_type


def count_http_request(scope_type: str, path: str, status: int) -> None:
    if scope_type != "http":
        return
    route = path if path in ROUTES else "/media" if path.startswith("/media/") else OTHER
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
