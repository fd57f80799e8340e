"""The typed context every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from healthcare.auth import ANONYMOUS, Viewer
from healthcare.config import Settings
from healthcare.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    viewer: Viewer = ANONYMOUS
    # Fresh for every operation (see schema.OperationScope): on a WebSocket
    # this context lives as long as the connection.
    loaders: Loaders = field(default_factory=Loaders)
    # Set by strawberry from the WebSocket `connection_init` payload.
    connection_params: dict[str, object] | None = None

    @property
    def client_address(self) -> str | None:
        client = self.request.client
        return client.host if client else None


Info: TypeAlias = StrawberryInfo[Context, None]
