"""Authentication on the GraphQL WebSocket, both protocols, against the live server."""

import asyncio
import dataclasses
import json
import uuid
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from healthcare.graphql.view import MAX_SUBSCRIPTIONS_PER_CONNECTION
from healthcare.security.auth import create_access_token
from tests.wsclient import Subscriber

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
ME = "query Me { me { id email } }"


async def receive(socket: Any) -> dict[str, Any]:
    return json.loads(await socket.recv())


async def init(socket: Any, token: str | None = None) -> None:
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))


async def closed_code(socket: Any, deadline: float = 30) -> int | None:
    """Wait (up to `deadline` seconds without a message) for the server to close the
    socket; the close code it sent."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), deadline)
    return socket.close_code


async def test_a_valid_token_in_connection_init_signs_the_socket_in(live_server, patient):
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        # when
        await init(socket, patient.access_token)
        ack = await receive(socket)
        operation_id = str(uuid.uuid4())
        await socket.send(
            json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": ME}})
        )
        result = await receive(socket)
        done = await receive(socket)
    # then
    assert ack["type"] == "connection_ack"
    assert result["type"] == "next"
    assert result["payload"]["data"]["me"] == {"id": patient.id, "email": patient.user.email}
    assert done == {"id": operation_id, "type": "complete"}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_a_bad_token_is_refused_with_4403_on_graphql_transport_ws(live_server, authorization):
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": authorization}})
        )
        assert await closed_code(socket) == 4403


async def test_a_revoked_session_is_refused_with_4403(client, live_server, patient):
    # given
    await client.execute("mutation Logout { logout }", as_=patient)
    # when
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await init(socket, patient.access_token)
        # then
        assert await closed_code(socket) == 4403


async def test_a_bad_token_is_refused_with_4403_on_legacy_graphql_ws(live_server):
    async with websockets.connect(live_server.ws_url, subprotocols=[LEGACY_WS]) as socket:
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}})
        )
        error = await receive(socket)
        assert error["type"] == "connection_error"
        assert await closed_code(socket) == 4403


async def test_a_valid_token_is_acknowledged_on_legacy_graphql_ws(live_server, doctor):
    async with websockets.connect(live_server.ws_url, subprotocols=[LEGACY_WS]) as socket:
        await init(socket, doctor.access_token)
        assert (await receive(socket))["type"] == "connection_ack"


async def test_an_anonymous_socket_gets_unauthenticated_for_signed_in_operations(live_server):
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await init(socket)
        assert (await receive(socket))["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": ME}}))
        result = await receive(socket)
    assert result["type"] == "next"
    assert result["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_handshake_from_an_origin_outside_the_allowlist_is_refused(live_server):
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            live_server.ws_url, subprotocols=[TRANSPORT_WS], origin=Origin("https://evil.example")
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_a_handshake_from_an_allowed_origin_is_accepted(live_server):
    async with websockets.connect(
        live_server.ws_url, subprotocols=[TRANSPORT_WS], origin=Origin("http://localhost:5173")
    ) as socket:
        await init(socket)
        assert (await receive(socket))["type"] == "connection_ack"


async def test_a_frame_over_the_cap_closes_the_socket_with_1009(live_server, patient):
    async with websockets.connect(
        live_server.ws_url, subprotocols=[TRANSPORT_WS], max_size=None
    ) as socket:
        await init(socket, patient.access_token)
        assert (await receive(socket))["type"] == "connection_ack"
        huge = "x" * (live_server.settings.ws_max_frame_bytes + 1)
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": huge}}))
        assert await closed_code(socket) == 1009


async def test_subscriptions_per_connection_are_capped(live_server, patient):
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await init(socket, patient.access_token)
        assert (await receive(socket))["type"] == "connection_ack"
        query = "subscription N { notificationAdded { seq } }"
        for number in range(MAX_SUBSCRIPTIONS_PER_CONNECTION + 1):
            payload = {"query": query}
            await socket.send(
                json.dumps({"id": str(number), "type": "subscribe", "payload": payload})
            )
        refusal = await receive(socket)
    assert refusal["type"] == "error"
    assert refusal["id"] == str(MAX_SUBSCRIPTIONS_PER_CONNECTION)
    assert "limit" in refusal["payload"][0]["message"]


async def test_a_socket_that_never_sends_connection_init_is_closed_after_10_seconds(
    live_server,
):
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        started = asyncio.get_running_loop().time()
        assert await closed_code(socket) == 4408
        assert 9 <= asyncio.get_running_loop().time() - started < 15


async def test_an_expired_token_is_refused_with_4403(live_server, patient):
    # given: a token whose lifetime has already run out
    expired = dataclasses.replace(live_server.settings, access_token_ttl_seconds=1)
    token, _ = create_access_token(patient.user.id, patient.tokens.session_id, expired)
    await asyncio.sleep(7)  # past the expiry and the verifier's 5-second leeway
    # when
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await init(socket, token)
        # then
        assert await closed_code(socket) == 4403


@pytest.mark.parametrize("operation_name", ["\udfff", "x" * 300], ids=["lone surrogate", "long"])
async def test_an_unknown_operation_name_closes_the_socket_cleanly_with_4400(
    live_server, patient, operation_name
):
    # Found by fuzzing: the close reason quotes the name, and a reason the close frame
    # cannot carry (not UTF-8, over 123 bytes) made the close itself fail (1006).
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await init(socket, patient.access_token)
        assert (await receive(socket))["type"] == "connection_ack"
        payload = {"query": "subscription { notificationAdded { seq } }"}
        payload["operationName"] = operation_name
        # json.dumps escapes the surrogate as \udfff, as a buggy client would send it
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        code = await closed_code(socket)
    assert code == 4400
    assert socket.close_reason and len(socket.close_reason.encode()) <= 123


# ---- one viewer per socket, and sockets that may not stay -------------------------------

NOTIFICATION_ADDED = "subscription N { notificationAdded { seq } }"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_second_connection_init_closes_the_socket_with_4429(live_server, patient, protocol):
    # given: a socket initialised without a token
    async with websockets.connect(live_server.ws_url, subprotocols=[protocol]) as socket:
        await init(socket)
        assert (await receive(socket))["type"] == "connection_ack"
        # when: a second initialisation tries to sign it in
        await init(socket, patient.access_token)
        # then
        assert await closed_code(socket) == 4429


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_logging_out_closes_the_socket_on_either_protocol(
    client, live_server, patient, protocol
):
    # given
    subscriber = await Subscriber.open(live_server, patient, protocol)
    await subscriber.subscribe(NOTIFICATION_ADDED)
    # when
    await client.execute("mutation Logout { logout }", as_=patient)
    # then
    assert await subscriber.close_code() == 4401


async def test_a_legacy_socket_that_never_sends_connection_init_is_closed_with_4408(live_server):
    async with websockets.connect(live_server.ws_url, subprotocols=[LEGACY_WS]) as socket:
        started = asyncio.get_running_loop().time()
        assert await closed_code(socket) == 4408
        assert 9 <= asyncio.get_running_loop().time() - started < 15


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_signed_out_socket_is_closed_after_its_idle_time(live_server, protocol):
    # given
    idle = live_server.settings.ws_anonymous_idle_seconds
    async with websockets.connect(live_server.ws_url, subprotocols=[protocol]) as socket:
        await init(socket)
        assert (await receive(socket))["type"] == "connection_ack"
        started = asyncio.get_running_loop().time()
        # when: it does nothing (it could do nothing: every subscription needs a user)
        code = await closed_code(socket)
    # then
    assert code == 4401
    assert asyncio.get_running_loop().time() - started >= idle - 1


async def test_a_signed_in_socket_outlives_the_signed_out_idle_time(live_server, patient):
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await init(socket, patient.access_token)
        assert (await receive(socket))["type"] == "connection_ack"
        idle = live_server.settings.ws_anonymous_idle_seconds
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(socket.recv(), idle + 2)


async def test_sockets_per_client_address_are_capped_with_429(live_server):
    # given: one client address (through the trusted proxy) holding as many as it may
    headers = {"x-forwarded-for": f"2001:db8:{uuid.uuid4().hex[:4]}::1"}
    cap = live_server.settings.ws_max_connections_per_address
    sockets = [
        await websockets.connect(
            live_server.ws_url, subprotocols=[TRANSPORT_WS], additional_headers=headers
        )
        for _ in range(cap)
    ]
    try:
        # when
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                live_server.ws_url, subprotocols=[TRANSPORT_WS], additional_headers=headers
            )
        # then
        assert refused.value.response.status_code == 429
        # and another address is let in
        other = {"x-forwarded-for": f"2001:db8:{uuid.uuid4().hex[:4]}::2"}
        async with websockets.connect(
            live_server.ws_url, subprotocols=[TRANSPORT_WS], additional_headers=other
        ) as socket:
            await init(socket)
            assert (await receive(socket))["type"] == "connection_ack"
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))
    # and once they are closed, the address may connect again
    async with websockets.connect(
        live_server.ws_url, subprotocols=[TRANSPORT_WS], additional_headers=headers
    ) as socket:
        await init(socket)
        assert (await receive(socket))["type"] == "connection_ack"
