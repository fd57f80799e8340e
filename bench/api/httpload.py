"""An HTTP/1.1 load generator for bench.api: raw keep-alive connections on asyncio (uvloop).

Two ways to load a server:

- `closed_loop`: N connections, each sending its next request as soon as the last answer
  is in. The completed requests per second over the window is the server's peak rate.
- `open_loop`: requests on a fixed schedule (rate r: request i is due at t0 + i / r),
  whatever the answers do. Latency is measured from the time a request was *due*, not
  the time it went out, so a server (or generator) that falls behind shows it in the
  latency instead of quietly receiving fewer requests (no coordinated omission).

No HTTP library: a request is prebuilt bytes, and an answer is a status line, headers
and a Content-Length body. Per request that is a few microseconds of Python, far below
what any of the servers under test spends; `bench.api` records the generator's CPU
beside every figure so that a generator-bound run shows.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

CONNECT_TIMEOUT = 10.0
DRAIN_SECONDS = 10.0  # after the window, how long answers still in flight may take
MAX_KEPT_ERRORS = 5


def build_request(
    port: int, body: bytes, token: str | None = None, path: str = "/graphql"
) -> bytes:
    """A POST of `body` (JSON) as a browser's GraphQL client would send it."""
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(body)}",
    ]
    if token is not None:
        headers.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


class ResponseError(Exception):
    """An answer that is not a 200 with a Content-Length body."""


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.header_end = -1
        self.total = -1
        self.status = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection closed: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        if self.total < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            self.status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                self.waiter.set_exception(ResponseError(f"no content-length: {head[:200]!r}"))
                return
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop > 0 else len(head)])
            self.header_end = end + 4
            self.total = self.header_end + length
        if len(self.buffer) >= self.total:
            body = bytes(self.buffer[self.header_end : self.total])
            del self.buffer[: self.total]
            self.total = -1
            waiter, self.waiter = self.waiter, None
            waiter.set_result((self.status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.transport is None or self.waiter is not None:
            raise RuntimeError("not connected, or a request is already in flight")
        if self.closed:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(port: int, host: str = "127.0.0.1") -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(Connection, host, port), CONNECT_TIMEOUT
    )
    return protocol


Check = Callable[[int, bytes], str | None]  # an error kind, or None when the answer is good


def graphql_check(expect: bytes | None = None) -> Check:
    """A 200 whose body has no `errors` (and contains `expect`, when given)."""

    def check(status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}"
        if b'"errors"' in body:
            return "GraphQL errors"
        if expect is not None and expect not in body:
            return "unexpected result"
        return None

    return check


@dataclass
class Recorder:
    """Latencies (seconds) of the requests that fall inside the measured window."""

    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_samples: list[str] = field(default_factory=list)
    sent: int = 0
    completed_in_window: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < MAX_KEPT_ERRORS:
            self.error_samples.append(f"{kind}: {detail[:300]}")


@dataclass(frozen=True)
class RunResult:
    mode: str
    seconds: float
    completed: int
    per_second: float
    latencies: list[float]
    errors: dict[str, int]
    error_samples: list[str]
    extra: dict[str, Any]


async def closed_loop(
    port: int,
    requests: Callable[[int], bytes],
    check: Check,
    connections: int,
    warmup: float,
    seconds: float,
) -> RunResult:
    """`connections` connections sending back to back; measured after `warmup` seconds for
    `seconds` seconds. `requests(i)` is the i-th request's bytes (i counts across all)."""
    pool = await asyncio.gather(*(connect(port) for _ in range(connections)))
    recorder = Recorder()
    counter = iter(range(1 << 62))
    start = time.perf_counter() + warmup
    end = start + seconds

    async def worker(connection: Connection) -> None:
        while True:
            sent_at = time.perf_counter()
            if sent_at >= end:
                return
            data = requests(next(counter))
            recorder.sent += 1
            try:
                status, body = await connection.request(data)
            except Exception as error:  # the connection is unusable: record, stop this worker
                recorder.error(type(error).__name__, str(error))
                return
            done = time.perf_counter()
            problem = check(status, body)
            if problem is not None:
                recorder.error(problem, body.decode(errors="replace"))
            elif sent_at >= start and done <= end:
                recorder.completed_in_window += 1
                recorder.latencies.append(done - sent_at)

    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker(c) for c in pool)), warmup + seconds + DRAIN_SECONDS
        )
    except TimeoutError:
        recorder.error("timeout", "answers still pending after the drain")
    finally:
        for connection in pool:
            connection.close()
    return RunResult(
        mode="closed",
        seconds=seconds,
        completed=recorder.completed_in_window,
        per_second=round(recorder.completed_in_window / seconds, 1),
        latencies=recorder.latencies,
        errors=dict(recorder.errors),
        error_samples=recorder.error_samples,
        extra={"connections": connections, "sent": recorder.sent},
    )


