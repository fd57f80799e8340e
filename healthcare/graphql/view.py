"""/graphql: strawberry's ASGI view, with the request limits, the WebSocket handshake and
guard, and the request scope every operation starts from."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from healthcare.config import Settings
from healthcare.graphql import errors
from healthcare.graphql.context import RequestScope
from healthcare.graphql.errors import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE, unavailable
from healthcare.graphql.execution import compiled
from healthcare.graphql.execution.http import answer_plain_post, is_plain_post
from healthcare.graphql.ide import GraphiQLPage
from healthcare.ops.middleware import client_ip, request_id_of
from healthcare.realtime.connection_guard import (
    TOO_MANY_INITIALISATIONS,
    ConnectionGuard,
    SocketsPerAddress,
    guarded,
)
from healthcare.security.audit import bind_request as bind_audit
from healthcare.security.auth import ANONYMOUS, authenticate
from healthcare.security.ratelimit import RateLimiter, address_subject

logger = logging.getLogger(__name__)
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
# Headers a plain HTML form cannot send; a multipart request must carry one of them, so
# that a cross-site form cannot post an upload with a victim's credentials.
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
# A socket whose viewer cannot be named while the database is unreachable: "try again
# later", as when pub/sub is lost (see realtime.connection_guard).
TRY_AGAIN_LATER = 1013


class TransportWSHandler(BaseGraphQLTransportWSHandler[RequestScope, None]):
    """graphql-transport-ws, where a client that leaves while one of its operations is
    sending is a client leaving, not an error (strawberry logs it with a traceback)."""

    async def handle_task_exception(self, error: Exception) -> None:
        if isinstance(error, WebSocketDisconnected):
            logger.debug("the client left while an operation was sending")
            return
        await super().handle_task_exception(error)


class LegacyGraphQLWSHandler(BaseGraphQLWSHandler[RequestScope, None]):
    """Legacy `graphql-ws`, with the handshake of graphql-transport-ws: one
    `connection_init` per socket (a second closes it with 4429, as graphql-transport-ws
    does: strawberry's legacy handler would ack it and let it name another viewer), and a
    refused token closes it with 4403 (strawberry's 1011, a server error, tells clients
    to retry)."""

    connection_init_received = False

    async def handle_connection_init(self, message: Any) -> None:
        if self.connection_init_received:
            await self.websocket.close(
                code=TOO_MANY_INITIALISATIONS, reason="Too many initialisation requests"
            )
            return
        self.connection_init_received = True
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.send_message({"type": "connection_error"})
            await self.websocket.close(code=4400, reason="The payload must be an object")
            return
        self.context.connection_params = payload
        try:
            await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as error:
            await self.send_message({"type": "connection_error", "payload": error.payload})
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_async_results(self, *args: Any, **kwargs: Any) -> None:
        """An operation's task. A client that leaves while it sends is a client leaving:
        strawberry's task would end with the error, logged by asyncio as never retrieved."""
        try:
            await super().handle_async_results(*args, **kwargs)
        except WebSocketDisconnected:
            logger.debug("the client left while an operation was sending")


class GraphQLView(GraphQL[RequestScope, None]):
    """/graphql, over HTTP and WebSocket: request bodies capped, operations timed out,
    WebSockets capped per address and guarded, the viewer authenticated, JSON encoded by
    orjson."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyGraphQLWSHandler

    def __init__(self, schema: BaseSchema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            # Queries in URLs end up in logs and browser history: POST only.
            allow_queries_via_get=False,
            multipart_uploads_enabled=True,
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
            allowed_origins=settings.ws_allowed_origins,
        )
        self.settings = settings
        # Our own GraphiQL page and files, in place of strawberry's (which loads them from
        # unpkg.com): see healthcare.graphql.ide.
        self.graphiql = GraphiQLPage() if settings.graphiql else None
        self.rate_limiter = RateLimiter.from_settings(settings)
        self.sockets_per_address = SocketsPerAddress(settings.ws_max_connections_per_address)
        # Every request but an upload: a JSON body, capped far below the upload cap.
        self.json_body_limit = min(settings.max_json_body_bytes, settings.max_request_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif is_multipart(scope):  # an upload: up to MAX_REQUEST_BYTES
            await self._http_capped(scope, receive, send, self.settings.max_request_bytes)
        else:
            await self._http_capped(scope, receive, send, self.json_body_limit)

    async def _http_capped(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A body over `limit` bytes (declared, or as it arrives) is refused with 413 and
        a GraphQL error body (Starlette's own limit answers in plain text)."""
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._http_with_deadline(scope, capped(scope, receive, limit), tracking_send)
        except BodyTooLarge:
            if started:
                raise
            body = {
                "errors": [
                    {
                        "message": f"The request body is larger than {limit} bytes.",
                        "extensions": {"code": errors.PAYLOAD_TOO_LARGE},
                    }
                ]
            }
            await JSONResponse(body, status_code=413)(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        address = client_ip(scope)
        subject = address_subject(address or "unknown")
        exempt = address is not None and self.rate_limiter.is_exempt(address)
        with self.sockets_per_address.hold(subject) as within_cap:
            if not (within_cap or exempt):
                await refuse_handshake(websocket, 429, "Too many connections from your address.")
                return
            guard = ConnectionGuard(
                init_timeout=CONNECTION_INIT_TIMEOUT,
                anonymous_idle=timedelta(seconds=self.settings.ws_anonymous_idle_seconds),
            )
            scope.setdefault("state", {})["connection_guard"] = guard
            await guarded(guard, self._serve_socket(scope, receive, send, guard))

    async def _serve_socket(
        self, scope: Scope, receive: Receive, send: Send, guard: ConnectionGuard
    ) -> None:
        """strawberry's protocol handlers; a viewer that cannot be named because the
        database is unreachable closes the socket with 1013 (try again later)."""
        try:
            await super().__call__(scope, receive, send)
        except Exception as error:
            if not unavailable(error):
                raise
            logger.warning(
                "websocket refused: a dependency is unavailable",
                extra={"request_id": request_id_of(scope), "error": type(error).__name__},
            )
            await guard.close(TRY_AGAIN_LATER, "Service unavailable; try again later")

    async def _http_with_deadline(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An HTTP operation gets `REQUEST_TIMEOUT_SECONDS`; then a clean 503, not a hang.
        (On PostgreSQL, STATEMENT_TIMEOUT_MS also stops the query itself.)"""
        started = {"response": False}

        async def tracking_send(message: Message) -> None:
            started["response"] = True
            await send(message)

        try:
            async with asyncio.timeout(self.settings.request_timeout_seconds):
                await self._http(scope, receive, tracking_send)
        except TimeoutError:
            if started["response"]:
                raise
            logger.warning("operation timed out", extra={"path": scope["path"]})
            body = {
                "data": None,
                "errors": [
                    {
                        "message": "The operation took too long. Ask for less, or retry.",
                        "extensions": {"code": "TIMEOUT"},
                    }
                ],
            }
            await JSONResponse(body, status_code=503)(scope, receive, send)
        except Exception as error:
            # Outside GraphQL's own error handling (authentication, in get_context): a
            # database that cannot be reached is a 503 the client may retry, not a 500.
            if started["response"] or not unavailable(error):
                raise
            await service_unavailable(scope, receive, send, error)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """strawberry's HTTP handling (its ASGI view's; a plain JSON POST by the same steps
        without the rest, `execution.http`), but a request it refuses is answered with a
        GraphQL error body, as every other error is, not plain text."""
        request = Request(scope, receive)
        try:
            if is_plain_post(self, scope):
                response = await answer_plain_post(self, request)
            else:
                response = await self.run(request)
        except HTTPException as error:
            response = request_error(error)
        await response(scope, receive, send)

    def ide_routes(self) -> list[Route]:
        """The routes of GraphiQL's files, where GraphiQL is served."""
        return self.graphiql.routes() if self.graphiql else []

    async def render_graphql_ide(self, request: Request) -> Response:
        assert self.graphiql is not None  # strawberry renders it only with graphql_ide set
        return self.graphiql.page(request)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> RequestScope:
        bind_audit(client_ip(request.scope), request_id_of(request.scope))
        if isinstance(request, WebSocket):
            # Authenticated in on_ws_connect, from the connection_init payload.
            request.scope["state"]["connection_guard"].attach(request)
            viewer = ANONYMOUS
        else:
            viewer = await authenticate(request.headers.get("authorization"), self.settings)
        return RequestScope(
            request=request,
            response=response,
            settings=self.settings,
            rate_limiter=self.rate_limiter,
            viewer=viewer,
        )

    async def on_ws_connect(self, context: RequestScope) -> dict[str, object] | None:
        params = context.connection_params or {}
        authorization = params.get("authorization") or params.get("Authorization")
        viewer = ANONYMOUS
        if authorization is not None:
            viewer = await authenticate(str(authorization), self.settings)
            if not viewer.is_authenticated:
                raise ConnectionRejectionError({"reason": viewer.rejection})
        context.viewer = context.request.scope["state"]["connection_guard"].arm(viewer)
        return None

    def encode_json(self, data: object) -> str:
        """Responses and WebSocket messages, encoded by orjson (several times faster than
        the standard library on a page of results). Text, not bytes: strawberry's WebSocket
        handlers send what this returns as text. What orjson refuses (a lone surrogate
        echoed from a request) falls back to the standard encoder."""
        try:
            return orjson.dumps(data, default=compiled.fragment).decode()
        except orjson.JSONEncodeError:
            return json.dumps(data, separators=(",", ":"), default=compiled.parsed)

    def parse_json(self, data: str | bytes) -> Any:
        """A JSON object, or 400: not a bare value, not bytes that are not UTF-8 text."""
        try:
            parsed = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, "The request body is not valid JSON.") from None
        if not isinstance(parsed, dict):
            raise HTTPException(400, "The request body must be a JSON object.")
        return parsed

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        if not any(request.headers.get(name) for name in PREFLIGHT_HEADERS):
            raise HTTPException(
                400,
                "Multipart requests must carry an 'Apollo-Require-Preflight: true' header.",
            )
        return await super().parse_multipart(request)


REQUEST_ERROR_CODES = {404: errors.ErrorCode.NOT_FOUND.value, 405: errors.METHOD_NOT_ALLOWED}


def request_error(error: HTTPException) -> Response:
    """A request refused before any operation ran (strawberry's `HTTPException`: not JSON,
    no query, no such operation, a mutation over GET, ...), as a GraphQL error with the
    same status: `{"errors": [{"message", "extensions": {"code"}}]}`. The messages are
    strawberry's or ours, fixed texts that quote nothing of the request."""
    code = REQUEST_ERROR_CODES.get(error.status_code, errors.BAD_REQUEST)
    message = error.reason
    cause = error.__cause__
    if isinstance(cause, CannotGetOperationTypeError):
        code = errors.OPERATION_RESOLUTION_FAILURE
        message = (
            "The document has no operation to run (a query, mutation or subscription)."
            if cause.operation_name is None
            else "No operation in the document has the name given in `operationName`."
        )
    elif isinstance(cause, InvalidOperationTypeError):
        kind = cause.operation_type.value.capitalize()
        message = (
            "Subscriptions run over the WebSocket at this URL (graphql-transport-ws or "
            "graphql-ws), not over HTTP."
            if kind == "Subscription"
            else f"{kind} operations are not accepted over GET: POST them as JSON."
        )
    elif isinstance(cause, MissingQueryError):
        message = 'The request has no `query`: POST {"query": "..."} as JSON.'
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=error.status_code)


