"""A counting proxy between a server and PostgreSQL: what SQL really went over the wire.

    proxy = StatementCounter(upstream_port=5432); await proxy.start()
    # point the server's DATABASE_URL at 127.0.0.1:proxy.port, send one request, then
    proxy.since(mark)  # every statement executed since `mark = proxy.mark()`

It reads the frontend (client to server) half of the protocol and passes both halves
through unchanged. A statement execution is an Execute message (extended protocol:
Parse names a statement, Bind binds it to a portal, Execute runs it) or one statement
of a simple Query message; a round trip is a Sync or a simple Query, where the client
waits for the server. Nothing is sampled or assumed: each is counted as it passes.
PostgreSQL's own counters (pg_stat_statements) need a server restart to load; this
needs nothing. SSL is refused (the client falls back to plain TCP, as `sslmode=prefer`
does), so that the messages can be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
BUFFER = 1 << 16


@dataclass(frozen=True)
class Event:
    kind: str  # "execute" (one statement run), "sync" (a round trip ends), "query" (simple)
    sql: str


def _cstring(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode("utf-8", "replace"), end + 1


def simple_statements(sql: str) -> list[str]:
    """The statements of a simple Query (asyncpg's pool reset sends several at once)."""
    return [part.strip() for part in sql.split(";") if part.strip()]


# asyncpg looks up the types of a statement it has not met on a connection before (with
# JIT off meanwhile): once per pooled connection, not once per request.
ASYNCPG_INTROSPECTION = ("typeinfo_tree", "set_config('jit'", "current_setting('jit')")


def classify(sql: str) -> str:
    """What a statement is for, to read a count at a glance."""
    text = re.sub(r"\s+", " ", sql).strip()
    head = text.split(" ", 1)[0].upper() if text else ""
    if head in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"} or text.upper().startswith(
        "START TRANSACTION"
    ):
        return "transaction"
    if head in {"RESET", "CLOSE", "UNLISTEN"} or "pg_advisory_unlock_all" in text:
        return "pool reset"
    if any(mark in text for mark in ASYNCPG_INTROSPECTION):
        return "connection setup"
    if head in {"INSERT", "COPY"} and "audit_events" in text:
        return "audit write"
    if head in {"INSERT", "UPDATE", "DELETE"}:
        return "write"
    if head in {"SELECT", "WITH"} and "auth_sessions" in text:
        return "authentication"
    if head in {"SELECT", "WITH"}:
        return "read"
    return "other"


class _Session:
    """One client connection: its statements by name and its portals."""

    def __init__(self, counter: StatementCounter) -> None:
        self.counter = counter
        self.statements: dict[str, str] = {}
        self.portals: dict[str, str] = {}
        self.buffer = bytearray()
        self.started = False

    def feed(self, data: bytes) -> bytes | None:
        """Record the messages in `data`; bytes to answer the client directly, if any."""
        self.buffer += data
        reply = None
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    return reply
                length, code = struct.unpack("!ii", self.buffer[:8])
                if len(self.buffer) < length:
                    return reply
                del self.buffer[:length]
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    reply = b"N"  # no encryption: answered here, not forwarded
                    continue
                self.started = True
                continue
            if len(self.buffer) < 5:
                return reply
            kind = chr(self.buffer[0])
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return reply
            body = bytes(self.buffer[5 : 1 + length])
            del self.buffer[: 1 + length]
            self.message(kind, body)

    def message(self, kind: str, body: bytes) -> None:
        if kind == "P":  # Parse: statement name, query
            name, at = _cstring(body, 0)
            query, _ = _cstring(body, at)
            self.statements[name] = query
        elif kind == "B":  # Bind: portal name, statement name
            portal, at = _cstring(body, 0)
            statement, _ = _cstring(body, at)
            self.portals[portal] = self.statements.get(statement, f"<statement {statement}>")
        elif kind == "E":  # Execute: portal name
            portal, _ = _cstring(body, 0)
            self.counter.record(Event("execute", self.portals.get(portal, "<portal>")))
        elif kind == "S":
            self.counter.record(Event("sync", ""))
        elif kind == "Q":
            query, _ = _cstring(body, 0)
            self.counter.record(Event("query", query))
        elif kind == "C" and body[:1] == b"S":  # Close a statement
            name, _ = _cstring(body, 1)
            self.statements.pop(name, None)


class StatementCounter:
    """The proxy. `port` is where clients connect; the events are kept in order."""

    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 5432) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.events: list[Event] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.tasks: set[asyncio.Task[Any]] = set()

    def record(self, event: Event) -> None:
        self.events.append(event)

    def mark(self) -> int:
        return len(self.events)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def settle(self, quiet: float = 0.05, limit: float = 2.0) -> None:
        """Wait until no message has passed for `quiet` seconds (a pool reset after the
        answer, say), at most `limit` seconds."""
        waited, seen = 0.0, -1
        while waited < limit and seen != len(self.events):
            seen = len(self.events)
            await asyncio.sleep(quiet)
            waited += quiet

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        async def client_to_server() -> None:
            while data := await reader.read(BUFFER):
                reply = session.feed(data)
                if reply is not None:
                    writer.write(reply)
                forwarded = data
                if not session.started or reply is not None:
                    # The SSL request was answered here; forward only what follows it.
                    forwarded = b""
                    if session.started:
                        forwarded = _after_ssl_request(data)
                if forwarded:
                    up_writer.write(forwarded)
                    await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            while data := await up_reader.read(BUFFER):
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await asyncio.gather(client_to_server(), server_to_client())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.tasks.discard(task)
            writer.close()
            up_writer.close()

    def since(self, mark: int) -> list[Event]:
        return self.events[mark:]


def _after_ssl_request(data: bytes) -> bytes:
    """`data` without a leading SSL/GSS request (8 bytes), if it starts with one."""
    if len(data) >= 8 and struct.unpack("!ii", data[:8])[1] in (SSL_REQUEST, GSSENC_REQUEST):
        return data[8:]
    return data


def summarize(events: list[Event]) -> dict[str, Any]:
    """Statement executions and round trips among `events`, by kind and by SQL text."""
    statements: list[str] = []
    round_trips = 0
    for event in events:
        if event.kind == "execute":
            statements.append(event.sql)
        elif event.kind == "sync":
            round_trips += 1
        else:
            round_trips += 1
            statements += simple_statements(event.sql)
    kinds = Counter(classify(sql) for sql in statements)
    by_sql = Counter(re.sub(r"\s+", " ", sql).strip()[:240] for sql in statements)
    return {
        "statements": len(statements),
        "round_trips": round_trips,
        "by_kind": dict(kinds.most_common()),
        "queries": sum(n for kind, n in kinds.items() if kind not in {"transaction", "pool reset"}),
        "sql": [{"count": n, "sql": sql} for sql, n in by_sql.most_common()],
    }
