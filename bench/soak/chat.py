"""Chat under the soak: long-lived clients that resume, and a ledger of what was
acknowledged and what each subscriber received.

Each chat client is one person's socket on one instance (graphql-transport-ws), with two
subscriptions for the whole run: `messageAdded` of their conversation and
`notificationAdded`. When the socket closes for any reason (a token that expired, a
server that closed it), the client opens another and resumes both from the last `seq` it
saw, as a front end would. A message counts as acknowledged when `sendMessage` answers
`MessagePayload`; a send whose answer is lost is retried over HTTP with the same
`clientId`, which must give the same message.

The ledger expects every acknowledged message to reach every subscriber of its
conversation (both participants, one on each instance, the sender included) once:
missing ones are lost, a second copy is a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.soak.api import MESSAGE_ADDED, NOTIFICATION_ADDED, SEND_MESSAGE, Account, ApiError, Http

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
OPEN_TIMEOUT = 15.0
REPLY_TIMEOUT = 15.0
SEND_ATTEMPTS = 4
RECONNECT_PAUSE = 1.0  # pacing between a lost socket and the next (doubling, at most 8 s)
LATE_SECONDS = 30.0  # an acknowledged message still missing after this is "late"


@dataclass
class Ack:
    conversation_id: str
    seq: int
    at: float  # time.monotonic()
    minute: int


@dataclass
class Window:
    """One instance's counts over one minute."""

    sent: int = 0  # sends started on this instance
    acked: int = 0
    failed: int = 0  # sends given up, or refused
    delivered: int = 0  # to subscribers on this instance
    duplicated: int = 0
    notifications: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class Ledger:
    instances: int
    acked: dict[str, Ack] = field(default_factory=dict)  # message id -> its acknowledgment
    acked_ids_by_client_id: dict[str, str] = field(default_factory=dict)
    received: dict[str, Counter[str]] = field(default_factory=dict)  # subscriber -> ids
    subscribers: dict[str, list[str]] = field(default_factory=dict)  # conversation -> names
    instance_of: dict[str, int] = field(default_factory=dict)  # subscriber -> instance
    errors: Counter[str] = field(default_factory=Counter)
    close_codes: Counter[str] = field(default_factory=Counter)
    minute: int = 0
    windows: list[Window] = field(default_factory=list)
    totals: list[Window] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.windows = [Window() for _ in range(self.instances)]
        self.totals = [Window() for _ in range(self.instances)]

    def count(self, instance: int, name: str, amount: int = 1) -> None:
        for window in (self.windows[instance], self.totals[instance]):
            setattr(window, name, getattr(window, name) + amount)

    def subscriber(self, name: str, conversation_id: str, instance: int) -> None:
        self.subscribers.setdefault(conversation_id, []).append(name)
        self.instance_of[name] = instance
        self.received[name] = Counter()

    def on_send(self, instance: int) -> None:
        self.count(instance, "sent")

    def on_ack(
        self, instance: int, client_id: str, message: dict[str, Any], conversation: str
    ) -> None:
        known = self.acked_ids_by_client_id.get(client_id)
        if known is not None and known != message["id"]:
            self.errors["one clientId stored twice"] += 1
        if message["id"] in self.acked:
            return
        self.acked_ids_by_client_id[client_id] = message["id"]
        self.acked[message["id"]] = Ack(conversation, message["seq"], time.monotonic(), self.minute)
        self.count(instance, "acked")
        self.changed.set()

    def on_failure(self, instance: int, why: str) -> None:
        self.count(instance, "failed")
        self.errors[why] += 1

    def on_delivery(self, name: str, message: dict[str, Any]) -> None:
        received = self.received[name]
        received[message["id"]] += 1
        instance = self.instance_of[name]
        self.count(instance, "delivered")
        if received[message["id"]] > 1:
            self.count(instance, "duplicated")
        self.changed.set()

    def missing(self, older_than: float = 0.0) -> list[tuple[str, str]]:
        """(subscriber, message id) of each acknowledged message not received, among those
        acknowledged at least `older_than` seconds ago."""
        now = time.monotonic()
        return [
            (name, message_id)
            for message_id, ack in self.acked.items()
            if now - ack.at >= older_than
            for name in self.subscribers.get(ack.conversation_id, ())
            if message_id not in self.received[name]
        ]

    def duplicated(self) -> int:
        return sum(n - 1 for counts in self.received.values() for n in counts.values() if n > 1)

    def unacknowledged_deliveries(self) -> int:
        """Messages some subscriber received that no send was acknowledged for (a send
        whose every answer was lost): not an error when it happens, reported apart."""
        seen = {message_id for counts in self.received.values() for message_id in counts}
        return len(seen - self.acked.keys())

    def next_minute(self) -> list[Window]:
        """This minute's windows, per instance; the next minute starts empty."""
        windows, self.windows = self.windows, [Window() for _ in range(self.instances)]
        self.minute += 1
        return windows


