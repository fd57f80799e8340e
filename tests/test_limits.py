"""The GraphQL attack surface: each limit refuses what it must, over HTTP and WebSocket,
and lets ordinary operations through."""

import asyncio
import dataclasses
import json

import httpx
import pytest
import websockets

from healthcare import limits
from tests.servers import server_process

ME = "query Me { me { id } }"
INTROSPECTION = "query Schema { __schema { types { name } } }"


def aliases(count: int) -> str:
    return "query Aliases { " + " ".join(f"a{n}: me {{ id }}" for n in range(count)) + " }"


async def first_error(client, query: str, as_=None) -> dict:
    return (await client.errors(query, as_=as_))[0]


async def test_ordinary_operations_pass_every_limit(client, patient):
    assert (await client.execute(aliases(15), as_=patient))["a14"]["id"] == patient.id


async def test_too_many_aliases_are_refused(client, patient):
    error = await first_error(client, aliases(16), patient)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "aliases" in error["message"]


async def test_aliases_hidden_in_fragments_count_too(client, patient):
    fields = " ".join(f"f{n}: me {{ id }}" for n in range(16))
    query = "query ViaFragment { ...Many } fragment Many on Query { " + fields + " }"
    error = await first_error(client, query, patient)
    assert "aliases" in error["message"]


async def test_nesting_deeper_than_the_limit_is_refused(client, patient, monkeypatch):
    # given: a limit of 3 (the schema's natural paths are shallower than the default 10)
    monkeypatch.setattr(limits, "current", dataclasses.replace(limits.current, max_depth=3))
    shallow = "query Shallow { appointments(first: 1) { edges { node { id } } } }"
    deep = "query Deep { appointments(first: 1) { edges { node { patient { id } } } } }"
    # then
    assert "errors" not in (await client.post(shallow, as_=patient)).json()
    error = await first_error(client, deep, patient)
    assert "exceeds maximum operation depth" in error["message"]


async def test_a_document_over_the_token_limit_is_refused(client, patient):
    huge = "query Huge { me { " + "id " * 2500 + "} }"
    error = await first_error(client, huge, patient)
    assert error["extensions"]["code"] in {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"}
    assert "token" in error["message"].lower()


async def test_a_field_repeated_many_times_is_refused(client, patient):
    repeated = "query Repeated { me { id } " + "me { id } " * 6 + "}"
    error = await first_error(client, repeated, patient)
    assert "selected 7 times" in error["message"]


async def test_an_overloaded_directive_is_refused(client, patient):
    overloaded = "query Overloaded { me " + "@include(if: true) " * 6 + "{ id } }"
    error = await first_error(client, overloaded, patient)
    assert "@include" in error["message"]


async def test_the_limits_apply_over_websocket_too(live_server, patient):
    async with websockets.connect(live_server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        auth = {"authorization": f"Bearer {patient.access_token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": aliases(16)}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert "aliases" in errors[0]["message"]


async def test_an_operation_that_runs_too_long_gets_a_clean_503(client, patient, slow_user_lookup):
    # given: a one-second deadline and a lookup that takes three (slow_user_lookup)
    # when
    response = await client.post(
        "query User($id: ID!) { user(id: $id) { id } }", {"id": patient.id}, as_=patient
    )
    # then
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"


def test_production_turns_off_introspection_suggestions_and_graphiql(tmp_path):
    env = {"HEALTHCARE_ENV": "production", "JWT_SECRET": "p" * 48}
    with server_process(tmp_path, **env) as server:
        introspection = httpx.post(
            f"{server.base_url}/graphql", json={"query": INTROSPECTION}
        ).json()
        typo = httpx.post(f"{server.base_url}/graphql", json={"query": "{ mee { id } }"}).json()
        page = httpx.get(f"{server.base_url}/graphql", headers={"accept": "text/html"})
    assert "introspection" in introspection["errors"][0]["message"].lower()
    assert "Did you mean" not in typo["errors"][0]["message"]
    assert "graphiql" not in page.text.lower()


def test_development_keeps_introspection_for_graphiql(tmp_path):
    with server_process(tmp_path) as server:
        body = httpx.post(f"{server.base_url}/graphql", json={"query": INTROSPECTION}).json()
    assert "errors" not in body
    assert any(t["name"] == "Appointment" for t in body["data"]["__schema"]["types"])


async def test_the_limits_keep_the_validation_cache_working(client, patient):
    # given: the cache strawberry's ValidationCache uses (maxsize 128 by default)
    from strawberry.extensions.validation_cache import _get_validate_cache

    cache = _get_validate_cache(128)
    query = "query CacheProbe { me { id firstName } }"
    await client.execute(query, as_=patient)
    hits_before = cache.cache_info().hits
    # when
    for _ in range(3):
        await client.execute(query, as_=patient)
    # then: the same document is validated once, not once per request
    assert cache.cache_info().hits - hits_before >= 3


async def test_postgresql_stops_any_statement_that_runs_too_long(live_server):
    if live_server.settings.uses_sqlite:
        pytest.skip("statement_timeout is PostgreSQL's")
    from asyncpg import QueryCanceledError
    from tortoise import connections

    seconds = live_server.settings.statement_timeout_ms / 1000
    with pytest.raises(QueryCanceledError, match="statement timeout"):
        await connections.get("default").execute_query(f"SELECT pg_sleep({seconds + 2})")


async def test_only_json_bodies_are_accepted_so_a_plain_html_form_cannot_post(client, patient):
    # A cross-site form can send urlencoded or text/plain bodies, never application/json.
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        response = await client.http.post(
            "/graphql",
            content='{"query": "mutation Logout { logout }"}',
            headers={
                "content-type": content_type,
                "authorization": f"Bearer {patient.access_token}",
            },
        )
        assert response.status_code == 400
    assert await client.execute("query Me { me { id } }", as_=patient)
