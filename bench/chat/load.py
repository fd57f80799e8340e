"""The load generator's side: one WebSocket client per person, a recorder of send and
delivery times, and an open-loop sender.

Latency is measured in this one process, on one clock (`time.perf_counter`): from just
before a message is written to the sender's socket (or POSTed) to the moment the OTHER
party's socket yields the pushed message. The sender's own echo is not counted.
Sends follow a fixed schedule (open loop): a slow reply never delays the next send, so
a server that falls behind shows as latency, not as a quietly lower rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.common.seed import Pair

OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 2.0


class HttpPool:
    """Sends over HTTP through a fixed set of keep-alive connections. Requests beyond them
    wait here, in a cheap FIFO, rather than in httpx's own queue, whose cost grows with its
    length: when the server falls behind, that queue would swamp the generator instead."""

    CONNECTIONS = 100

    def __init__(self, base_url: str) -> None:
        limits = httpx.Limits(
            max_connections=self.CONNECTIONS, max_keepalive_connections=self.CONNECTIONS
        )
        self.client = httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits)
        self.slots = asyncio.Semaphore(self.CONNECTIONS)

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async with self.slots:
            return await self.client.post(path, json=body, headers=headers)

    async def close(self) -> None:
        await self.client.aclose()


class Recorder:
    """Send times by client id, and the latencies of deliveries to the other party."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[float, int]] = {}  # client id -> (sent at, receiver)
        self.latencies: list[float] = []
        self.acks: list[float] = []  # send to the sender's own reply (mutation result)
        self.lags: list[float] = []  # how late the schedule fired each send
        self.errors: Counter[str] = Counter()
        self.sent = 0
        self.first_send: float | None = None
        self.last_send: float | None = None
        self.last_delivery: float | None = None
        self.delivered_ids: set[str] = set()
        self._all_delivered = asyncio.Event()

    def on_send(self, client_id: str, receiver: int, at: float) -> None:
        self.pending[client_id] = (at, receiver)
        self.sent += 1
        self.first_send = self.first_send if self.first_send is not None else at
        self.last_send = at
        self._all_delivered.clear()

    def on_delivery(self, client_id: str, at_client: int, at: float) -> None:
        record = self.pending.get(client_id)
        if record is None:
            if client_id not in self.delivered_ids:
                self.errors["delivery of an unknown message"] += 1
            return
        sent_at, receiver = record
        if at_client != receiver:
            return  # the sender's own echo
        del self.pending[client_id]
        self.delivered_ids.add(client_id)
        self.latencies.append(at - sent_at)
        self.last_delivery = at
        if not self.pending:
            self._all_delivered.set()

    def on_ack(self, sent_at: float, at: float, error: str | None) -> None:
        self.acks.append(at - sent_at)
        if error is not None:
            self.errors[error] += 1

    async def drained(self, seconds: float) -> bool:
        """Wait (at most `seconds`) until every message sent so far has been delivered."""
        if not self.pending:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_delivered.wait(), seconds)
        return not self.pending


class Client:
    """One person's socket; `index` is their place in the list (pair * 2 + side)."""

    path = "/"
    subprotocols: Sequence[Subprotocol] = ()

    def __init__(
        self,
        base_url: str,
        index: int,
        pair: Pair,
        recorder: Recorder,
        compression: bool,
        http: HttpPool | None = None,
    ) -> None:
        self.base_url = base_url
        self.index = index
        self.pair = pair
        self.side = index % 2
        self.recorder = recorder
        self.compression = compression
        self.http = http  # set: sends go over HTTP instead of this socket
        self.socket: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def partner(self) -> int:
        return self.index + 1 if self.side == 0 else self.index - 1

    async def open(self) -> None:
        url = self.base_url.replace("http", "ws", 1) + self.path
        self.socket = await connect(
            url,
            subprotocols=list(self.subprotocols) or None,
            compression="deflate" if self.compression else None,
            ping_interval=None,  # browsers do not ping; the server's pings are answered
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
        )
        await self.sign_in()
        self.reader = asyncio.create_task(self._read())

    async def sign_in(self) -> None:
        """What follows the handshake before the connection is usable (idle from then)."""

    async def listen(self) -> None:
        raise NotImplementedError

    async def send(self, text: str) -> None:
        raise NotImplementedError

    def handle(self, message: dict[str, Any], at: float) -> None:
        raise NotImplementedError

    async def _read(self) -> None:
        assert self.socket is not None
        try:
            async for raw in self.socket:
                self.handle(json.loads(raw), time.perf_counter())
        except ConnectionClosed:
            pass
        if not self.closing:
            self.recorder.errors["socket closed by the server"] += 1

    async def close(self) -> None:
        self.closing = True
        if self.socket is not None:
            await self.socket.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


async def run_schedule(
    clients: Sequence[Client], rate: float, seconds: float, text: str, recorder: Recorder
) -> None:
    """Send `rate * seconds` messages on a fixed schedule, round-robin over the pairs,
    patient and doctor taking turns. Sends are not awaited before the next is due."""
    pairs = len(clients) // 2
    total = round(rate * seconds)
    sends: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        recorder.lags.append(time.perf_counter() - due)
        pair, side = n % pairs, (n // pairs) % 2
        task = asyncio.create_task(_send(clients[pair * 2 + side], text, recorder))
        sends.add(task)
        task.add_done_callback(sends.discard)
    if sends:
        await asyncio.wait(sends, timeout=30)


async def _send(client: Client, text: str, recorder: Recorder) -> None:
    try:
        await client.send(text)
    except (ConnectionClosed, OSError) as error:
        recorder.errors[f"send failed: {type(error).__name__}"] += 1
