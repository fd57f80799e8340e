"""The typed context every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeAlias

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from healthcare import audit
from healthcare.auth import ANONYMOUS, Viewer
from healthcare.config import Settings
from healthcare.http import client_ip
from healthcare.loaders import Loaders
from healthcare.ratelimit import RateLimiter


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    # One per app; counts sign-in attempts (see healthcare.ratelimit).
    rate_limiter: RateLimiter
    viewer: Viewer = ANONYMOUS
    # Fresh for every operation (see for_operation): on a WebSocket this context lives as
    # long as the connection.
    loaders: Loaders = field(default_factory=Loaders)
    # Set by strawberry from the WebSocket `connection_init` payload.
    connection_params: dict[str, object] | None = None
    # Reads and refusals to record when the operation ends (see healthcare.audit).
    audit_buffer: list[audit.AuditRecord] = field(default_factory=list)
    # The fields read below each field of the operation, by its AST nodes' ids: every row
    # of a list asks the same question (see audit.selected_fields). One per operation: the
    # answer depends on its variables (@skip, @include).
    read_fields: dict[tuple[int, ...], tuple[str, ...]] = field(default_factory=dict)
    # The reads recorded so far, so that one object read twice is recorded once.
    audited: set[tuple[object, ...]] = field(default_factory=set)

    def for_operation(self) -> Context:
        """This context for one operation, with loaders, buffered reads and the fields-read
        cache of its own: a WebSocket's context serves every operation on the connection,
        and two running at once must not share those (see schema.OperationScope)."""
        return replace(self, loaders=Loaders(), audit_buffer=[], read_fields={}, audited=set())

    @property
    def client_address(self) -> str | None:
        """The client's IP address (see `http.client_ip`)."""
        return client_ip(self.request.scope)


Info: TypeAlias = StrawberryInfo[Context, None]
