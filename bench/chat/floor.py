"""The floors for bench.chat, through the same Starlette, uvicorn, broadcaster and Redis
as the API: `honest` does the API's durable work without GraphQL or the ORM; `relay`
is the least a WebSocket relay can do.

**honest** (`/graphql`, graphql-transport-ws, the frames the API's clients send and
expect, so the same generator drives it): `connection_init` verifies the same JWT and
reads the same session row (the API's own SQL) or closes with 4403; a `messageAdded`
subscription checks the conversation is the viewer's, subscribes its channel, catches up
from the database and then delivers on each doorbell (from memory when this process
wrote the message, as the API does); a `sendMessage` runs, in one transaction on
asyncpg (a pool of the API's size, no reset query), the API's writes: the message
numbered and dated by the API's `UPDATE ... RETURNING` (which also checks the sender
takes part), the message's idempotency key and row, the audit row, the recipient's
notification numbered by the API's upsert, and the unread-message email unless one is
pending; commits; publishes the conversation's and the recipient's doorbells; answers
the sender.

**relay** (`/ws`, bench/chat/relay.py): publishes and pushes what it is sent. No
authentication, database or GraphQL.

Run: `python -m bench.chat.floor --mode honest|relay --port 8100 --redis-url redis://...`
(honest: DATABASE_URL and JWT_SECRET from the environment, as the API takes them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import uvicorn
from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.chat.relay import create_relay
from bench.common.tokens import bearer_claims
from healthcare.db import asyncpg_dsn
from healthcare.resolvers.changes import NEXT_SEQ_SQL
from healthcare.resolvers.chat import NEXT_MESSAGE_SQL
from healthcare.security.auth import VIEWER_SQL

WS_MAX_FRAME_BYTES = 256 * 1024  # the API's default (Settings.ws_max_frame_bytes)
POOL_MIN, POOL_MAX = 1, 5  # Tortoise's default pool, the API's unless --db-pool-max
STATEMENT_TIMEOUT_MS = "5000"  # the API's default STATEMENT_TIMEOUT_MS
UNREAD_EMAIL_DELAY = timedelta(minutes=15)  # order of the API's; only stored here
RECENT_MESSAGES = 2000  # the API's RecentMessages size
COLUMNS = {"PATIENT": "patient_id", "DOCTOR": "doctor_id"}  # chat.participant_column

SQL_VISIBLE = {
    column: f'SELECT "id", "last_seq" FROM "conversations" WHERE "id" = $1 AND "{column}" = $2'  # noqa: S608 (one of two names written here)
    for column in COLUMNS.values()
}
SQL_MESSAGES_AFTER = """
SELECT m.id, m.seq, m.text, m.created_at, m.client_id, m.sender_id, u.first_name, u.last_name
FROM chat_messages m JOIN users u ON u.id = m.sender_id
WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq
"""
SQL_INSERT_KEY = """
INSERT INTO chat_message_keys (message_id, sender_id, client_id, created_at)
VALUES ($1, $2, $3, $4)
"""
SQL_INSERT_MESSAGE = """
INSERT INTO chat_messages (id, seq, client_id, text, created_at, conversation_id, sender_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
SQL_AUDIT_WRITE = """
INSERT INTO audit_events (id, created_at, actor_id, actor_role, patient_id, entity,
                          entity_id, action, fields_accessed, allowed, client_address,
                          request_id)
VALUES ($1, $2, $3, $4, $5, 'CHAT_MESSAGE', $6, 'CREATE', '[]', true, $7, $8)
"""
SQL_INSERT_NOTIFICATION = """
INSERT INTO notifications (id, seq, kind, title, body, created_at, read_at, appointment_id,
                           consultation_id, conversation_id, recipient_id)
VALUES ($1, $2, 'CHAT_MESSAGE', 'New message', $3, $4, NULL, NULL, NULL, $5, $6)
"""
SQL_EMAIL_PENDING = """
SELECT EXISTS (SELECT 1 FROM email_messages e JOIN notifications n ON n.id = e.notification_id
  WHERE e.recipient_id = $1 AND e.kind = 'CHAT_MESSAGE' AND e.status = 'PENDING'
    AND n.conversation_id = $2 AND n.consultation_id IS NULL)
"""
SQL_RECIPIENT = """
SELECT u.email, u.first_name, u.is_active, p.chat_messages
FROM users u LEFT JOIN email_preferences p ON p.user_id = u.id WHERE u.id = $1
"""
SQL_INSERT_EMAIL = """
INSERT INTO email_messages (id, message_id, kind, to_address, subject, body, calendar, status,
                            attempts, not_before, created_at, notification_id, recipient_id)
VALUES ($1, $2, 'CHAT_MESSAGE', $3, $4, $5, NULL, 'PENDING', 0, $6, $7, $8, $9)
"""


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset query when a connection goes back to the pool, as the API's pool."""


class HonestFloor:
    """The API's chat over graphql-transport-ws, with asyncpg and broadcaster alone."""

    def __init__(self, redis_url: str, database_url: str, secret: str, pool_max: int) -> None:
        self.broadcast = Broadcast(redis_url)
        self.database_url, self.secret, self.pool_max = database_url, secret, pool_max
        self.pool: asyncpg.Pool | None = None
        # The messages this process wrote or read last, as the API's RecentMessages.
        self.recent: OrderedDict[tuple[uuid.UUID, int], dict[str, Any]] = OrderedDict()

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.pool = await asyncpg.create_pool(
            asyncpg_dsn(self.database_url),
            min_size=POOL_MIN,
            max_size=self.pool_max,
            server_settings={"statement_timeout": STATEMENT_TIMEOUT_MS},
            reset=_keep_session,
        )
        await self.broadcast.connect()
        try:
            yield
        finally:
            await self.broadcast.disconnect()
            await self.pool.close()

    def keep(self, conversation_id: uuid.UUID, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.recent[(conversation_id, message["seq"])] = message
        while len(self.recent) > RECENT_MESSAGES:
            self.recent.popitem(last=False)

    async def viewer(self, payload: Any) -> asyncpg.Record | None:
        """The signed-in user of a connection_init payload: the API's token check and
        session query, or None."""
        claims = bearer_claims(str((payload or {}).get("authorization") or ""), self.secret)
        if claims is None:
            return None
        assert self.pool is not None
        row = await self.pool.fetchrow(VIEWER_SQL, claims["sid"], claims["sub"], datetime.now(UTC))
        return row if row is not None and row["is_active"] else None

    async def send(
        self, viewer: asyncpg.Record, address: str | None, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """Number, store, audit, notify and (maybe) email in one transaction; then keep
        the message and ring the doorbells. The sendMessage result."""
        column = COLUMNS.get(viewer["role"])
        conversation_id = uuid.UUID(str(variables["conversationId"]))
        client_id = uuid.UUID(str(variables["clientId"]))
        text, now, message_id = str(variables["text"]), datetime.now(UTC), uuid.uuid4()
        name = f"{viewer['first_name']} {viewer['last_name']}"
        assert self.pool is not None
        async with self.pool.acquire() as connection, connection.transaction():
            numbered = None
            if column is not None:
                numbered = await connection.fetchrow(
                    NEXT_MESSAGE_SQL[column], conversation_id, viewer["id"], now
                )
            if numbered is None:
                return _failure("NotFound", "NOT_FOUND", "No such conversation.")
            seq, patient_id = int(numbered["last_seq"]), numbered["patient_id"]
            recipient_id = numbered["doctor_id" if column == "patient_id" else "patient_id"]
            now = numbered["last_message_at"]  # the message's time, as the API takes it
            await connection.execute(SQL_INSERT_KEY, message_id, viewer["id"], client_id, now)
            await connection.execute(
                SQL_INSERT_MESSAGE, message_id, seq, client_id, text, now, conversation_id,
                viewer["id"],
            )  # fmt: skip
            await connection.execute(
                SQL_AUDIT_WRITE, uuid.uuid4(), now, viewer["id"], viewer["role"], patient_id,
                str(conversation_id), address, uuid.uuid4().hex,
            )  # fmt: skip
            notification_seq = int(await connection.fetchval(NEXT_SEQ_SQL, recipient_id))
            notification_id = uuid.uuid4()
            await connection.execute(
                SQL_INSERT_NOTIFICATION, notification_id, notification_seq,
                f"{name} sent you a message.", now, conversation_id, recipient_id,
            )  # fmt: skip
            await self._email(connection, name, recipient_id, conversation_id, notification_id)
        message = {
            "id": str(message_id),
            "seq": seq,
            "text": text,
            "createdAt": now.isoformat(),
            "clientId": str(client_id),
            "sender": {
                "id": str(viewer["id"]),
                "firstName": viewer["first_name"],
                "lastName": viewer["last_name"],
            },
        }
        self.keep(conversation_id, [message])
        doorbell = json.dumps({"seq": str(seq)})
        await self.broadcast.publish(f"conversation.{conversation_id}", doorbell)
        notified = json.dumps({"seq": str(notification_seq)})
        await self.broadcast.publish(f"notifications.{recipient_id}", notified)
        chat_message = {"id": message["id"], "seq": seq}
        return {"sendMessage": {"__typename": "MessagePayload", "chatMessage": chat_message}}

    async def _email(
        self,
        connection: asyncpg.Connection,
        actor: str,
        recipient_id: uuid.UUID,
        conversation_id: uuid.UUID,
        notification_id: uuid.UUID,
    ) -> None:
        """The unread-message email, unless one for this conversation is on its way."""
        if await connection.fetchval(SQL_EMAIL_PENDING, recipient_id, conversation_id):
            return
        recipient = await connection.fetchrow(SQL_RECIPIENT, recipient_id)
        if recipient is None or not recipient["is_active"] or recipient["chat_messages"] is False:
            return
        email_id, now = uuid.uuid4(), datetime.now(UTC)
        body = (
            f"Hello {recipient['first_name']},\n\n{actor} sent you a message that you have not "
            f"read yet.\n\nRead it in the app: https://app.invalid/#/chat/{conversation_id}\n"
        )
        await connection.execute(
            SQL_INSERT_EMAIL, email_id, f"<{email_id}@bench.invalid>", recipient["email"],
            f"Unread messages from {actor}", body, now + UNREAD_EMAIL_DELAY, now,
            notification_id, recipient_id,
        )  # fmt: skip

    async def messages_after(
        self, conversation_id: uuid.UUID, seq: int, announced: int | None
    ) -> list[dict[str, Any]]:
        """From memory when every one is there (as the API), else one query."""
        if announced is not None:
            found = [self.recent.get((conversation_id, s)) for s in range(seq + 1, announced + 1)]
            if all(found):
                return [m for m in found if m is not None]
        assert self.pool is not None
        rows = await self.pool.fetch(SQL_MESSAGES_AFTER, conversation_id, seq)
        messages = [_message(row) for row in rows]
        self.keep(conversation_id, messages)
        return messages

    async def visible(self, viewer: asyncpg.Record, conversation_id: str) -> asyncpg.Record | None:
        """The conversation's id and last seq, if `viewer` takes part in it."""
        column = COLUMNS.get(viewer["role"])
        try:
            parsed = uuid.UUID(conversation_id)
        except ValueError:
            return None
        assert self.pool is not None
        if column is None:
            return None
        return await self.pool.fetchrow(SQL_VISIBLE[column], parsed, viewer["id"])

    def app(self) -> Starlette:
        async def graphql(websocket: WebSocket) -> None:
            await HonestSocket(self, websocket).run()

        return Starlette(
            routes=[Route("/healthz", _healthz), WebSocketRoute("/graphql", graphql)],
            lifespan=self.lifespan,
        )


def _message(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "seq": int(row["seq"]),
        "text": row["text"],
        "createdAt": row["created_at"].isoformat(),
        "clientId": str(row["client_id"]),
        "sender": {
            "id": str(row["sender_id"]),
            "firstName": row["first_name"],
            "lastName": row["last_name"],
        },
    }


def _failure(typename: str, code: str, message: str) -> dict[str, Any]:
    return {"sendMessage": {"__typename": typename, "code": code, "message": message}}


class HonestSocket:
    """One graphql-transport-ws connection: sign in, then operations as tasks (sends on
    one socket may overlap, as the API runs them)."""

    def __init__(self, floor: HonestFloor, websocket: WebSocket) -> None:
        self.floor, self.websocket = floor, websocket
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.address = websocket.client.host if websocket.client else None

    async def run(self) -> None:
        await self.websocket.accept(subprotocol="graphql-transport-ws")
        try:
            hello = await self.websocket.receive_json()
            viewer = await self.floor.viewer(hello.get("payload"))
            if hello.get("type") != "connection_init" or viewer is None:
                await self.websocket.close(4403, "Forbidden")
                return
            await self.websocket.send_json({"type": "connection_ack"})
            while True:
                message = await self.websocket.receive_json()
                self.dispatch(viewer, message)
        except WebSocketDisconnect:
            pass
        finally:
            for task in self.operations.values():
                task.cancel()
            for task in list(self.operations.values()):
                with contextlib.suppress(asyncio.CancelledError, RuntimeError, OSError):
                    await task

    def dispatch(self, viewer: asyncpg.Record, message: dict[str, Any]) -> None:
        kind, operation = message.get("type"), str(message.get("id"))
        if kind == "ping":
            self.start(operation, self.websocket.send_json({"type": "pong"}))
        elif kind == "complete" and operation in self.operations:
            self.operations[operation].cancel()
        elif kind == "subscribe":
            payload = message.get("payload") or {}
            variables = payload.get("variables") or {}
            if "messageAdded" in payload.get("query", ""):
                self.start(operation, self.stream(viewer, operation, variables))
            else:
                self.start(operation, self.mutate(viewer, operation, variables))

    def start(self, operation: str, work: Any) -> None:
        task = asyncio.create_task(work)
        self.operations[operation] = task
        task.add_done_callback(lambda _: self.operations.pop(operation, None))

    async def mutate(self, viewer: asyncpg.Record, operation: str, variables: dict) -> None:
        data = await self.floor.send(viewer, self.address, variables)
        await self.websocket.send_json({"id": operation, "type": "next", "payload": {"data": data}})
        await self.websocket.send_json({"id": operation, "type": "complete"})

    async def stream(self, viewer: asyncpg.Record, operation: str, variables: dict) -> None:
        """Subscribe first, catch up from the database second, then deliver each doorbell's
        messages by seq (none twice), as the API's `pubsub.stream`."""
        conversation = await self.floor.visible(viewer, str(variables.get("conversationId")))
        if conversation is None:
            error = {"message": "Not found.", "extensions": {"code": "NOT_FOUND"}}
            await self.websocket.send_json({"id": operation, "type": "error", "payload": [error]})
            return
        conversation_id, after = conversation["id"], variables.get("afterSeq")
        start = int(conversation["last_seq"] if after is None else after)
        channel = f"conversation.{conversation_id}"
        subscriber: Any  # broadcaster's Subscriber (its annotation allows None)
        async with self.floor.broadcast.subscribe(channel=channel) as subscriber:
            last = await self.deliver(operation, conversation_id, start, None)
            async for event in subscriber:
                announced = int(json.loads(event.message)["seq"])
                if announced > last:
                    last = await self.deliver(operation, conversation_id, last, announced)

    async def deliver(
        self, operation: str, conversation_id: uuid.UUID, seq: int, announced: int | None
    ) -> int:
        for message in await self.floor.messages_after(conversation_id, seq, announced):
            frame = {
                "id": operation,
                "type": "next",
                "payload": {"data": {"messageAdded": message}},
            }
            await self.websocket.send_json(frame)
            seq = message["seq"]
        return seq


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chat.floor", description=__doc__)
    parser.add_argument("--mode", choices=["honest", "relay"], default="honest")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--db-pool-max", type=int, default=POOL_MAX)
    args = parser.parse_args(argv)
    if args.mode == "honest":
        floor = HonestFloor(
            args.redis_url, os.environ["DATABASE_URL"], os.environ["JWT_SECRET"], args.db_pool_max
        )
        app = floor.app()
    else:
        app = create_relay(args.redis_url, _healthz)
    # The same uvicorn settings as `healthcare serve`, so the floors differ only in the app.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        ws_max_size=WS_MAX_FRAME_BYTES,
        proxy_headers=False,  # as `healthcare serve`
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