class ChatClient:
    """One person in one conversation, on one instance, for the whole run."""

    def __init__(
        self,
        name: str,
        account: Account,
        conversation_id: str,
        instance: int,
        ws_url: str,
        http: Http,
        ledger: Ledger,
        send_over_socket: bool = True,
    ) -> None:
        self.send_over_socket = send_over_socket  # False: every send is an HTTP POST
        self.name, self.account, self.conversation_id = name, account, conversation_id
        self.instance, self.ws_url, self.http, self.ledger = instance, ws_url, http, ledger
        self.last_seq = 0
        self.last_notification_seq: int | None = None  # None: only new ones, at first
        self.socket: ClientConnection | None = None
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.operations = 0
        self.connections = 0
        self.ready = asyncio.Event()  # signed in and subscribed, at least once
        self.stopping = False
        ledger.subscriber(name, conversation_id, instance)

    async def run(self) -> None:
        """Keep one socket open and subscribed until `stop`; reopen and resume on loss."""
        pause = RECONNECT_PAUSE
        while not self.stopping:
            try:
                await self._session()
                pause = RECONNECT_PAUSE
            except (OSError, TimeoutError, ConnectionClosed, RuntimeError) as error:
                self.ledger.errors[f"chat socket: {type(error).__name__}"] += 1
            self.socket = None
            for reply in self.replies.values():
                if not reply.done():
                    reply.set_exception(ConnectionError("socket closed"))
            self.replies.clear()
            if self.stopping:
                break
            self.ledger.count(self.instance, "reconnects")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 8.0)

    async def _session(self) -> None:
        async with connect(
            self.ws_url,
            subprotocols=[TRANSPORT_WS],
            open_timeout=OPEN_TIMEOUT,
            close_timeout=2,
            ping_interval=None,  # as a browser: the server's pings are answered
        ) as socket:
            await socket.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {self.account.access_token}"},
                    }
                )
            )
            reply = json.loads(await asyncio.wait_for(socket.recv(), OPEN_TIMEOUT))
            if reply.get("type") != "connection_ack":
                raise RuntimeError(f"connection_init answered {reply.get('type')}")
            await self._subscribe(socket, "chat", MESSAGE_ADDED, self._chat_variables())
            await self._subscribe(
                socket, "notes", NOTIFICATION_ADDED, {"afterSeq": self.last_notification_seq}
            )
            self.socket = socket
            self.connections += 1
            self.ready.set()
            try:
                async for raw in socket:
                    if not self._handle(json.loads(raw)):
                        break  # a subscription ended: open a new socket and resume
            except ConnectionClosed:
                pass
            if not self.stopping:
                received = socket.protocol.close_rcvd
                code = str(received.code) if received is not None else "none"
                self.ledger.close_codes[code] += 1

    def _chat_variables(self) -> dict[str, Any]:
        return {"conversationId": self.conversation_id, "afterSeq": self.last_seq}

    @staticmethod
    async def _subscribe(
        socket: ClientConnection, operation: str, query: str, variables: dict[str, Any]
    ) -> None:
        payload = {"query": query, "variables": variables}
        await socket.send(json.dumps({"id": operation, "type": "subscribe", "payload": payload}))

    def _handle(self, message: dict[str, Any]) -> bool:
        """Handle one frame; False when a subscription of the client has ended."""
        kind, operation = message.get("type"), message.get("id")
        if kind == "next" and operation in ("chat", "notes"):
            payload = message.get("payload") or {}
            data = payload.get("data")
            if payload.get("errors") or not data:
                self.ledger.errors[f"{operation} subscription error"] += 1
                return True
            if operation == "chat":
                chat_message = data["messageAdded"]
                self.last_seq = max(self.last_seq, chat_message["seq"])
                self.ledger.on_delivery(self.name, chat_message)
            else:
                seq = data["notificationAdded"]["seq"]
                self.last_notification_seq = max(self.last_notification_seq or 0, seq)
                self.ledger.count(self.instance, "notifications")
        elif kind == "next" and operation in self.replies:
            reply = self.replies.pop(operation)
            if not reply.done():
                reply.set_result(message.get("payload") or {})
        elif kind in ("error", "complete") and operation in ("chat", "notes"):
            self.ledger.errors[f"{operation} subscription {kind}: {str(message)[:120]}"] += 1
            return False
        elif kind == "error" and operation in self.replies:
            reply = self.replies.pop(operation)
            if not reply.done():
                reply.set_exception(ApiError(f"error frame: {str(message)[:120]}"))
        elif kind == "ping" and self.socket is not None:
            task = asyncio.get_running_loop().create_task(
                self.socket.send(json.dumps({"type": "pong"}))
            )
            task.add_done_callback(lambda done: done.exception())
        return True

    async def send(self, text: str) -> None:
        """One message: over the socket if it is open, else (and on retries) over HTTP,
        always with the same clientId. Acknowledged or counted as failed."""
        client_id = str(uuid.uuid4())
        variables = {"conversationId": self.conversation_id, "clientId": client_id, "text": text}
        self.ledger.on_send(self.instance)
        why = "no attempt"
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.5 * 2**attempt)  # retry pacing
            try:
                if attempt == 0 and self.send_over_socket and self.socket is not None:
                    payload = await self._send_over_socket(self.socket, variables)
                    if payload.get("errors"):
                        raise ApiError(f"errors: {str(payload['errors'])[:80]}")
                    result = (payload.get("data") or {}).get("sendMessage") or {}
                else:
                    result = (
                        await self.http.call(
                            self.instance, SEND_MESSAGE, variables, self.account.access_token
                        )
                    )["sendMessage"]
            except (ApiError, ConnectionError, ConnectionClosed, TimeoutError) as error:
                why = f"send attempt failed: {str(error)[:80] or type(error).__name__}"
                self.ledger.errors[why] += 1
                continue
            if result.get("__typename") == "MessagePayload":
                self.ledger.on_ack(
                    self.instance, client_id, result["chatMessage"], self.conversation_id
                )
            else:
                self.ledger.on_failure(
                    self.instance, f"sendMessage: {result.get('__typename')} {result.get('code')}"
                )
            return
        self.ledger.on_failure(self.instance, f"send given up ({why})")

    async def _send_over_socket(
        self, socket: ClientConnection, variables: dict[str, Any]
    ) -> dict[str, Any]:
        self.operations += 1
        operation = f"m{self.operations}"
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[operation] = reply
        payload = {"query": SEND_MESSAGE, "variables": variables}
        try:
            await socket.send(
                json.dumps({"id": operation, "type": "subscribe", "payload": payload})
            )
            return await asyncio.wait_for(reply, REPLY_TIMEOUT)
        finally:
            self.replies.pop(operation, None)

    async def stop(self) -> None:
        self.stopping = True
        if self.socket is not None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await self.socket.close()
