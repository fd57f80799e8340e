"""The fault suite's clients and bookkeeping: clients that behave like real ones (a socket
that reconnects with backoff and resumes from the last `seq` seen, a sender that retries on
the same `clientId`), a readiness watch, metrics, and the deployment under test.

Nothing here sleeps to wait for something: `eventually` polls a state until a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import websockets
from redis import asyncio as aioredis

from healthcare.demo import DEMO_PASSWORD
from tests.servers import LoggedServer, PostgresCluster, RedisProcess
from tests.wsclient import TRANSPORT_WS

# Generous: the machine is a loaded two-core box.
RECOVERY_SECONDS = 45.0
DELIVERY_SECONDS = 30.0
CLOSE_SECONDS = 20.0
SENDER_PACE_SECONDS = 0.25

SESSION_ENDED = 4401
REFUSED = 4403
PUBSUB_LOST = 1013
RESTARTING = 1012

LOGIN = """
mutation Login($e: String!, $p: String!) {
  login(email: $e, password: $p) { __typename ... on AuthPayload { accessToken } }
}
"""
ME = "query Me { me { id } lastNotificationSeq }"
START_CONVERSATION = """
mutation Start($withUserId: ID!) {
  startConversation(withUserId: $withUserId) {
    __typename ... on ConversationPayload { conversation { id lastSeq } }
  }
}
"""
SEND_MESSAGE = """
mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
    __typename
    ... on MessagePayload { chatMessage { seq clientId } }
    ... on Error { code message }
  }
}
"""
LOGOUT_EVERYWHERE = "mutation Logout { logout(everywhere: true) }"
MESSAGE_ADDED = """
subscription MessageAdded($conversationId: ID!, $afterSeq: Int) {
  messageAdded(conversationId: $conversationId, afterSeq: $afterSeq) { seq clientId }
}
"""
NOTIFICATION_ADDED = """
subscription NotificationAdded($afterSeq: Int) {
  notificationAdded(afterSeq: $afterSeq) { seq kind conversationId }
}
"""


class FaultSuiteError(AssertionError):
    """A condition the fault suite waits for did not hold in time."""


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    seconds: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
) -> float:
    """Poll `check` until it holds; the seconds it took. Fails naming `what` (and, for a
    callable, what it says at the deadline) if it never does."""
    started = time.monotonic()
    deadline = started + seconds
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise FaultSuiteError(f"not within {seconds:.0f} s: {detail}")
        await asyncio.sleep(interval)


# ---- HTTP -----------------------------------------------------------------------------------


class Api:
    """GraphQL over HTTP to whichever instance is named."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))

    async def close(self) -> None:
        await self.http.aclose()

    async def post(
        self, base_url: str, query: str, variables: dict[str, Any] | None, token: str | None
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(
            f"{base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )

    async def execute(
        self,
        base_url: str,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        response = await self.post(base_url, query, variables, token)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        body = response.json()
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    async def login(self, base_url: str, email: str) -> str:
        data = await self.execute(base_url, LOGIN, {"e": email, "p": DEMO_PASSWORD})
        assert data["login"]["__typename"] == "AuthPayload", data
        token: str = data["login"]["accessToken"]
        return token

    async def readyz(self, base_url: str) -> tuple[int, dict[str, Any]]:
        response = await self.http.get(f"{base_url}/readyz", timeout=6.0)
        try:
            body = response.json()
        except ValueError:
            body = {}
        return response.status_code, body

    async def metrics(self, base_url: str, token: str) -> dict[str, float]:
        """Each series without labels, and each labelled series summed under its name."""
        response = await self.http.get(
            f"{base_url}/metrics", headers={"authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, (response.status_code, response.text[:200])
        values: dict[str, float] = {}
        for line in response.text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_and_labels, _, value = line.rpartition(" ")
            name = name_and_labels.split("{", 1)[0]
            with contextlib.suppress(ValueError):
                values[name] = values.get(name, 0.0) + float(value)
        return values


# ---- a live client --------------------------------------------------------------------------


@dataclass
class Stream:
    """One subscription of a client, resumed from `after` on every (re)subscription."""

    key: str
    root_field: str
    query: str
    variables: dict[str, Any]
    after: int
    seqs: list[int] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    completions: int = 0

    def subscribe_payload(self) -> dict[str, Any]:
        return {"query": self.query, "variables": {**self.variables, "afterSeq": self.after}}


class LiveClient:
    """A graphql-transport-ws client as a real front end behaves: one socket, signed in
    with its access token; on 1013, 1012, 1011 or a dropped connection it reconnects with
    backoff (to the next instance when one refuses or is restarting) and subscribes again
    from the last `seq` it saw. 4401 and 4403 end it: it is signed out."""

    def __init__(self, name: str, token: str, urls: list[str], streams: list[Stream]) -> None:
        self.name = name
        self.token = token
        self.urls = urls
        self.url_index = 0
        self.streams = {stream.key: stream for stream in streams}
        self.closes: list[int | None] = []
        self.connects = 0
        self.connected_url: str | None = None
        self.ended: int | None = None
        self.stopping = False
        self._socket: Any = None
        self._generation = 0
        self._resubscribe: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"client {self.name}")

    async def stop(self) -> None:
        self.stopping = True
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    @property
    def connected(self) -> bool:
        return self._socket is not None and self.connected_url is not None

    def stream(self, key: str) -> Stream:
        return self.streams[key]

    def describe(self) -> str:
        state = f"open on {self.connected_url}" if self.connected else "not connected"
        if self.ended is not None:
            state = f"ended with {self.ended}"
        closes = dict(Counter(self.closes))
        streams = ", ".join(
            f"{s.key} at {s.after} ({len(s.seqs)} received, {len(s.errors)} errors"
            + (f": {str(s.errors[-1])[:300]}" if s.errors else "")
            + ")"
            for s in self.streams.values()
        )
        return f"{self.name}: {state}, closes {closes}, {streams}"

    async def _backoff(self, attempt: int) -> None:
        # A real client's reconnection backoff (not a wait for the test's sake).
        delay = min(2.0, 0.1 * 2**attempt)
        await asyncio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311

    async def _run(self) -> None:
        attempt = 0
        while not self.stopping:
            url = self.urls[self.url_index % len(self.urls)]
            try:
                socket = await asyncio.wait_for(
                    websockets.connect(url, subprotocols=[TRANSPORT_WS], open_timeout=10), 15
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                self.url_index += 1  # this instance is gone: the next one
                await self._backoff(attempt)
                attempt += 1
                continue
            code: int | None = None
            try:
                await socket.send(
                    json.dumps(
                        {
                            "type": "connection_init",
                            "payload": {"authorization": f"Bearer {self.token}"},
                        }
                    )
                )
                ack = json.loads(await asyncio.wait_for(socket.recv(), 15))
                if ack.get("type") == "connection_ack":
                    self._socket = socket
                    self.connected_url = url
                    self.connects += 1
                    self._generation += 1
                    for stream in self.streams.values():
                        await self._subscribe(socket, stream)
                    attempt = 0
                    await self._receive(socket)
                await socket.close()
            except (websockets.ConnectionClosed, TimeoutError, OSError):
                pass
            finally:
                self._socket = None
                self.connected_url = None
                code = socket.close_code
            if self.stopping:
                return
            self.closes.append(code)
            if code in (SESSION_ENDED, REFUSED):
                self.ended = code
                return
            if code == RESTARTING:
                self.url_index += 1  # the load balancer sends us to another instance
            await self._backoff(attempt)
            attempt += 1

    async def _subscribe(self, socket: Any, stream: Stream) -> None:
        operation = f"{stream.key}.{self._generation}.{len(stream.errors)}.{stream.completions}"
        await socket.send(
            json.dumps(
                {"id": operation, "type": "subscribe", "payload": stream.subscribe_payload()}
            )
        )

    def _later(self, socket: Any, stream: Stream, failures: int) -> None:
        async def again() -> None:
            await self._backoff(failures)
            if self._socket is socket:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await self._subscribe(socket, stream)

        task = asyncio.create_task(again())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _receive(self, socket: Any) -> None:
        while True:
            message = json.loads(await socket.recv())
            kind = message.get("type")
            if kind == "ping":
                await socket.send(json.dumps({"type": "pong"}))
                continue
            if kind not in {"next", "error", "complete"}:
                continue
            stream = self.streams.get(str(message.get("id", "")).split(".")[0])
            if stream is None:
                continue
            if kind == "next" and not message["payload"].get("errors"):
                seq = int(message["payload"]["data"][stream.root_field]["seq"])
                stream.seqs.append(seq)
                stream.after = max(stream.after, seq)
                continue
            # An error, or a subscription ended by the server: noted; a real client
            # subscribes again from where it was.
            if kind == "complete":
                stream.completions += 1
            else:
                stream.errors.append(message.get("payload"))
            self._later(socket, stream, len(stream.errors) + stream.completions)


# ---- a sender -------------------------------------------------------------------------------


@dataclass
class Acked:
    client_id: str
    seq: int
    seconds: float  # from the first attempt to the answer that acknowledged it
    attempts: int


class Sender:
    """Sends chat messages one after another, as a person typing fast; a failed attempt
    (no answer, HTTP 5xx, a top-level error) is retried with the same `clientId`, on the
    next instance, until acknowledged."""

    def __init__(
        self, api: Api, name: str, token: str, conversation_id: str, urls: list[str]
    ) -> None:
        self.api = api
        self.name = name
        self.token = token
        self.conversation_id = conversation_id
        self.urls = list(urls)
        self.url_index = 0
        self.acked: list[Acked] = []
        self.failed_attempts: list[str] = []
        self.refused: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def send(self, text: str, retry_for: float = 60.0) -> Acked:
        client_id = str(uuid.uuid4())
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            url = self.urls[self.url_index % len(self.urls)]
            outcome: str
            try:
                response = await self.api.post(
                    url,
                    SEND_MESSAGE,
                    {"conversationId": self.conversation_id, "clientId": client_id, "text": text},
                    self.token,
                )
                body = response.json() if response.status_code < 500 else {}
                result = (body.get("data") or {}).get("sendMessage")
                if response.status_code == 200 and result and not body.get("errors"):
                    if result["__typename"] != "MessagePayload":
                        self.refused.append(result)
                        raise AssertionError(f"{self.name}: sendMessage refused: {result}")
                    message = result["chatMessage"]
                    assert message["clientId"] == client_id, (message, client_id)
                    acked = Acked(
                        client_id, int(message["seq"]), time.monotonic() - started, attempts
                    )
                    self.acked.append(acked)
                    return acked
                outcome = f"HTTP {response.status_code}: {response.text[:200]}"
            except (httpx.TransportError, ValueError) as error:
                outcome = f"{type(error).__name__}: {error}"
            self.failed_attempts.append(outcome)
            if time.monotonic() - started > retry_for:
                raise FaultSuiteError(f"{self.name}: not acknowledged in {retry_for} s: {outcome}")
            self.url_index += 1
            await asyncio.sleep(min(1.0, 0.05 * 2**attempts))  # a client's retry backoff

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sender {self.name}")

    async def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            await self.send(f"{self.name} {number}")
            # A person's pace (not a wait for the test's sake): at most a few per second.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SENDER_PACE_SECONDS)

    async def stop(self) -> None:
        """Let the message in flight be acknowledged, then stop; raises what it raised."""
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 90)

    async def cancel(self) -> None:
        self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


# ---- readiness ------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    status: int | None  # None: no answer
    pubsub: bool | None


class ReadinessWatch:
    """Polls /readyz of one instance all along, and keeps what it answered."""

    def __init__(self, api: Api, base_url: str) -> None:
        self.api = api
        self.base_url = base_url
        self.samples: list[Sample] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                status, body = await self.api.readyz(self.base_url)
                pubsub = (body.get("checks") or {}).get("pubsub")
                self.samples.append(Sample(time.monotonic(), status, pubsub))
            except httpx.HTTPError:
                self.samples.append(Sample(time.monotonic(), None, None))
            await asyncio.sleep(0.1)  # the polling interval

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def since(self, moment: float) -> list[Sample]:
        return [sample for sample in self.samples if sample.at >= moment]

    def saw_pubsub_down(self, since: float) -> bool:
        return any(s.status == 503 and s.pubsub is False for s in self.since(since))

    def ready_now(self) -> bool:
        return bool(self.samples) and self.samples[-1].status == 200

    def summary(self, since: float) -> str:
        runs: list[str] = []
        for sample in self.since(since):
            label = f"{sample.status}/{'pubsub' if sample.pubsub else 'no-pubsub'}"
            if not runs or runs[-1].split("x")[0] != label:
                runs.append(f"{label}x1")
            else:
                count = int(runs[-1].split("x")[1]) + 1
                runs[-1] = f"{label}x{count}"
        return " ".join(runs)


# ---- the deployment -------------------------------------------------------------------------


@dataclass
class Deployment:
    """Two `healthcare serve` instances in production mode sharing one PostgreSQL database
    (of a private cluster) and one pub/sub (a private redis-server, or that database)."""

    cluster: PostgresCluster
    database_url: str
    redis: RedisProcess
    broadcast: str
    metrics_token: str
    instances: list[LoggedServer]

    @property
    def broadcast_url(self) -> str:
        return self.redis.url if self.broadcast == "redis" else self.database_url

    @property
    def live(self) -> list[LoggedServer]:
        return [instance for instance in self.instances if instance.alive]

    async def database(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url, timeout=10)

    async def redis_subscribers(self) -> int | None:
        """How many Redis clients are subscribed to anything now (None: no answer)."""
        client = aioredis.Redis(port=self.redis.port, socket_timeout=2, socket_connect_timeout=2)
        try:
            listing = await client.execute_command("CLIENT", "LIST", "TYPE", "pubsub")
        except (aioredis.RedisError, OSError):
            return None
        finally:
            await client.aclose()
        text = listing.decode() if isinstance(listing, bytes) else str(listing)
        count = 0
        for line in text.splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if int(fields.get("sub", 0)) + int(fields.get("psub", 0)) > 0:
                count += 1
        return count

    async def redis_command(self, *command: str) -> Any:
        client = aioredis.Redis(port=self.redis.port, socket_timeout=5)
        try:
            return await client.execute_command(*command)
        finally:
            await client.aclose()
