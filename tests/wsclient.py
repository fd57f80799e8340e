"""A small GraphQL-over-WebSocket client for tests: both protocols, one socket."""

import asyncio
import contextlib
import json
from typing import Any

import websockets
from websockets.typing import Subprotocol

TRANSPORT_WS = Subprotocol("graphql-transport-ws")


class Subscriber:
    """A graphql-transport-ws (or legacy graphql-ws) client for one subscription."""

    def __init__(self, socket: Any, protocol: Subprotocol) -> None:
        self.socket = socket
        self.protocol = protocol

    @classmethod
    async def open(
        cls, live_server: Any, persona: Any, protocol: Subprotocol = TRANSPORT_WS
    ) -> "Subscriber":
        """Signed in as `persona` (or with a raw access token string)."""
        token = persona if isinstance(persona, str) else persona.access_token
        url = live_server if isinstance(live_server, str) else live_server.ws_url
        socket = await websockets.connect(url, subprotocols=[protocol])
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        return cls(socket, protocol)

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, id: str = "1"
    ) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.socket.send(json.dumps({"id": id, "type": kind, "payload": payload}))
        await asyncio.sleep(0.2)  # let the server subscribe before the test acts

    async def next(self) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), 5))
            if message["type"] in {"next", "data"}:
                payload = message["payload"]
                assert "errors" not in payload, payload
                return payload["data"]
            assert message["type"] in {"ka", "ping", "pong"}, message

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.socket.recv(), seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.socket.close()

    async def close_code(self) -> int | None:
        """Wait (up to 10 s) for the server to close the socket; its close code."""
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            while True:
                await asyncio.wait_for(self.socket.recv(), 10)
        return self.socket.close_code
