"""bench.scale's sockets and ledgers: one graphql-transport-ws socket per person, and
the sends that wait for their delivery, by key, with the latencies of those delivered.
Times are `time.monotonic_ns()`, CLOCK_MONOTONIC, the same clock in every process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.chat.clients import SEND_MESSAGE, TRANSPORT_WS

if TYPE_CHECKING:
    from bench.scale.generator import Generator

OPEN_TIMEOUT = 60.0
TEXT = "Running ten minutes late, the traffic on the ring road is terrible. See you soon!"


class Socket:
    """One signed-in person: a chat participant (`pair` >= 0) or a listener."""

    __slots__ = ("generator", "in_flight", "index", "operations", "pair", "reader", "socket")

    def __init__(self, generator: Generator, index: int, pair: int) -> None:
        self.generator, self.index, self.pair = generator, index, pair
        self.socket: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.operations = 0
        self.in_flight: dict[str, tuple[str, int]] = {}  # operation -> (client id, sent at)

    async def open(self, token: str) -> bool:
        """Connect and sign in; whether permessage-deflate was negotiated."""
        url = self.generator.plan.base_url.replace("http", "ws", 1) + "/graphql"
        self.socket = await connect(
            url,
            subprotocols=[TRANSPORT_WS],
            compression="deflate" if self.generator.plan.compression else None,
            ping_interval=None,  # browsers do not ping; the server's pings are answered
            open_timeout=OPEN_TIMEOUT,
            close_timeout=2,
            max_queue=64,
            proxy=None,  # 127.0.0.1, whatever the environment says
        )
        payload = {"authorization": f"Bearer {token}"}
        await self.socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        reply = json.loads(await asyncio.wait_for(self.socket.recv(), OPEN_TIMEOUT))
        if reply.get("type") != "connection_ack":
            raise RuntimeError(f"connection_init refused: {str(reply)[:100]}")
        self.reader = asyncio.create_task(self._read())
        assert self.socket.response is not None
        extensions = self.socket.response.headers.get("Sec-WebSocket-Extensions", "")
        return "permessage-deflate" in extensions

    async def subscribe(self, query: str, variables: dict[str, Any]) -> None:
        assert self.socket is not None
        payload = {"query": query, "variables": variables}
        await self.socket.send(json.dumps({"id": "sub", "type": "subscribe", "payload": payload}))

    async def send_message(self, conversation_id: str, client_id: str) -> None:
        assert self.socket is not None
        self.operations += 1
        variables = {"conversationId": conversation_id, "clientId": client_id, "text": TEXT}
        payload = {"query": SEND_MESSAGE, "variables": variables}
        operation = f"m{self.operations}"
        frame = json.dumps({"id": operation, "type": "subscribe", "payload": payload})
        now = time.monotonic_ns()
        self.in_flight[operation] = (client_id, now)
        self.generator.chat.sent(client_id, self.index ^ 1, now)
        await self.socket.send(frame)

    async def _read(self) -> None:
        assert self.socket is not None
        generator = self.generator
        try:
            async for raw in self.socket:
                at = time.monotonic_ns()
                generator.frame(self, json.loads(raw), at)
        except ConnectionClosed:
            pass
        if not generator.closing:
            generator.errors["socket closed by the server"] += 1

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


class Ledger:
    """Sends awaiting delivery, by key, and the latencies of those delivered."""

    def __init__(self) -> None:
        self.pending: dict[Any, tuple[int, int]] = {}  # key -> (sent at ns, receiver)
        self.failed: set[Any] = set()  # the server refused the send: not "lost"
        self.latencies: list[float] = []  # seconds
        self.acks: list[float] = []
        self.count = 0
        self.delivered = asyncio.Event()

    def sent(self, key: Any, receiver: int, at: int) -> None:
        self.pending[key] = (at, receiver)
        self.count += 1
        self.delivered.clear()

    def arrived(self, key: Any, receiver: int, at: int) -> bool:
        """False for a delivery nobody waits for (the sender's own echo, a duplicate)."""
        record = self.pending.get(key)
        if record is None or record[1] != receiver:
            return False
        del self.pending[key]
        self.latencies.append((at - record[0]) / 1e9)
        if not self.pending.keys() - self.failed:
            self.delivered.set()
        return True

    def acked(self, key: Any, sent_at: int, at: int, ok: bool) -> None:
        self.acks.append((at - sent_at) / 1e9)
        if not ok and key in self.pending:
            self.failed.add(key)
            if not self.pending.keys() - self.failed:
                self.delivered.set()

    def lost(self) -> int:
        return len(self.pending.keys() - self.failed)

    def result(self) -> dict[str, Any]:
        return {
            "sent": self.count,
            "refused": len(self.failed),
            "delivered": len(self.latencies),
            "lost": self.lost(),
            "latencies": self.latencies,
            "acks": self.acks,
        }
