"""The two clients: graphql-transport-ws (the API and the honest floor) and the relay's.

Both record on the shared `Recorder`: the send time just before the frame is written (or
the POST is sent), each delivery as its socket yields it, and the sender's own reply.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from websockets.typing import Subprotocol

from bench.chat.load import OPEN_TIMEOUT, Client

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
SEND_MESSAGE = """
mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
    __typename
    ... on MessagePayload { chatMessage { id seq } }
    ... on Error { code message }
  }
}
"""
# What a chat screen shows for a new message: who sent it, when, and the text.
MESSAGE_ADDED = """
subscription MessageAdded($conversationId: ID!, $afterSeq: Int) {
  messageAdded(conversationId: $conversationId, afterSeq: $afterSeq) {
    id seq text createdAt clientId sender { id firstName lastName }
  }
}
"""


class ApiClient(Client):
    """graphql-transport-ws: signed in by connection_init; sends are mutations on the
    same socket (or HTTP POSTs), deliveries come from the messageAdded subscription."""

    path = "/graphql"
    subprotocols = (TRANSPORT_WS,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operations = 0
        self.in_flight: dict[str, float] = {}

    async def sign_in(self) -> None:
        assert self.socket is not None
        payload = {"authorization": f"Bearer {self.pair.token(self.side)}"}
        await self.socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        reply = json.loads(await asyncio.wait_for(self.socket.recv(), OPEN_TIMEOUT))
        if reply.get("type") != "connection_ack":
            raise RuntimeError(f"connection_init refused: {reply}")

    async def listen(self) -> None:
        assert self.socket is not None
        # No afterSeq: from the conversation's newest message on, as a chat screen that has
        # just loaded the history (an earlier server's messages are not delivered again).
        variables = {"conversationId": self.pair.conversation_id}
        payload = {"query": MESSAGE_ADDED, "variables": variables}
        await self.socket.send(json.dumps({"id": "sub", "type": "subscribe", "payload": payload}))

    async def send(self, text: str) -> None:
        client_id = str(uuid.uuid4())
        variables = {
            "conversationId": self.pair.conversation_id,
            "clientId": client_id,
            "text": text,
        }
        payload = {"query": SEND_MESSAGE, "variables": variables}
        if self.http is not None:
            await self._post(client_id, payload)
            return
        assert self.socket is not None
        self.operations += 1
        operation = f"m{self.operations}"
        frame = json.dumps({"id": operation, "type": "subscribe", "payload": payload})
        now = time.perf_counter()
        self.in_flight[operation] = now
        self.recorder.on_send(client_id, self.partner, now)
        await self.socket.send(frame)

    async def _post(self, client_id: str, payload: dict[str, Any]) -> None:
        assert self.http is not None
        headers = {"authorization": f"Bearer {self.pair.token(self.side)}"}
        now = time.perf_counter()
        self.recorder.on_send(client_id, self.partner, now)
        try:
            response = await self.http.post("/graphql", payload, headers)
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            self.recorder.on_ack(now, time.perf_counter(), f"HTTP: {type(error).__name__}")
            return
        self.recorder.on_ack(now, time.perf_counter(), _send_error(body))

    def handle(self, message: dict[str, Any], at: float) -> None:
        kind, operation = message.get("type"), message.get("id")
        if kind == "next" and operation == "sub":
            data = message["payload"].get("data")
            if not data or message["payload"].get("errors"):
                self.recorder.errors["messageAdded error"] += 1
                return
            self.recorder.on_delivery(data["messageAdded"]["clientId"], self.index, at)
        elif kind == "next" and operation in self.in_flight:
            sent_at = self.in_flight.pop(operation)
            self.recorder.on_ack(sent_at, at, _send_error(message["payload"]))
        elif kind == "error":
            self.recorder.errors[f"operation error: {str(message.get('payload'))[:80]}"] += 1
        elif kind == "ping" and self.socket is not None:
            pong = self.socket.send(json.dumps({"type": "pong"}))
            asyncio.get_running_loop().create_task(pong)


def _send_error(body: dict[str, Any]) -> str | None:
    if body.get("errors"):
        return f"sendMessage error: {str(body['errors'])[:80]}"
    typename = (body.get("data") or {}).get("sendMessage", {}).get("__typename")
    return None if typename == "MessagePayload" else f"sendMessage returned {typename}"


class RelayClient(Client):
    """The relay floor's protocol (see bench/chat/relay.py)."""

    path = "/ws"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listening = asyncio.Event()
        self.in_flight: dict[str, float] = {}

    async def listen(self) -> None:
        assert self.socket is not None
        channel = f"conversation.{self.pair.conversation_id}"
        await self.socket.send(json.dumps({"type": "listen", "channel": channel}))
        await asyncio.wait_for(self.listening.wait(), OPEN_TIMEOUT)

    async def send(self, text: str) -> None:
        client_id = str(uuid.uuid4())
        body = {
            "type": "send",
            "channel": f"conversation.{self.pair.conversation_id}",
            "client_id": client_id,
            "sender": self.pair.patient_id if self.side == 0 else self.pair.doctor_id,
            "text": text,
        }
        now = time.perf_counter()
        self.recorder.on_send(client_id, self.partner, now)
        if self.http is not None:
            try:
                response = await self.http.post("/publish", body)
                error = None if response.status_code == 200 else f"HTTP {response.status_code}"
            except httpx.HTTPError as failure:
                error = f"HTTP: {type(failure).__name__}"
            self.recorder.on_ack(now, time.perf_counter(), error)
            return
        assert self.socket is not None
        self.in_flight[client_id] = now
        await self.socket.send(json.dumps(body))

    def handle(self, message: dict[str, Any], at: float) -> None:
        kind = message.get("type")
        if kind == "message":
            self.recorder.on_delivery(message["client_id"], self.index, at)
        elif kind == "sent" and message.get("client_id") in self.in_flight:
            self.recorder.on_ack(self.in_flight.pop(message["client_id"]), at, None)
        elif kind == "listening":
            self.listening.set()