async def open_loop(
    port: int,
    requests: Callable[[int], bytes],
    check: Check,
    rate: float,
    warmup: float,
    seconds: float,
    initial_connections: int = 8,
    max_connections: int = 256,
) -> RunResult:
    """Requests due every 1/`rate` s for `warmup` + `seconds`; the latencies of those due
    after the warm-up are kept, each from its due time to its last byte. Idle connections
    are reused; a new one is opened when none is idle (up to `max_connections`, beyond
    which requests wait for one: that wait counts in their latency)."""
    idle: collections.deque[Connection] = collections.deque(
        await asyncio.gather(*(connect(port) for _ in range(initial_connections)))
    )
    opened = len(idle)
    backlog: collections.deque[tuple[int, float]] = collections.deque()
    recorder = Recorder()
    lags: list[float] = []
    pending: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter() + 0.05
    start = t0 + warmup
    total = int((warmup + seconds) * rate)

    async def serve(connection: Connection, index: int, due: float) -> None:
        nonlocal opened
        while True:
            sent_at = time.perf_counter()
            lags.append(sent_at - due)
            # From the due time (a late send counts in the latency), or from the send when
            # the timer woke up a little early (uvloop's timers have 1 ms resolution).
            started = min(due, sent_at)
            recorder.sent += 1
            try:
                status, body = await connection.request(requests(index))
            except Exception as error:
                recorder.error(type(error).__name__, str(error))
                opened -= 1
                return
            done = time.perf_counter()
            problem = check(status, body)
            if problem is not None:
                recorder.error(problem, body.decode(errors="replace"))
            elif due >= start:
                recorder.completed_in_window += 1
                recorder.latencies.append(done - started)
            if not backlog:
                idle.append(connection)
                return
            index, due = backlog.popleft()

    async def open_and_serve(index: int, due: float) -> None:
        try:
            connection = await connect(port)
        except Exception as error:
            recorder.error(type(error).__name__, str(error))
            return
        await serve(connection, index, due)

    def launch(coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        pending.add(task)
        task.add_done_callback(pending.discard)

    for index in range(total):
        due = t0 + index / rate
        ahead = due - time.perf_counter()
        if ahead > 0.0005:
            await asyncio.sleep(ahead)
        if idle:
            launch(serve(idle.popleft(), index, due))
        elif opened < max_connections:
            opened += 1
            launch(open_and_serve(index, due))
        else:
            backlog.append((index, due))
    if pending:
        _, late = await asyncio.wait(pending, timeout=DRAIN_SECONDS)
        for task in late:
            task.cancel()
        if late or backlog:
            recorder.error("timeout", f"{len(late) + len(backlog)} answers not in after drain")
    for connection in idle:
        connection.close()
    lags.sort()
    return RunResult(
        mode="open",
        seconds=seconds,
        completed=recorder.completed_in_window,
        per_second=round(recorder.completed_in_window / seconds, 1),
        latencies=recorder.latencies,
        errors=dict(recorder.errors),
        error_samples=recorder.error_samples,
        extra={
            "rate": round(rate, 1),
            "connections_opened": opened,
            "sent": recorder.sent,
            # How late the generator itself sent requests (its own lag, not the server's).
            "send_lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2) if lags else None,
        },
    )


def round_robin(items: Sequence[bytes]) -> Callable[[int], bytes]:
    count = len(items)
    return lambda i: items[i % count]
