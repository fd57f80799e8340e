"""What a request knows, and what one operation knows.

strawberry builds a context once per HTTP request, and once per WebSocket connection for
every operation on it: that is the `RequestScope` (the request, the settings, the rate
limiter, the viewer). Each operation then runs with a `Context` of its own
(`graphql.execution.OperationScope` makes it), which adds what must not outlive the
operation nor be shared with another running beside it on the same socket: its loaders,
the audit reads it buffered, and its caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from healthcare.config import Settings
from healthcare.ops.middleware import client_ip
from healthcare.security.audit import Actor, AuditRecord
from healthcare.security.auth import ANONYMOUS, Viewer
from healthcare.security.ratelimit import RateLimiter

L = TypeVar("L")


@dataclass
class RequestScope:
    """One HTTP request, or one WebSocket connection (with the viewer its first
    `connection_init` named: see `realtime.connection_guard`)."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    rate_limiter: RateLimiter  # one per app (see security.ratelimit)
    viewer: Viewer = ANONYMOUS
    # Set by strawberry from the WebSocket `connection_init` payload.
    connection_params: dict[str, object] | None = None

    @property
    def client_address(self) -> str | None:
        """The client's IP address (see `ops.middleware.client_ip`)."""
        return client_ip(self.request.scope)


@dataclass
class Context(Generic[L]):
    """One operation's context: `info.context` in every resolver."""

    scope: RequestScope
    loaders: L
    viewer: Viewer  # the scope's; `login` and its kin sign the rest of the operation in
    # Reads and refusals to record when the operation ends (see security.audit).
    audit_buffer: list[AuditRecord] = field(default_factory=list)
    # Who the reads are recorded as (see graphql.auditing): worked out at the first one.
    reader: Actor | None = None
    # The reads recorded so far, so that one object read twice is recorded once.
    audited: set[tuple[object, ...]] = field(default_factory=set)
    # The fields read below each field of the operation, by its AST nodes' ids: every row
    # of a list asks the same question (see graphql.auditing.selected_fields).
    read_fields: dict[tuple[int, ...], tuple[str, ...]] = field(default_factory=dict)
    # Whether a mutation returned one of its expected failures (for the metrics).
    expected_failure: bool = False

    @property
    def request(self) -> Request | WebSocket:
        return self.scope.request

    @property
    def response(self) -> Response | WebSocket | None:
        return self.scope.response

    @property
    def settings(self) -> Settings:
        return self.scope.settings

    @property
    def rate_limiter(self) -> RateLimiter:
        return self.scope.rate_limiter

    @property
    def client_address(self) -> str | None:
        return self.scope.client_address


# For the GraphQL machinery, which knows no domain and so none of the schema's loaders.
AnyInfo: TypeAlias = StrawberryInfo[Context[Any], None]
