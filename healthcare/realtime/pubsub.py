"""The one place that talks to pub/sub (through the backends of `backends`): the
listening connection and its recovery, readiness, channels, publish, and resumable streams.

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from healthcare.ops import metrics
from healthcare.realtime.backends import HEALTH_TIMEOUT_SECONDS, Backend, backend_for

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0
PUBLISH_TIMEOUT_SECONDS = 2.0
PROBE_INTERVAL_SECONDS = 0.5
GRACE_SECONDS = 5.0
FIRST_RETRY_SECONDS = 0.1
LAST_RETRY_SECONDS = 5.0
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


def video_calls_channel(user_id: uuid.UUID) -> str:
    return f"video_calls.{user_id}"


def call_signals_channel(call_id: uuid.UUID) -> str:
    return f"call_signals.{call_id}"


SESSIONS_CHANNEL = "sessions.revoked"
# Every instance listens here: a message says "catch up from the database" (after a
# publish failed, the doorbells it could not ring).
RESYNC_CHANNEL = "pubsub.resync"


@dataclass(frozen=True)
class Resync:
    """Said to every subscription when events published after `since` may not have been
    heard (the listener was lost, or a publish failed): each catches up from the
    database by itself. `since` is None for the catch-up a stream makes at its start."""

    since: datetime | None


START = Resync(since=None)
Message = dict[str, Any] | Resync


class PubSub:
    """One listening connection per process, watched, and the subscriptions it feeds.

    The backend reports a lost listening connection (a dropped or killed connection, a
    restarted server, a missed health check: within `HEALTH_TIMEOUT_SECONDS`); then
    `PubSub` reconnects with backoff, subscribes every channel again, and says `Resync`
    to every subscription, so each catches up from the database by itself. Readiness
    (`is_live`) is false while the listener is not subscribed; if it stays so for
    `grace_seconds`, `lost()` returns, and sockets close with 1013.

    A publish that fails opens a breaker: later publishes fail at once (the change is
    committed) until a ping in the background gets an answer. Then the doorbells that
    were not rung are made up for: a message on `RESYNC_CHANNEL` has every instance say
    `Resync` to every subscription.
    """

    def __init__(self, url: str, grace_seconds: float = GRACE_SECONDS) -> None:
        self.url = url
        self._grace_seconds = grace_seconds
        self._backend: Backend = backend_for(url)
        self._subscriptions: dict[str, set[asyncio.Queue[Message]]] = {}
        self._listening: set[str] = set()  # channels the listening connection has
        self._lock = asyncio.Lock()  # the listening connection's channels change one at a time
        self._subscribed = asyncio.Event()
        self._lost = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._publish_failed_since: datetime | None = None
        self._publish_probe: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        """Connect and listen; raises if the server cannot be reached at start."""
        await self._backend.connect()
        await self._backend.subscribe(RESYNC_CHANNEL)
        self._set_subscribed(True)
        self._listener = asyncio.create_task(self._listen(), name="pubsub-listener")

    async def disconnect(self) -> None:
        for task in (self._listener, self._publish_probe, *self._retiring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._backend.disconnect()
        self._set_subscribed(False)

    async def is_live(self) -> bool:
        """Whether the listening connection is subscribed now (what `/readyz` reports)."""
        return self._subscribed.is_set()

    async def lost(self) -> None:
        """Returns when pub/sub has been unreachable for the grace period (at once if so)."""
        await self._lost.wait()

    def listening(self, channel: str) -> bool:
        """Whether the listening connection is subscribed to `channel` now."""
        return channel in self._listening and self._subscribed.is_set()

    async def is_ready(self) -> bool:
        """Whether the pub/sub server answers now (always true for memory://)."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await self._backend.ping()
            return True
        except Exception as error:
            logger.warning("pub/sub is not reachable (%s)", type(error).__name__)
            return False

    # ---- listening ----------------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            try:
                while True:
                    event = await self._backend.next_published()
                    self._deliver(event.channel, event.message)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("pub/sub listener lost (%r): reconnecting", error)
            await self._reconnect()

    def _deliver(self, channel: str, message: str) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            logger.warning("ignored a pub/sub message that is not a JSON object on %s", channel)
            return
        if channel == RESYNC_CHANNEL:
            self._resync_all(_parse_since(event.get("since")))
            return
        for queue in self._subscriptions.get(channel, ()):
            queue.put_nowait(event)

    def _resync_all(self, since: datetime) -> None:
        told = 0
        for queues in self._subscriptions.values():
            for queue in queues:
                queue.put_nowait(Resync(since))
                told += 1
        metrics.PUBSUB_RESYNCS.inc(told)
        logger.info("pub/sub: %d subscriptions catch up from the database", told)

    async def _reconnect(self) -> None:
        # The listener may have been deaf for up to the health timeout before this.
        since = _now() - timedelta(seconds=HEALTH_TIMEOUT_SECONDS)
        self._set_subscribed(False)
        async with self._lock:  # nothing is subscribed now: ending subscriptions skip it
            self._listening = set()
        await self._backend.drop_listener()  # its publisher goes on until a fresh one is in
        grace = asyncio.get_running_loop().call_later(self._grace_seconds, self._lost.set)
        try:
            await self._connect_fresh()
        finally:
            grace.cancel()
        if self._lost.is_set():
            self._lost = asyncio.Event()
        metrics.PUBSUB_RECONNECTS.inc()
        self._resync_all(since)

    async def _connect_fresh(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while True:
            fresh = backend_for(self.url)
            swapped = False
            try:
                async with asyncio.timeout(2 * READY_TIMEOUT_SECONDS):
                    await fresh.connect()
                    await fresh.subscribe(RESYNC_CHANNEL)
                async with self._lock:
                    for channel in list(self._subscriptions):
                        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                            await fresh.subscribe(channel)
                    stale, self._backend = self._backend, fresh
                    swapped = True
                    self._listening = set(self._subscriptions)
                    self._set_subscribed(True)
                self._retire(stale)
                return
            except Exception as error:
                logger.warning("pub/sub reconnection failed (%r): retrying in %.1f s", error, delay)
            finally:
                if not swapped:
                    await fresh.disconnect()
            await asyncio.sleep(delay)
            delay = min(2 * delay, LAST_RETRY_SECONDS)

    def _retire(self, stale: Backend) -> None:
        """Close a replaced backend's publisher once publishes begun on it have ended."""

        async def retire() -> None:
            try:
                await asyncio.sleep(PUBLISH_TIMEOUT_SECONDS)
            finally:
                await stale.disconnect()

        task = asyncio.create_task(retire(), name="pubsub-retire")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _set_subscribed(self, subscribed: bool) -> None:
        if subscribed:
            self._subscribed.set()
        else:
            self._subscribed.clear()
        metrics.PUBSUB_SUBSCRIBED.set(1 if subscribed else 0)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        """The channel's events, and `Resync` whenever some may have gone unheard, while
        the block runs. Subscribing while pub/sub is lost is fine: the channel is
        subscribed when it is back (and `Resync` said)."""
        queue: asyncio.Queue[Message] = asyncio.Queue()
        await self._add(channel, queue)
        try:
            yield self._drain(queue)
        finally:
            await self._remove(channel, queue)

    @staticmethod
    async def _drain(queue: asyncio.Queue[Message]) -> AsyncIterator[Message]:
        while True:
            yield await queue.get()

    async def _add(self, channel: str, queue: asyncio.Queue[Message]) -> None:
        async with self._lock:
            queues = self._subscriptions.setdefault(channel, set())
            queues.add(queue)
            if channel in self._listening or not self._subscribed.is_set():
                return  # already heard, or subscribed when pub/sub is back
            try:
                async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                    await self._backend.subscribe(channel)
                self._listening.add(channel)
            except Exception as error:
                # Not subscribed: never leave a deaf subscription; reconnect, which
                # subscribes every channel again.
                logger.warning("pub/sub subscribe failed (%r): reconnecting", error)
                await self._backend.drop_listener()

    async def _remove(self, channel: str, queue: asyncio.Queue[Message]) -> None:
        queues = self._subscriptions.get(channel, set())
        queues.discard(queue)  # at once: even if cancelled below, nothing is kept for it
        async with self._lock:
            if queues or self._subscriptions.get(channel) is not queues:
                return
            del self._subscriptions[channel]
            if channel not in self._listening:
                return
            self._listening.discard(channel)
            with contextlib.suppress(Exception):  # lost meanwhile: nothing left to undo
                async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                    await self._backend.unsubscribe(channel)

    # ---- publishing ---------------------------------------------------------------------

    async def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        """Raises `PublishUnavailable` at once while the breaker is open."""
        if self._publish_failed_since is not None:
            raise PublishUnavailable("a publish failed and the server has not answered since")
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await self._backend.publish(channel, json.dumps(dict(event)))
        except Exception:
            if self._publish_failed_since is None:
                self._publish_failed_since = _now()
                self._publish_probe = asyncio.create_task(self._probe(), name="pubsub-probe")
            raise

    async def _probe(self) -> None:
        """Until the server answers: then every instance catches up on what this one
        could not announce, and publishing resumes."""
        assert self._publish_failed_since is not None
        resync = json.dumps({"since": self._publish_failed_since.isoformat()})
        while True:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            try:
                async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                    await self._backend.ping()
                    await self._backend.publish(RESYNC_CHANNEL, resync)
            except Exception as error:
                logger.debug("pub/sub still does not answer (%r)", error)
                continue
            self._publish_failed_since = None
            return


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_since(value: object) -> datetime:
    """A resync's `since`; when it cannot be read, a generous one."""
    try:
        since = datetime.fromisoformat(str(value))
    except ValueError:
        return _now() - timedelta(minutes=5)
    return since if since.tzinfo else since.replace(tzinfo=UTC)


class PublishUnavailable(Exception):
    """A publish failed recently and the server has not answered since."""


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
        await _current.publish(channel, event)
    except PublishUnavailable:
        metrics.count_publish_failure(channel)
    except Exception as error:  # pub/sub down or slow: the database already has the change
        logger.warning("could not publish on %s (%r)", channel.split(".")[0], error)
        metrics.count_publish_failure(channel)


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
    late one (a number already delivered) is skipped without a read. After a `Resync`
    (events may have gone unheard) it reads what it missed, page after page until none
    is left.
    """
    async with current().subscribe(channel) as events:
        async for event in starting(events):  # the start is a catch-up too
            if isinstance(event, Resync):
                while rows := await fetch_after(after, None):
                    for row in rows:
                        after = seq_of(row)
                        yield row
                    if event is START:
                        break  # one read at the start, as a resumed client asked
                continue
            announced = _announced_seq(event)
            if announced is not None and announced <= after:
                continue
            for row in await fetch_after(after, announced):
                after = seq_of(row)
                yield row


async def starting(events: AsyncIterator[Message]) -> AsyncIterator[Message]:
    """A subscription's events after `START`: a reader that catches up on `Resync`
    catches up once it has subscribed, too, so nothing said before is missed."""
    yield START
    async for event in events:
        yield event


def _announced_seq(event: Mapping[str, Any]) -> int | None:
    try:
        return int(event["seq"])
    except (KeyError, TypeError, ValueError):
        return None


async def doorbells(channel: str) -> AsyncIterator[dict[str, Any]]:
    """Live events of a channel, for streams that are live only (typing, receipts): what
    was said while pub/sub was lost is gone, and `Resync` is not passed on."""
    async with current().subscribe(channel) as events:
        async for event in events:
            if not isinstance(event, Resync):
                yield event