class BodyTooLarge(Exception):
    """The request body is over its cap: raised while it is read (see `capped`)."""


def capped(scope: Scope, receive: Receive, limit: int) -> Receive:
    """`receive`, raising BodyTooLarge once the body is declared or read over `limit`."""
    declared = Headers(scope=scope).get("content-length", "")
    received = 0

    async def receive_capped() -> Message:
        nonlocal received
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return receive_capped


def is_multipart(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"multipart/form-data")
    return False


async def service_unavailable(
    scope: Scope, receive: Receive, send: Send, error: BaseException
) -> None:
    """HTTP 503 with Retry-After and a GraphQL error body (SERVICE_UNAVAILABLE)."""
    logger.warning(
        "request refused: a dependency is unavailable",
        extra={"request_id": request_id_of(scope), "error": type(error).__name__},
    )
    body = {
        "errors": [
            {
                "message": "The service is unavailable for a moment; retry shortly.",
                "extensions": {
                    "code": SERVICE_UNAVAILABLE,
                    "retryAfterSeconds": RETRY_AFTER_SECONDS,
                },
            }
        ]
    }
    headers = {"retry-after": str(RETRY_AFTER_SECONDS)}
    await JSONResponse(body, status_code=503, headers=headers)(scope, receive, send)


async def refuse_handshake(websocket: WebSocket, status: int, message: str) -> None:
    """Answer a WebSocket handshake with an HTTP error; where the server cannot (no
    denial-response extension), a plain refusal (403)."""
    try:
        await websocket.send_denial_response(PlainTextResponse(message, status_code=status))
    except RuntimeError:
        await websocket.close(code=1008)
