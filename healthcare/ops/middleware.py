"""ASGI middleware: request ids, security headers and one log line per request."""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthcare.ops import metrics

logger = logging.getLogger("healthcare.request")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_HEADER_NAME = REQUEST_ID_HEADER.encode()  # as ASGI gives header names
# The status logged for a request whose client left before it was answered (nginx's).
CLIENT_CLOSED_REQUEST = 499
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}

# Responses that may be cached: profile pictures, and GraphiQL's files (whose URLs carry
# their digest, healthcare.graphql.ide), when found (200 or 304). Every other response,
# a 404 under those paths included, is `no-store`.
CACHEABLE_PATHS = ("/media/", "/graphql/assets/")


def client_ip(scope: Scope) -> str | None:
    """The client's IP address, parsed: what a trusted proxy forwarded (see
    `TRUSTED_PROXIES`), else the peer's. None when there is none, or when it is not an
    address (text a proxy passed on), so that nothing else ever reaches the audit trail."""
    client = scope.get("client")
    if not client:
        return None
    return _parsed_address(str(client[0]))


@functools.lru_cache(maxsize=4096)  # a client sends many requests from one address
def _parsed_address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.split("%")[0]))
    except ValueError:
        return None


def request_id_of(scope: Scope) -> str | None:
    """The id `RequestContextMiddleware` gave this request or socket."""
    found: str | None = scope.get("state", {}).get("request_id")
    return found


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == _REQUEST_ID_HEADER_NAME:
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


# A WebSocket close frame carries at most 125 bytes: the code (2) and a UTF-8 reason.
MAX_CLOSE_REASON_BYTES = 123


def close_reason(reason: str | None) -> str:
    """A close reason the frame can carry: strawberry closes with an error's message as
    the reason, which may quote the client's input (a lone surrogate cannot be encoded,
    and a long name would not fit); either made the close itself fail."""
    encoded = (reason or "").encode("utf-8", "replace")[:MAX_CLOSE_REASON_BYTES]
    return encoded.decode("utf-8", "ignore")


class RequestContextMiddleware:
    """Gives each request an id, adds security headers, and logs one line when done.

    The GraphQL layer records the operation name in `scope["state"]`; the line never has
    the query string, variables, headers or bodies.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                found = message["status"] in (200, 304)
                if not (found and scope["path"].startswith(CACHEABLE_PATHS)):
                    headers["cache-control"] = "no-store"
            elif message["type"] == "websocket.accept":
                status["code"] = 101
            elif message["type"] == "websocket.http.response.start":  # a refused handshake
                status["code"] = message["status"]
            elif message["type"] == "websocket.close":
                if not status["code"]:
                    status["code"] = 403
                message = {**message, "reason": close_reason(message.get("reason"))}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            # The client left while its request was being read: nobody to answer, and no
            # error (uvicorn would log one, with a traceback, for every closed tab).
            if not status["code"]:
                status["code"] = CLIENT_CLOSED_REQUEST
        finally:
            operations = scope["state"].get("graphql_operations")
            logger.info(
                "request",
                extra={
                    "request_id": request_id,
                    "kind": scope["type"],
                    "method": scope.get("method", "WS"),
                    "path": scope["path"],
                    "status": status["code"] or 500,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "operation": ",".join(operations) if operations else None,
                },
            )
            metrics.count_http_request(scope["type"], scope["path"], status["code"] or 500)
