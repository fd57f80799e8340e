"""The GraphQL attack surface: each limit refuses what it must, over HTTP and WebSocket,
and lets ordinary operations through."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from healthcare.config import Settings
from healthcare.graphql import execution
from healthcare.graphql.execution import documents
from healthcare.schema import build_schema
from tests.servers import PRODUCTION_EMAIL_ENV, server_process

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
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


async def test_nesting_deeper_than_the_limit_is_refused():
    # given: a schema built with a limit of 3 (the schema's natural paths are shallower
    # than the default 10)
    schema = build_schema(Settings(max_query_depth=3))
    shallow = "query Shallow { appointments(first: 1) { edges { node { id } } } }"
    deep = "query Deep { appointments(first: 1) { edges { node { patient { id } } } } }"
    # when
    refused = await schema.execute(deep)
    allowed = await schema.execute(shallow)
    # then: the deep one fails validation, the shallow one gets as far as its resolver
    assert refused.errors is not None
    assert "exceeds maximum operation depth" in refused.errors[0].message
    assert all("depth" not in error.message for error in allowed.errors or [])


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
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
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
    env = {"HEALTHCARE_ENV": "production", "JWT_SECRET": "p" * 48, **PRODUCTION_EMAIL_ENV}
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


async def test_the_limits_keep_the_validation_cache_working(client, patient, monkeypatch):
    # given: every validation counted
    validations = []

    def counting(*args):
        validations.append(args[1])
        return original(*args)

    original = documents.validate_document
    monkeypatch.setattr(documents, "validate_document", counting)
    query = f"query CacheProbe{uuid.uuid4().hex} {{ me {{ id firstName }} }}"
    # when
    for _ in range(4):
        await client.execute(query, as_=patient)
    # then: the same document is validated once, not once per request
    assert len(validations) == 1


async def test_a_document_over_the_character_cap_is_refused_before_it_is_parsed(
    client, live_server, patient, monkeypatch
):
    # given: a tiny operation padded with a comment past the cap (tokens do not count it)
    cap = live_server.settings.max_query_chars
    padded = "query Tiny { me { id } }#" + "x" * cap
    parsed = []
    monkeypatch.setattr(documents, "parse", lambda *args, **kwargs: parsed.append(args))
    # when
    response = await client.post(padded, as_=patient)
    # then
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert error["message"] == f"The document is {len(padded)} characters long; at most {cap}."
    assert parsed == []


async def test_a_document_over_the_character_cap_is_refused_over_websocket_too(
    live_server, patient
):
    padded = (
        "subscription S { notificationAdded { seq } }#" + "x" * live_server.settings.max_query_chars
    )
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        auth = {"authorization": f"Bearer {patient.access_token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": padded}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_many_distinct_documents_stay_within_the_caches_bounds(client, live_server, patient):
    # given: documents just under the cap, each different (as an attacker would send them)
    cache = limits_cache(live_server)
    size = live_server.settings.max_query_chars - 100
    count = cache.max_chars // size + 10
    # when
    for number in range(count):
        padding = f"#{number}".ljust(size, "x")
        await client.post(f"query Padded {{ me {{ id }} }}{padding}", as_=patient)
    # then
    assert cache.chars <= cache.max_chars
    assert len(cache) <= cache.max_entries


def test_the_document_cache_forgets_the_least_recently_used_first():
    cache = execution.DocumentCache(max_entries=2, max_chars=1000)
    first, second, third = "{ a }", "{ b }", "{ c }"
    cache.document(first, None)
    cache.document(second, None)
    cache.document(first, None)  # used again: second is now the oldest
    cache.document(third, None)
    assert [query for query, _ in cache._entries] == [first, third]
    long = "{ d }" + " " * 996
    cache.document(long, None)  # over max_chars on its own: parsed, never kept
    assert cache.chars <= 1000 and long not in [query for query, _ in cache._entries]


async def test_a_json_body_over_its_cap_is_refused_with_413_but_an_upload_may_be_larger(
    client, live_server, patient
):
    # given: a JSON body just over MAX_JSON_BODY_BYTES, within MAX_REQUEST_BYTES
    json_cap = live_server.settings.max_json_body_bytes
    assert json_cap < live_server.settings.max_request_bytes
    filler = "x" * json_cap
    # when
    refused = await client.post(ME, {"filler": filler}, as_=patient)
    upload = await client.http.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {
                    "query": "mutation U($file: Upload!) { uploadProfilePicture(file: $file) {"
                    " __typename } }",
                    "variables": {"file": None},
                }
            ),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": ("big.png", b"\x89PNG" + filler.encode(), "image/png")},
        headers={
            "apollo-require-preflight": "true",
            "authorization": f"Bearer {patient.access_token}",
        },
    )
    # then: the JSON body is refused, as a GraphQL error; the upload reaches the API,
    # which names the problem
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
    assert str(json_cap) in refused.json()["errors"][0]["message"]
    assert upload.status_code == 200
    assert upload.json()["data"]["uploadProfilePicture"]["__typename"] == "ValidationFailed"


def limits_cache(live_server) -> execution.DocumentCache:
    """The live server's cache (the server runs in this process)."""
    return live_server.app.state.schema.documents


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


async def test_a_variable_that_does_not_fit_its_type_is_named_but_never_echoed(client):
    # given: a sign-up that slips a role into its input, with a password beside it
    secret = "my secret passphrase 123"
    registration = {
        "email": "eve@example.org",
        "password": secret,
        "firstName": "Eve",
        "lastName": "E",
        "role": "ADMIN",
    }
    # when
    errors = await client.errors(
        "mutation R($input: RegisterInput!) { register(input: $input) { __typename } }",
        {"input": registration},
    )
    # then: what is wrong, and where, without the value
    [error] = errors
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "role" in error["message"]
    assert secret not in json.dumps(errors)
    assert "eve@example.org" not in json.dumps(errors)


async def test_a_scalar_variable_of_the_wrong_kind_is_not_echoed_either(client, patient):
    errors = await client.errors(
        "query A($first: Int!) { appointments(first: $first) { nodes { id } } }",
        {"first": "a password typed in the wrong box"},
        as_=patient,
    )
    assert "wrong box" not in json.dumps(errors)
    assert errors[0]["message"].startswith("Variable '$first'")
