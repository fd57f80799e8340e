"""Authentication on the GraphQL WebSocket, both protocols, against the live server."""

import asyncio
import dataclasses
import json
import uuid
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from healthcare.app import MAX_SUBSCRIPTIONS_PER_CONNECTION
from healthcare.auth import create_access_token

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
ME = "query Me { me { id email } }"


async def receive(socket: Any) -> dict[str, Any]:
    return json.loads(await socket.recv())


async def init(socket: Any, token: str | None = None) -> None:
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))


async def closed_code(socket: Any) -> int | None:
    """Wait for the server to close the socket; the close code it sent."""
    with pytest.raises(ConnectionClosed):
        while True:
            await socket.recv()
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
            live_server.ws_url, subprotocols=[TRANSPORT_WS], origin="https://evil.example"
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_a_handshake_from_an_allowed_origin_is_accepted(live_server):
    async with websockets.connect(
        live_server.ws_url, subprotocols=[TRANSPORT_WS], origin="http://localhost:5173"
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
