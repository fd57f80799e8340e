"""The one place that talks to broadcaster: connection, readiness, channels, publish, and
resumable streams.

The database is the source of truth; pub/sub is only a doorbell. Events carry ids and
sequence numbers, never health data. A stream subscribes first and reads the database
second, so nothing committed between the two is missed, and it reads by sequence number,
so nothing is delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import asyncpg
from broadcaster import Broadcast
from redis import asyncio as aioredis

from healthcare.ops.metrics import count_publish_failure

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0
MONITOR_INTERVAL_SECONDS = 1.0
PUBLISH_TIMEOUT_SECONDS = 2.0
T = TypeVar("T")


def notifications_channel(user_id: uuid.UUID) -> str:
    return f"notifications.{user_id}"


def appointments_channel(user_id: uuid.UUID) -> str:
    return f"appointments.{user_id}"


def conversation_channel(conversation_id: uuid.UUID) -> str:
    return f"conversation.{conversation_id}"


def typing_channel(conversation_id: uuid.UUID) -> str:
    return f"typing.{conversation_id}"


def receipts_channel(conversation_id: uuid.UUID) -> str:
    return f"receipts.{conversation_id}"


SESSIONS_CHANNEL = "sessions.revoked"


class PubSub:
    """broadcaster, watched: broadcaster neither notices a dropped Redis connection nor
    reconnects (its issues 142 and 144), so a monitor pings the server, reports the loss
    (`lost()`), and starts a fresh broadcaster once the server answers again."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast = Broadcast(url)
        self._redis = aioredis.from_url(url) if url.startswith("redis://") else None
        self._lost = asyncio.Event()
        self._monitor: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self._broadcast.connect()
        if not self.url.startswith("memory://"):
            self._monitor = asyncio.create_task(self._watch())

    async def disconnect(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
        with contextlib.suppress(Exception):  # the server may be gone already
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await self._broadcast.disconnect()
        if self._redis is not None:
            await self._redis.aclose()

    async def is_live(self) -> bool:
        """Reachable, and subscribed through a broadcaster that is not stale."""
        return not self._lost.is_set() and await self.is_ready()

    async def lost(self) -> None:
        """Returns when pub/sub is found unreachable (at once if it is now)."""
        await self._lost.wait()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(MONITOR_INTERVAL_SECONDS)
            ready = await self.is_ready()
            if not ready and not self._lost.is_set():
                logger.warning("pub/sub lost: closing live connections with 1013")
                self._lost.set()
            elif ready and self._lost.is_set():
                try:
                    await self._restart()
                except Exception:  # not back after all: try again at the next ping
                    logger.warning("pub/sub restart failed", exc_info=True)
                    continue
                self._lost = asyncio.Event()
                logger.info("pub/sub is back")

    async def _restart(self) -> None:
        fresh = Broadcast(self.url)
        await fresh.connect()
        stale, self._broadcast = self._broadcast, fresh
        with contextlib.suppress(Exception):
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await stale.disconnect()

    async def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        await self._broadcast.publish(channel=channel, message=json.dumps(dict(event)))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        async with self._broadcast.subscribe(channel=channel) as subscriber:
            yield self._decode(subscriber)

    @staticmethod
    async def _decode(subscriber: Any) -> AsyncIterator[dict[str, Any]]:
        async for event in subscriber:
            if event is None:  # broadcaster's end of stream
                return
            yield json.loads(event.message)

    async def is_ready(self) -> bool:
        """Whether the pub/sub server answers now (always true for memory://)."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                if self._redis is not None:
                    return bool(await cast(Awaitable[bool], self._redis.ping()))
                if self.url.startswith("postgres://"):
                    connection = await asyncpg.connect(self.url)
                    await connection.close()
                return True
        except (OSError, TimeoutError, asyncpg.PostgresError, aioredis.RedisError):
            logger.warning("pub/sub at %s is not reachable", self.url.split("@")[-1])
            return False


# The app's instance, set by its lifespan: resolvers publish through the module functions.
_current: PubSub | None = None


def install(instance: PubSub | None) -> None:
    global _current
    _current = instance


def current() -> PubSub:
    if _current is None:
        raise RuntimeError("pub/sub is not connected (the app's lifespan installs it)")
    return _current


async def lost() -> None:
    """Returns when pub/sub is lost; never, outside a server."""
    if _current is None:
        await asyncio.Event().wait()
    else:
        await _current.lost()


async def publish(channel: str, event: Mapping[str, Any]) -> None:
    """Ring the doorbell. A failure is logged, never raised: the change is committed, and
    subscribers catch up from the database when they resume. Outside a server (the CLI
    seeding demo data) there is no pub/sub and nobody to ring for."""
    if _current is None:
        return
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
            await current().publish(channel, event)
    except Exception:  # pub/sub down or slow: the database already has the change
        logger.warning("could not publish on %s", channel.split(".")[0], exc_info=True)
        count_publish_failure(channel)


async def stream(
    channel: str,
    after: int,
    fetch_after: Callable[[int, int | None], Awaitable[Sequence[T]]],
    seq_of: Callable[[T], int],
) -> AsyncIterator[T]:
    """Rows with a sequence number above `after`: first what was missed, then live.

    `fetch_after(n, announced)` returns the rows numbered above n, in order, checked
    against the subscriber's permissions; `announced` is the number the doorbell carried
    (None for the catch-up read), for a reader that keeps recent rows at hand. Each
    doorbell triggers one such read, so a lost event costs nothing, and a duplicate or
    late one (a number already delivered) is skipped without a read.
    """
    async with current().subscribe(channel) as events:
        for row in await fetch_after(after, None):
            after = seq_of(row)
            yield row
        async for event in events:
            announced = _announced_seq(event)
            if announced is not None and announced <= after:
                continue
            for row in await fetch_after(after, announced):
                after = seq_of(row)
                yield row


def _announced_seq(event: Mapping[str, Any]) -> int | None:
    try:
        return int(event["seq"])
    except (KeyError, TypeError, ValueError):
        return None


async def doorbells(channel: str) -> AsyncIterator[dict[str, Any]]:
    """Live events of a channel, for streams that are not numbered (typing, state)."""
    async with current().subscribe(channel) as events:
        async for event in events:
            yield event
