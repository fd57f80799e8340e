"""The relay floor for bench.chat (`python -m bench.chat.floor --mode relay`): the least a
WebSocket chat relay can do over the same Redis pub/sub, through the same broadcaster,
Starlette and uvicorn as the API. No authentication, database or GraphQL.

A client connects to /ws, names the channel it listens to
(`{"type": "listen", "channel": ...}`, answered `{"type": "listening"}` once subscribed),
then sends `{"type": "send", "channel", "client_id", "sender", "text"}`; the relay
publishes it and answers `{"type": "sent", "client_id"}`. Every listener of the channel,
the sender included, receives `{"type": "message", "client_id", "sender", "text"}`.
POST /publish takes the same body, for sends over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def create_relay(redis_url: str, healthz: Callable[[Request], Awaitable[Response]]) -> Starlette:
    broadcast = Broadcast(redis_url)

    async def publish(body: dict[str, Any]) -> None:
        event = {
            "type": "message",
            "client_id": str(body["client_id"]),
            "sender": str(body.get("sender", "")),
            "text": str(body["text"]),
        }
        await broadcast.publish(channel=str(body["channel"]), message=json.dumps(event))

    async def forward(subscriber: Any, websocket: WebSocket) -> None:
        async for event in subscriber:
            await websocket.send_text(event.message)

    async def relay(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            hello = await websocket.receive_json()
        except WebSocketDisconnect:
            return
        async with broadcast.subscribe(channel=str(hello["channel"])) as subscriber:
            await websocket.send_json({"type": "listening"})
            forwarding = asyncio.create_task(forward(subscriber, websocket))
            try:
                while True:
                    body = await websocket.receive_json()
                    await publish(body)
                    await websocket.send_json({"type": "sent", "client_id": body["client_id"]})
            except WebSocketDisconnect:
                pass
            finally:
                forwarding.cancel()
                with contextlib.suppress(asyncio.CancelledError, RuntimeError, OSError):
                    await forwarding

    async def publish_http(request: Request) -> Response:
        body = await request.json()
        await publish(body)
        return JSONResponse({"type": "sent", "client_id": body["client_id"]})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broadcast.connect()
        try:
            yield
        finally:
            await broadcast.disconnect()

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/publish", publish_http, methods=["POST"]),
            WebSocketRoute("/ws", relay),
        ],
        lifespan=lifespan,
    )
