"""The one place that talks to broadcaster: connection, readiness, publish, subscribe.

The database is the source of truth; pub/sub is only a doorbell. Events carry ids,
never health data.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from broadcaster import Broadcast
from redis import asyncio as aioredis

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0


class PubSub:
    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast = Broadcast(url)
        self._redis = aioredis.from_url(url) if url.startswith("redis://") else None

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, channel: str, event: Mapping[str, str]) -> None:
        await self._broadcast.publish(channel=channel, message=json.dumps(dict(event)))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, str]]]:
        async with self._broadcast.subscribe(channel=channel) as subscriber:
            yield self._decode(subscriber)

    @staticmethod
    async def _decode(subscriber: Any) -> AsyncIterator[dict[str, str]]:
        async for event in subscriber:
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
