"""Pub/sub backends that say when they stop hearing: broadcaster's interface
(`BroadcastBackend`), on redis-py's asyncio client and on asyncpg.

broadcaster's own backends neither notice a lost listening connection nor report it: its
Redis backend goes deaf for good after a blip or `CLIENT KILL TYPE pubsub`, and its
PostgreSQL backend LISTENs and NOTIFYs on one shared connection ("another operation is in
progress"). These keep broadcaster's methods and add one promise and one method:

- `next_published()` raises `ListenerLost` when the listening connection is gone or stops
  answering its health check (a ping every `HEALTH_INTERVAL_SECONDS`, lost after
  `HEALTH_TIMEOUT_SECONDS` without a word), so `PubSub` can reconnect;
- `ping()` says whether the publishing side answers (for `PubSub`'s publish breaker);
- `drop_listener()` closes the listening side only (its `next_published()` then raises,
  never hangs), so publishing goes on while `PubSub` connects a fresh instance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, cast
from urllib.parse import urlparse

import asyncpg
from broadcaster import BroadcastBackend, Event
from broadcaster._backends.memory import MemoryBackend as BroadcasterMemoryBackend
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CONNECT_TIMEOUT_SECONDS = 2.0
HEALTH_INTERVAL_SECONDS = 1.0
HEALTH_TIMEOUT_SECONDS = 3.0
PUBLISH_POOL_SIZE = 4


class ListenerLost(Exception):
    """The listening connection is gone, or did not answer its health check in time."""


class MemoryBackend(BroadcasterMemoryBackend):
    """One process, nothing to lose: broadcaster's, with a `ping` that always answers."""

    async def ping(self) -> None:
        return None

    async def drop_listener(self) -> None:
        return None


class RedisBackend(BroadcastBackend):
    """Publishes through a pooled client; listens on one pub/sub connection of its own,
    which is pinged and, at its first error, reported lost (redis-py would otherwise
    reconnect it quietly, and what was published meanwhile would go unnoticed)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._publisher = aioredis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
        self._listener: aioredis.Redis | None = None
        self._pubsub: Any = None  # redis.asyncio.client.PubSub
        self._last_heard = 0.0
        self._last_ping = 0.0
        self._closed = False

    async def connect(self) -> None:
        self._listener = aioredis.from_url(
            self._url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),  # an error is reported, not retried behind our back
        )
        self._pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.ping()  # opens the connection now: fails if Redis is not there
        self._last_ping = self._last_heard = asyncio.get_running_loop().time()

    async def drop_listener(self) -> None:
        self._closed = True
        for closing in (self._pubsub, self._listener):
            if closing is not None:
                with contextlib.suppress(Exception):  # the server may be gone already
                    await closing.aclose()

    async def disconnect(self) -> None:
        await self.drop_listener()
        with contextlib.suppress(Exception):
            await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def ping(self) -> None:
        await cast(Awaitable[bool], self._publisher.ping())

    async def next_published(self) -> Event:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ListenerLost("disconnected")
            try:
                if loop.time() - self._last_ping >= HEALTH_INTERVAL_SECONDS:
                    self._last_ping = loop.time()
                    await self._pubsub.ping()
                message = await self._pubsub.get_message(timeout=HEALTH_INTERVAL_SECONDS)
            except Exception as error:  # connection reset, refused, closed under us
                raise ListenerLost(type(error).__name__) from error
            if message is None:  # read nothing for a while: judged only after reading
                if loop.time() - self._last_heard > HEALTH_TIMEOUT_SECONDS:
                    raise ListenerLost("no answer to the health check")
                continue
            self._last_heard = loop.time()  # any reply, a pong included, proves it listens
            if message["type"] == "message":
                return Event(channel=message["channel"].decode(), message=message["data"].decode())


_LOST = object()


class PostgresBackend(BroadcastBackend):
    """LISTENs on one dedicated connection (its operations one at a time, under a lock)
    and NOTIFYs through a small pool of others, so publishing never waits for, or
    interferes with, listening."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._listen: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._received: asyncio.Queue[Any] = asyncio.Queue()

    async def connect(self) -> None:
        self._listen = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_SECONDS)
        self._listen.add_termination_listener(self._on_termination)
        self._pool = await asyncpg.create_pool(
            self._url, min_size=1, max_size=PUBLISH_POOL_SIZE, timeout=CONNECT_TIMEOUT_SECONDS
        )

    async def drop_listener(self) -> None:
        self._received.put_nowait(_LOST)
        await self._close(self._listen)

    async def disconnect(self) -> None:
        await self.drop_listener()
        await self._close(self._pool)

    @staticmethod
    async def _close(closing: asyncpg.Connection | asyncpg.Pool | None) -> None:
        if closing is not None:
            with contextlib.suppress(Exception):  # the server may be gone already
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    await closing.close()

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            await self._listening().add_listener(channel, self._on_notification)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            await self._listening().remove_listener(channel, self._on_notification)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publishing().execute("SELECT pg_notify($1, $2)", channel, message)

    async def ping(self) -> None:
        if self._pool is None:  # not connected: can the server be reached at all?
            connection = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_SECONDS)
            await connection.close()
            return
        await self._pool.fetchval("SELECT 1")

    async def next_published(self) -> Event:
        while True:
            try:
                async with asyncio.timeout(HEALTH_INTERVAL_SECONDS):
                    received = await self._received.get()
            except TimeoutError:  # quiet: is the listening connection still there?
                try:
                    async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), self._lock:
                        await self._listening().fetchval("SELECT 1")
                except Exception as error:
                    raise ListenerLost(type(error).__name__) from error
                continue
            if received is _LOST:
                raise ListenerLost("the listening connection ended")
            assert isinstance(received, Event)
            return received

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._received.put_nowait(Event(channel=channel, message=payload))

    def _on_termination(self, connection: Any) -> None:
        self._received.put_nowait(_LOST)

    def _listening(self) -> asyncpg.Connection:
        if self._listen is None:
            raise ListenerLost("not connected")
        return self._listen

    def _publishing(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ListenerLost("not connected")
        return self._pool


Backend = MemoryBackend | RedisBackend | PostgresBackend


def backend_for(url: str) -> Backend:
    scheme = urlparse(url).scheme
    if scheme in ("redis", "rediss"):
        return RedisBackend(url)
    if scheme in ("postgres", "postgresql"):
        return PostgresBackend(url)
    if scheme == "memory":
        return MemoryBackend(url)
    raise ValueError(f"BROADCAST_URL: unsupported scheme {scheme!r}")
