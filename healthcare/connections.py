"""The life of a GraphQL WebSocket after its handshake.

A socket is closed when what let it in ends:
- its access token expires: 4401, so the client refreshes and reconnects;
- its session is revoked (logout, password or role change, deactivation): 4401;
- pub/sub is lost: 1013 (try again later), so the client reconnects and resumes from
  the last sequence number it saw once pub/sub is back; nothing is lost meanwhile,
  because every event is also a database row.
On shutdown uvicorn closes every socket with 1012 (service restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import datetime

from starlette.websockets import WebSocket, WebSocketState

from healthcare import metrics, pubsub
from healthcare.auth import Viewer, utcnow

logger = logging.getLogger(__name__)

TOKEN_EXPIRED = 4401
SESSION_ENDED = 4401
PUBSUB_LOST = 1013


class ConnectionGuard:
    """Watches one socket; `arm()` it once the handshake has named the viewer."""

    def __init__(self) -> None:
        self._armed = asyncio.Event()
        self._websocket: WebSocket | None = None
        self._viewer: Viewer | None = None

    def arm(self, websocket: WebSocket, viewer: Viewer) -> None:
        self._websocket = websocket
        self._viewer = viewer
        self._armed.set()

    async def watch(self) -> None:
        await self._armed.wait()
        assert self._websocket is not None and self._viewer is not None
        watchers = [asyncio.ensure_future(self._pubsub_lost())]
        if self._viewer.expires_at is not None:
            watchers.append(asyncio.ensure_future(self._expiry(self._viewer.expires_at)))
        if self._viewer.session_id is not None:
            watchers.append(asyncio.ensure_future(self._revocation(str(self._viewer.session_id))))
        try:
            done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
            code, reason = next(iter(done)).result()
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        websocket = self._websocket
        if websocket is None or websocket.application_state != WebSocketState.CONNECTED:
            return
        logger.info("closing websocket", extra={"close_code": code, "reason": reason})
        with contextlib.suppress(RuntimeError, OSError):  # the client left meanwhile
            await websocket.close(code=code, reason=reason)

    @staticmethod
    async def _expiry(expires_at: datetime) -> tuple[int, str]:
        await asyncio.sleep(max(0.0, (expires_at - utcnow()).total_seconds()))
        return TOKEN_EXPIRED, "Access token expired"

    @staticmethod
    async def _revocation(session_id: str) -> tuple[int, str]:
        async for event in pubsub.doorbells(pubsub.SESSIONS_CHANNEL):
            if session_id in event.get("session_ids", []):
                return SESSION_ENDED, "Session ended"
        await asyncio.Event().wait()  # the stream ended: pub/sub loss is watched elsewhere
        raise AssertionError("unreachable")

    @staticmethod
    async def _pubsub_lost() -> tuple[int, str]:
        await pubsub.lost()
        return PUBSUB_LOST, "Live updates unavailable; reconnect"


async def guarded(guard: ConnectionGuard, connection: Awaitable[None]) -> None:
    """Run a WebSocket connection with its guard beside it."""
    watcher = asyncio.ensure_future(guard.watch())
    metrics.WEBSOCKETS.inc()
    try:
        await connection
    finally:
        metrics.WEBSOCKETS.dec()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
