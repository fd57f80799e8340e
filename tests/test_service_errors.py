"""Errors a client did not cause: a bug inside a subscription, a database that cannot be
reached, and clients that leave. Each is typed (`extensions.code`), tells nothing of the
server's internals, and a client leaving is no error at all.

The subscription tests run against the suite's live server (in this process). The
outage tests run `healthcare serve` in processes of their own, each on a database of its
own that the test takes away: a PostgreSQL cluster of the test's own (never the shared
one), and a SQLite file another process holds the write lock of. They run the same on
the embedded and the PostgreSQL suite.
"""

import asyncio
import gc
import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from healthcare.demo import DEMO_PASSWORD
from tests.conftest import LiveServer, Persona
from tests.servers import (
    PostgresCluster,
    ServerProcess,
    login,
    postgres_cluster,
    postgres_cluster_available,
    server_process,
    wait_until,
)

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
NOTIFICATION_ADDED = "subscription NotificationAdded { notificationAdded { seq } }"
ME = "query Me { me { id } }"
LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { __typename }
}
"""
SECRET = "SELECT password_hash FROM users -- internal detail"
TRY_AGAIN_LATER = 1013


async def receive(socket: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), 10))


async def initialised(url: str, protocol: Subprotocol, token: str) -> Any:
    socket = await websockets.connect(url, subprotocols=[protocol])
    payload = {"authorization": f"Bearer {token}"}
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    return socket


def subscribe_message(protocol: Subprotocol, query: str) -> str:
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    return json.dumps({"id": "1", "type": kind, "payload": {"query": query}})


# ---- a bug inside a subscription (issue 16, item 6) ----------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_bug_inside_a_subscription_reaches_the_client_as_internal_server_error_with_a_request_id(  # noqa: E501
    live_server: LiveServer,
    patient: Persona,
    protocol: Subprotocol,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    # given: the subscription's first step fails unexpectedly, quoting SQL
    from healthcare.schema import notifications

    async def explode(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(notifications.resolvers, "last_seq", explode)
    socket = await initialised(live_server.ws_url, protocol, patient.access_token)
    try:
        assert (await receive(socket))["type"] == "connection_ack"
        # when
        await socket.send(subscribe_message(protocol, NOTIFICATION_ADDED))
        result = await receive(socket)
        done = await receive(socket)
    finally:
        await socket.close()
    # then: a typed error, no internals, and the id to find it by in the logs
    assert result["type"] in {"next", "data"}, result
    [error] = result["payload"]["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    assert "SELECT" not in json.dumps(result) and "RuntimeError" not in json.dumps(result)
    assert done["type"] == "complete"
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert [getattr(r, "request_id", None) for r in logged] == [request_id]


async def test_a_bug_in_a_resolver_over_http_still_leaves_the_request_id_to_the_header(
    client: Any, patient: Persona, monkeypatch: pytest.MonkeyPatch
):
    # given
    from healthcare.schema import users

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(users, "find_visible", explode)
    # when
    response = await client.post(
        "query User($id: ID!) { user(id: $id) { id } }", {"id": patient.id}, as_=patient
    )
    # then
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert response.headers["x-request-id"]


# ---- a database that cannot be reached (issue 16, item 7) ----------------------------------


@dataclass
class Outage:
    """A server whose database was taken away after a user signed in."""

    server: ServerProcess
    token: str
    cluster: PostgresCluster


def graphql_post(
    server: ServerProcess, query: str, variables: dict[str, Any] | None = None, token: str = ""
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{server.base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=60,
    )


def assert_service_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) > 0
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["retryAfterSeconds"] == int(response.headers["retry-after"])
    for internal in ("Connection", "refused", "locked", "Error", "Traceback", "SELECT"):
        assert internal not in error["message"]


@pytest.fixture(scope="module")
def postgres_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    """`healthcare serve` on a PostgreSQL cluster of its own, stopped once a user signed
    in: as in an outage, open connections are cut and new ones refused."""
    if not postgres_cluster_available():
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    folder = tmp_path_factory.mktemp("postgres-down")
    with (
        postgres_cluster() as cluster,
        server_process(folder / "app", DATABASE_URL=cluster.url()) as server,
    ):
        token = login(server.base_url, "alice@demo.clinic", DEMO_PASSWORD)
        cluster.stop()
        yield Outage(server, token, cluster)


def test_while_postgresql_is_down_a_signed_in_request_gets_503_service_unavailable(
    postgres_down: Outage,
):
    # when: authentication needs the database, before GraphQL runs
    response = graphql_post(postgres_down.server, ME, token=postgres_down.token)
    # then
    assert_service_unavailable(response)


def test_while_postgresql_is_down_signing_in_gets_503_service_unavailable(
    postgres_down: Outage,
):
    # when: a resolver needs the database
    response = graphql_post(
        postgres_down.server, LOGIN, {"email": "bob@demo.clinic", "password": DEMO_PASSWORD}
    )
    # then
    assert_service_unavailable(response)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_while_postgresql_is_down_a_socket_that_cannot_be_signed_in_is_closed_with_1013(
    postgres_down: Outage, protocol: Subprotocol
):
    # given
    socket = await initialised(postgres_down.server.ws_url, protocol, postgres_down.token)
    # when: its connection_init cannot be checked against the sessions
    with pytest.raises(ConnectionClosed):
        while True:
            message = await receive(socket)
            assert message["type"] not in {"connection_ack", "connection_error"}, message
    # then
    assert socket.close_code == TRY_AGAIN_LATER


def test_once_postgresql_is_back_the_same_request_is_answered_again(postgres_down: Outage):
    # given
    assert_service_unavailable(graphql_post(postgres_down.server, ME, token=postgres_down.token))
    # when
    postgres_down.cluster.start()
    try:
        # then: the pool reconnects by itself
        wait_until(
            lambda: (
                graphql_post(postgres_down.server, ME, token=postgres_down.token).status_code == 200
            ),
            60,
        )
    finally:
        postgres_down.cluster.stop()  # down again, for the other tests of the outage


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[ServerProcess]:
    # the request deadline far past SQLite's busy timeout (5 s), so that on a loaded
    # machine the busy database, not the deadline, is what answers a waiting request
    with server_process(tmp_path / "app", REQUEST_TIMEOUT_SECONDS="120") as server:
        yield server


def test_while_another_process_holds_the_sqlite_write_lock_signing_in_gets_503(
    sqlite_server: ServerProcess, tmp_path: Path
):
    # given: another process (a backup, a migration, an open `sqlite3` shell) holds the
    # write lock on the embedded database past the server's busy timeout
    holder = sqlite3.connect(tmp_path / "app" / "healthcare.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        # when: signing in writes a session
        response = graphql_post(
            sqlite_server, LOGIN, {"email": "bob@demo.clinic", "password": DEMO_PASSWORD}
        )
    finally:
        holder.close()
    # then
    assert_service_unavailable(response)
    # and: once the lock is let go, the same request succeeds
    wait_until(
        lambda: (
            graphql_post(
                sqlite_server, LOGIN, {"email": "bob@demo.clinic", "password": DEMO_PASSWORD}
            ).status_code
            == 200
        )
    )


# ---- clients that leave (issue 16, item 10) --------------------------------------------------


class LeavingClient:
    """A WebSocket client driven at the ASGI level, against the app itself: it leaves
    (closes with 1000) just as the server sends it its first result, the moment no real
    client can time. The server then finds the socket gone while sending (uvicorn raises
    ClientDisconnected, as it does once the peer has closed) and hears the close after."""

    def __init__(self, protocol: Subprotocol, token: str) -> None:
        self.protocol = protocol
        self.token = token
        self.acknowledged = asyncio.Event()
        self.left = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self.steps = 0

    @property
    def scope(self) -> dict[str, Any]:
        return {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"testserver"),
                (b"sec-websocket-protocol", self.protocol.encode()),
            ],
            "subprotocols": [self.protocol],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "extensions": {"websocket.http.response": {}},
        }

    async def receive(self) -> dict[str, Any]:
        self.steps += 1
        if self.steps == 1:
            return {"type": "websocket.connect"}
        if self.steps == 2:
            payload = {"authorization": f"Bearer {self.token}"}
            init = json.dumps({"type": "connection_init", "payload": payload})
            return {"type": "websocket.receive", "text": init}
        if self.steps == 3:
            await self.acknowledged.wait()
            query = "subscription N { notificationAdded(afterSeq: 0) { seq } }"
            return {"type": "websocket.receive", "text": subscribe_message(self.protocol, query)}
        await self.left.wait()
        return {"type": "websocket.disconnect", "code": 1000, "reason": ""}

    async def send(self, message: dict[str, Any]) -> None:
        from uvicorn.protocols.utils import ClientDisconnected

        if self.left.is_set():
            raise ClientDisconnected
        if message["type"] == "websocket.send":
            sent = json.loads(message["text"])
            if sent["type"] == "connection_ack":
                self.acknowledged.set()
            elif sent["type"] in {"next", "data", "error"}:
                self.left.set()  # the client has closed: this frame never leaves
                raise ClientDisconnected
        self.sent.append(message)


def problems(records: list[logging.LogRecord]) -> list[str]:
    """Log records a client leaving must not cause: warnings and worse, or tracebacks."""
    return [
        f"{record.levelname} {record.name}: {record.getMessage()}"
        for record in records
        if record.levelno >= logging.WARNING or record.exc_info
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_client_leaving_as_its_subscription_sends_logs_no_error(
    live_server: LiveServer,
    patient: Persona,
    doctor: Persona,
    protocol: Subprotocol,
    caplog: pytest.LogCaptureFixture,
):
    # given: a notification the subscription sends at once
    from healthcare import models
    from tests.conftest import make_appointment

    appointment = await make_appointment(patient.user, doctor.user)
    await models.Notification.create(
        recipient=patient.user,
        seq=1,
        kind=models.NotificationKind.APPOINTMENT_BOOKED,
        title="Appointment booked",
        body="An appointment was booked.",
        appointment=appointment,
    )
    client = LeavingClient(protocol, patient.access_token)
    caplog.set_level(logging.DEBUG)
    # when: the client leaves as it is sent its first result
    await asyncio.wait_for(live_server.app(client.scope, client.receive, client.send), 30)
    gc.collect()  # a task that ended with an unretrieved error is reported when freed
    # then
    assert client.left.is_set(), client.sent
    assert problems(caplog.records) == []


async def test_an_http_client_leaving_before_its_request_is_read_logs_no_error(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
):
    # given
    caplog.set_level(logging.INFO)
    host, port = live_server.base_url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"query": ME}).encode()
    # when: it announces a body it never sends, and leaves
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"X-Request-Id: leaving-client\r\n"
        + f"Content-Length: {len(body) + 100}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    # then: one request line says the client left; nothing is logged as an error
    deadline = asyncio.get_running_loop().time() + 30
    while not (
        lines := [r for r in caplog.records if getattr(r, "request_id", None) == "leaving-client"]
    ):
        assert asyncio.get_running_loop().time() < deadline, "the request was never logged"
        await asyncio.sleep(0.05)
    assert [getattr(line, "status", None) for line in lines] == [499]
    assert problems(caplog.records) == []
