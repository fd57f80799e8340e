"""What operators and browsers see: health checks, headers, logs, GraphiQL, the SDL file."""

import json
import logging
import random
from datetime import UTC, datetime
from pathlib import Path

from healthcare.config import Settings
from healthcare.ops.log import JsonFormatter, time_text
from healthcare.realtime.pubsub import PubSub
from healthcare.schema import build_schema, sdl

ME = "query Me($probe: String) { me { id } }"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


async def test_healthz_says_alive(client):
    response = await client.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_pubsub(client):
    response = await client.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": True, "pubsub": True}}


async def test_an_unreachable_redis_is_reported_not_ready():
    # given: nothing listens on port 1
    pubsub = PubSub("redis://127.0.0.1:1/0")
    # then
    assert await pubsub.is_ready() is False


async def test_api_responses_carry_security_headers_and_a_request_id(client, patient):
    # when
    response = await client.post(ME, as_=patient, headers={"x-request-id": "trace-123"})
    # then
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-request-id"] == "trace-123"


async def test_an_unsafe_request_id_is_replaced(client):
    unsafe = "<script>" + "x" * 100
    response = await client.http.get("/healthz", headers={"x-request-id": unsafe})
    assert response.headers["x-request-id"] != unsafe
    assert len(response.headers["x-request-id"]) == 32


async def test_each_request_logs_one_structured_line_without_tokens_or_variables(
    client, patient, caplog
):
    # given
    caplog.set_level(logging.INFO, logger="healthcare.request")
    # when
    await client.post(
        ME, {"probe": "SENSITIVE-VARIABLE"}, as_=patient, headers={"x-request-id": "log-test-1"}
    )
    # then
    lines = [
        JsonFormatter().format(record)
        for record in caplog.records
        if getattr(record, "request_id", None) == "log-test-1"
    ]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["operation"] == "Me"
    assert entry["status"] == 200
    assert entry["path"] == "/graphql"
    assert isinstance(entry["duration_ms"], float)
    assert patient.access_token not in lines[0]
    assert "SENSITIVE-VARIABLE" not in lines[0]


def test_a_log_lines_time_is_what_datetime_writes():
    # given: instants from 1906 to 2096, and fractions at the edges of rounding (to the
    # microsecond, half to even, then cut to the millisecond; ones that carry a second,
    # ones before 1970 that borrow one, and exact halves of a microsecond)
    chosen = random.Random(20261208)  # noqa: S311 (test data, not a secret)
    instants = [chosen.uniform(-2_000_000_000, 4_000_000_000) for _ in range(20_000)]
    edges = (0.0, 0.0005, 0.0004995, 0.9995, 0.9999995, 0.9999999, 0.5, 0.25)
    instants += [base + fraction for base in (1_700_000_000, 0, -1, -86_400) for fraction in edges]
    instants += [base - fraction for base in (0, -86_400) for fraction in edges]
    instants += [1 / 128, 3 / 128, -1 / 128, 0.5e-6, 1.5e-6, 2.5e-6]  # exact halves
    # then
    for instant in instants:
        expected = datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds")
        assert time_text(instant) == expected, instant


async def test_graphiql_is_served_to_a_browser(client):
    response = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_queries_over_get_are_refused_so_they_never_land_in_urls(client, patient):
    response = await client.http.get(
        "/graphql",
        params={"query": "{ me { id } }"},
        headers={"authorization": f"Bearer {patient.access_token}"},
    )
    assert response.status_code in {400, 405}
    assert "data" not in response.text


async def test_a_cors_preflight_from_an_allowed_origin_is_answered(client):
    response = await client.http.options(
        "/graphql",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"


async def test_a_cors_preflight_from_another_origin_is_refused(client):
    response = await client.http.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_a_bug_is_masked_with_internal_server_error(client, patient, monkeypatch):
    # given: a resolver that fails unexpectedly
    from healthcare.schema import users

    def explode(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM users -- internal detail")

    monkeypatch.setattr(users, "find_visible", explode)
    # when
    errors = await client.errors(
        "query User($id: ID!) { user(id: $id) { id } }", {"id": patient.id}, as_=patient
    )
    # then
    assert errors[0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert errors[0]["message"] == "Unexpected error."
    assert "SELECT" not in json.dumps(errors)


async def test_the_committed_schema_file_is_up_to_date():
    assert SCHEMA_FILE.read_text() == sdl(build_schema(Settings())), (
        "schema.graphql is stale: run `make schema`"
    )


async def test_errors_about_the_request_itself_carry_a_code_and_a_useful_message(client, patient):
    # when
    syntax = await client.errors("query Broken { me { id ", as_=patient)
    unknown = await client.errors("query Unknown { me { shoeSize } }", as_=patient)
    variable = await client.errors(
        "query User($id: ID!) { user(id: $id) { id } }", {"id": {"not": "an id"}}, as_=patient
    )
    # then
    assert syntax[0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert unknown[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "shoeSize" in unknown[0]["message"]
    assert variable[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$id" in variable[0]["message"]
