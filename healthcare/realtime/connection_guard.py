"""The life of a GraphQL WebSocket, from its handshake to its close.

A socket is let in only while its client address holds fewer than
`WS_MAX_CONNECTIONS_PER_ADDRESS` sockets (HTTP 429 otherwise). Its first `connection_init`
names its viewer, once: a second one closes it (4429), whatever the protocol, so the
viewer the guard watches is the viewer every operation on the socket runs as.

It is closed when what let it in ends:
- no `connection_init` in time: 4408;
- signed out (initialised without a token) and still so after
  `WS_ANONYMOUS_IDLE_SECONDS`: 4401 (it can run nothing: every subscription needs a user);
- its access token expires: 4401, so the client refreshes and reconnects;
- its session is revoked (logout, password or role change, deactivation): 4401;
- its session is found revoked when pub/sub comes back after a loss (a revocation said
  meanwhile was not heard): 4401;
- pub/sub stays lost for its grace period: 1013 (try again later), so the client
  reconnects and resumes from the last sequence number it saw once pub/sub is back;
  nothing is lost meanwhile, because every event is also a database row (a shorter loss
  is healed in place: every subscription catches up by itself);
- the guard itself fails: 1011. A socket nobody watches is closed, never left open.
On shutdown uvicorn closes every socket with 1012 (service restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Iterator
from datetime import datetime, timedelta

from starlette.websockets import WebSocket, WebSocketState

from healthcare.ops import metrics
from healthcare.realtime import pubsub
from healthcare.security.auth import Viewer, session_is_live, utcnow

logger = logging.getLogger(__name__)

NO_CONNECTION_INIT = 4408
TOKEN_EXPIRED = 4401
SESSION_ENDED = 4401
SIGNED_OUT_TOO_LONG = 4401
TOO_MANY_INITIALISATIONS = 4429
PUBSUB_LOST = 1013
GUARD_FAILED = 1011


class ConnectionGuard:
    """Watches one socket: `attach()` the socket strawberry serves, then `arm()` it,
    once, when the handshake has named the viewer."""

    def __init__(self, init_timeout: timedelta, anonymous_idle: timedelta) -> None:
        self._websocket: WebSocket | None = None
        self._init_timeout = init_timeout
        self._anonymous_idle = anonymous_idle
        self._armed = asyncio.Event()
        self._viewer: Viewer | None = None

    def attach(self, websocket: WebSocket) -> None:
        """The socket to close: strawberry's own, which it accepted."""
        self._websocket = websocket

    def arm(self, viewer: Viewer) -> Viewer:
        """The socket's one viewer, from its first `connection_init`. A second one is
        refused before it gets here (4429); arming twice would be a bug."""
        if self._viewer is not None:
            raise RuntimeError("a socket's viewer is named once")
        self._viewer = viewer
        self._armed.set()
        return viewer

    async def watch(self) -> None:
        try:
            async with asyncio.timeout(self._init_timeout.total_seconds()):
                await self._armed.wait()
        except TimeoutError:
            await self.close(NO_CONNECTION_INIT, "Connection initialisation timeout")
            return
        assert self._viewer is not None
        watchers = [asyncio.ensure_future(watcher) for watcher in self._watchers(self._viewer)]
        try:
            done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
            code, reason = next(iter(done)).result()
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        await self.close(code, reason)

    def _watchers(self, viewer: Viewer) -> Iterator[Awaitable[tuple[int, str]]]:
        yield self._pubsub_lost()
        if not viewer.is_authenticated:
            yield self._signed_out_for(self._anonymous_idle)
        if viewer.expires_at is not None:
            yield self._expiry(viewer.expires_at)
        if viewer.session_id is not None:
            yield self._revocation(viewer)

    async def close(self, code: int, reason: str) -> None:
        websocket = self._websocket
        if websocket is None or websocket.application_state != WebSocketState.CONNECTED:
            return
        logger.info("closing websocket", extra={"close_code": code, "reason": reason})
        with contextlib.suppress(RuntimeError, OSError):  # the client left meanwhile
            await websocket.close(code=code, reason=reason)

    @staticmethod
    async def _signed_out_for(idle: timedelta) -> tuple[int, str]:
        await asyncio.sleep(idle.total_seconds())
        return SIGNED_OUT_TOO_LONG, "Sign in to stay connected"

    @staticmethod
    async def _expiry(expires_at: datetime) -> tuple[int, str]:
        await asyncio.sleep(max(0.0, (expires_at - utcnow()).total_seconds()))
        return TOKEN_EXPIRED, "Access token expired"

    @staticmethod
    async def _revocation(viewer: Viewer) -> tuple[int, str]:
        """Ends when the session is revoked: said on pub/sub, or found in the database
        once subscribed (a revocation said before was not heard) and whenever events may
        have gone unheard (`Resync`)."""
        session_id = str(viewer.session_id)
        async with pubsub.current().subscribe(pubsub.SESSIONS_CHANNEL) as events:
            async for event in pubsub.starting(events):
                if isinstance(event, pubsub.Resync):
                    try:
                        if not await session_is_live(viewer):
                            break
                    except Exception as error:  # the database cannot say: fail closed
                        logger.warning("session check failed (%r)", error)
                        return PUBSUB_LOST, "Live updates unavailable; reconnect"
                elif _revokes(event, session_id):
                    break
        return SESSION_ENDED, "Session ended"

    @staticmethod
    async def _pubsub_lost() -> tuple[int, str]:
        await pubsub.lost()
        return PUBSUB_LOST, "Live updates unavailable; reconnect"


def _revokes(event: dict[str, object], session_id: str) -> bool:
    revoked = event.get("session_ids")
    return isinstance(revoked, list) and session_id in revoked


async def guarded(guard: ConnectionGuard, connection: Awaitable[None]) -> None:
    """Run a WebSocket connection with its guard beside it. If the guard ends by failing
    (an error, or cancelled by anyone but this function), the socket is closed with 1011:
    it fails closed."""
    watcher = asyncio.ensure_future(guard.watch())
    watcher.set_name("connection-guard")
    closing: list[asyncio.Task[None]] = []

    def fail_closed(ended: asyncio.Future[None]) -> None:
        if ended.cancelled() or ended.exception() is not None:
            if not ended.cancelled():
                logger.error("connection guard failed", exc_info=ended.exception())
            closing.append(asyncio.ensure_future(guard.close(GUARD_FAILED, "Internal error")))

    watcher.add_done_callback(fail_closed)
    metrics.WEBSOCKETS.inc()
    try:
        await connection
    finally:
        metrics.WEBSOCKETS.dec()
        watcher.remove_done_callback(fail_closed)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await asyncio.gather(*closing, return_exceptions=True)


class SocketsPerAddress:
    """How many sockets each client address holds in this process, against a cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, address: str) -> Iterator[bool]:
        """Count one socket of `address` while the block runs; yields whether it is
        within the cap (a socket over it is counted too, until it is turned away)."""
        self._open[address] += 1
        try:
            yield self._open[address] <= self.limit
        finally:
            self._open[address] -= 1
            if not self._open[address]:
                del self._open[address]
