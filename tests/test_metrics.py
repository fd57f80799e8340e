"""GET /metrics: operations by name, type and outcome, sockets, subscriptions, pub/sub
failures, HTTP statuses and the database pool, scraped from the live server; and who
may scrape it.

The server is shared by the whole run, so every check compares two scrapes.
"""

import asyncio
import os
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from healthcare.config import ConfigurationError, Settings
from healthcare.graphql import operation_metrics
from healthcare.ops import metrics, worker_metrics
from healthcare.realtime import pubsub
from healthcare.schema import users as users_schema
from tests.servers import PRODUCTION_EMAIL_ENV, Scrape
from tests.wsclient import Subscriber

OPERATIONS = "healthcare_graphql_operations_total"
DURATION = "healthcare_graphql_operation_duration_seconds"
SUBSCRIPTIONS = "healthcare_graphql_subscriptions_active"
WEBSOCKETS = "healthcare_websockets_open"
PUBLISH_FAILURES = "healthcare_pubsub_publish_failures_total"
HTTP_REQUESTS = "healthcare_http_requests_total"
POOL = "healthcare_db_pool_connections"
POOL_IN_USE = "healthcare_db_pool_connections_in_use"
POOL_MAX = "healthcare_db_pool_max_connections"
TOKEN = "metrics-test-token-" + "t" * 24

ME = "query MetricsMe { me { id email } }"
USER = "query MetricsUser($id: ID!) { user(id: $id) { id } }"
ANONYMOUS_ME = "{ me { id } }"
NO_SUCH_FIELD = "query MetricsInvalid { noSuchField }"
LOGIN = """
mutation MetricsLogin($email: String!, $password: String!) {
  login(email: $email, password: $password) { __typename }
}
"""
NOTIFICATIONS = "subscription MetricsNotifications { notificationAdded { seq } }"


async def scrape(client) -> Scrape:
    response = await client.http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)


async def eventually(client, check: Callable[[Scrape], bool], seconds: float = 5) -> Scrape:
    """Scrape until `check` holds (the server finishes closing sockets on its own time)."""
    async with asyncio.timeout(seconds):
        while True:
            latest = await scrape(client)
            if check(latest):
                return latest
            await asyncio.sleep(0.05)


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after(name, **labels) - before(name, **labels)


def operation(outcome: str, name: str, kind: str = "query") -> dict[str, str]:
    return {"operation": name, "type": kind, "outcome": outcome}


async def test_a_named_query_is_counted_and_timed_under_its_name(client, patient):
    # given
    before = await scrape(client)
    # when
    for _ in range(2):
        await client.execute(ME, as_=patient)
    after = await scrape(client)
    # then
    ok = operation("ok", "MetricsMe")
    assert moved(before, after, OPERATIONS, **ok) == 2
    assert moved(before, after, f"{DURATION}_count", **ok) == 2
    assert moved(before, after, f"{DURATION}_bucket", le="+Inf", **ok) == 2
    assert after(f"{DURATION}_sum", **ok) > before(f"{DURATION}_sum", **ok)
    # and no label holds who asked or what came back
    assert patient.id not in after.text
    assert patient.user.email not in after.text


async def test_refusals_typed_failures_and_errors_are_told_apart(client, patient, monkeypatch):
    # given: MetricsMe has run once (a name becomes a label when it is not refused)
    await client.execute(ME, as_=patient)
    before = await scrape(client)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    # when: signed out, an invalid document, a wrong password, a bug
    assert await client.error_codes(ME) == ["UNAUTHENTICATED"]
    assert await client.error_codes(NO_SUCH_FIELD) == ["GRAPHQL_VALIDATION_FAILED"]
    wrong = {"email": patient.user.email, "password": "not the password"}
    assert (await client.execute(LOGIN, wrong))["login"]["__typename"] == "InvalidCredentials"
    monkeypatch.setattr(users_schema.User, "from_model", broken)
    assert await client.error_codes(ME, as_=patient) == ["INTERNAL_SERVER_ERROR"]
    after = await scrape(client)

    # then
    assert moved(before, after, OPERATIONS, **operation("refused", "MetricsMe")) == 1
    assert moved(before, after, OPERATIONS, **operation("error", "MetricsMe")) == 1
    assert moved(before, after, OPERATIONS, **operation("ok", "MetricsMe")) == 0
    # a name first seen in a refused request does not become a label
    assert moved(before, after, OPERATIONS, **operation("refused", "(other)")) >= 1
    assert "MetricsInvalid" not in after.text
    login = {"operation": "MetricsLogin", "type": "mutation"}
    assert moved(before, after, OPERATIONS, outcome="failure", **login) == 1
    assert moved(before, after, OPERATIONS, outcome="ok", **login) == 0


async def test_an_operation_cut_off_by_the_deadline_is_an_error(client, patient, slow_user_lookup):
    # given: a one-second deadline and a lookup that takes three (slow_user_lookup)
    before = await scrape(client)
    # when
    response = await client.post(USER, {"id": patient.id}, as_=patient)
    after = await scrape(client)
    # then
    assert response.status_code == 503
    cut_off = operation("error", "MetricsUser")
    assert moved(before, after, OPERATIONS, **cut_off) == 1
    assert moved(before, after, f"{DURATION}_count", **cut_off) == 1
    assert moved(before, after, f"{DURATION}_bucket", le="0.5", **cut_off) == 0
    assert moved(before, after, HTTP_REQUESTS, route="/graphql", status="503") == 1


async def test_a_subscription_over_http_is_refused_and_counted_as_such(
    client, patient, monkeypatch
):
    # given: a name the process knows (from subscriptions over the WebSocket)
    monkeypatch.setitem(
        operation_metrics._operation_names, "MetricsNotifications", "MetricsNotifications"
    )
    before = await scrape(client)
    # when
    response = await client.post(NOTIFICATIONS, as_=patient)
    after = await scrape(client)
    # then
    assert response.status_code == 400
    refused = operation("refused", "MetricsNotifications", "subscription")
    assert moved(before, after, OPERATIONS, **refused) == 1


async def test_anonymous_and_made_up_operation_names_get_fixed_labels(client, patient):
    # given
    before = await scrape(client)
    made_up = f"patient {patient.user.email}"
    # when
    await client.execute(ANONYMOUS_ME, as_=patient)
    response = await client.http.post(
        "/graphql",
        json={"query": ME, "operationName": made_up},
        headers={"authorization": f"Bearer {patient.access_token}"},
    )
    after = await scrape(client)
    # then
    assert response.status_code == 400  # no operation of that name in the document
    assert moved(before, after, OPERATIONS, **operation("ok", "(anonymous)")) == 1
    assert moved(before, after, OPERATIONS, **operation("refused", "(other)", "unknown")) == 1
    assert patient.user.email not in after.text


def test_only_plain_names_and_only_so_many_become_labels(monkeypatch):
    # given: room for one more name
    monkeypatch.setattr(operation_metrics, "_operation_names", {"Known": "Known"})
    monkeypatch.setattr(operation_metrics, "MAX_OPERATION_NAMES", 2)
    # then
    assert operation_metrics.operation_label(None) == "(anonymous)"
    assert operation_metrics.operation_label("x" * 65) == "(other)"
    assert operation_metrics.operation_label("has space") == "(other)"
    assert operation_metrics.operation_label("Refused", admit=False) == "(other)"
    assert operation_metrics.operation_label("Second") == "Second"
    assert operation_metrics.operation_label("Third") == "(other)"
    assert operation_metrics.operation_label("Known") == "Known"
    assert operation_metrics.operation_label("Second") == "Second"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_open_websockets_and_active_subscriptions_rise_and_fall(
    client, live_server, patient, protocol
):
    # given: whatever other tests opened has closed
    before = await eventually(client, lambda s: s(WEBSOCKETS) == 0)
    active = {"operation": "MetricsNotifications"}
    # when
    subscriber = await Subscriber.open(live_server, patient, protocol)
    await subscriber.subscribe(NOTIFICATIONS)
    during = await scrape(client)
    await subscriber.close()
    after = await eventually(client, lambda s: s(WEBSOCKETS) == s(SUBSCRIPTIONS, **active) == 0)
    # then
    assert during(WEBSOCKETS) == 1
    assert moved(before, during, SUBSCRIPTIONS, **active) == 1
    ended = operation("ok", "MetricsNotifications", "subscription")
    assert moved(before, after, OPERATIONS, **ended) == 1
    # subscriptions are counted, not timed: their length says nothing about the server
    assert not after(f"{DURATION}_count", **ended)


async def test_a_failed_publish_is_counted_by_channel_kind_only(client, live_server, monkeypatch):
    # given
    before = await scrape(client)
    user_id = uuid.uuid4()

    async def unreachable(channel, event):
        raise ConnectionError("pub/sub is down")

    monkeypatch.setattr(live_server.app.state.pubsub, "publish", unreachable)
    # when
    await pubsub.publish(pubsub.notifications_channel(user_id), {"seq": 1})
    # then
    after = await eventually(
        client, lambda s: moved(before, s, PUBLISH_FAILURES, channel="notifications") > 0
    )
    assert moved(before, after, PUBLISH_FAILURES, channel="notifications") == 1
    assert str(user_id) not in after.text


async def test_http_requests_are_counted_by_route_and_status(client):
    # given
    before = await scrape(client)
    # when
    assert (await client.http.get("/healthz")).status_code == 200
    assert (await client.http.get("/no-such-page/a1b2c3")).status_code == 404
    after = await scrape(client)

    # then
    assert moved(before, after, HTTP_REQUESTS, route="/healthz", status="200") == 1
    assert moved(before, after, HTTP_REQUESTS, route="(other)", status="404") == 1
    assert "a1b2c3" not in after.text


async def test_the_database_pool_is_reported_on_postgresql(client, live_server):
    if live_server.settings.uses_sqlite:
        # SQLite has no pool: nothing is made up for it
        assert not (await scrape(client)).has(POOL)
        return
    # when: a transaction holds a connection
    async with in_transaction():
        during = await scrape(client)
    # then
    assert during(POOL_IN_USE) >= 1
    assert during(POOL_MAX) >= during(POOL) >= during(POOL_IN_USE)
    # and once it is back, the connection is no longer in use
    await eventually(client, lambda s: s(POOL_IN_USE) == during(POOL_IN_USE) - 1)


def test_an_operation_with_an_uncoded_error_is_an_error_and_coded_refusals_are_not():
    from graphql import GraphQLError

    forbidden = GraphQLError("no", extensions={"code": "FORBIDDEN"})
    assert operation_metrics.outcome_of([forbidden], typed_failure=False) == "refused"
    assert (
        operation_metrics.outcome_of([forbidden, GraphQLError("boom")], typed_failure=False)
        == "error"
    )
    assert operation_metrics.outcome_of(None, typed_failure=True) == "failure"
    assert operation_metrics.outcome_of([], typed_failure=False) == "ok"


# ---- who may scrape ------------------------------------------------------------------------


async def get_metrics(settings: Settings, authorization: str | None = None) -> httpx.Response:
    app = Starlette(routes=metrics.routes(settings))
    headers = {"authorization": authorization} if authorization else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics.test") as http:
        return await http.get("/metrics", headers=headers)


@pytest.mark.parametrize("env", ["development", "production"])
async def test_with_a_token_set_only_that_bearer_token_may_scrape(env):
    settings = Settings(env=env, metrics_token=TOKEN)
    for refused in (None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x"):
        response = await get_metrics(settings, refused)
        assert response.status_code == 401, refused
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "healthcare_" not in response.text
    response = await get_metrics(settings, f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert "healthcare_graphql_operations_total" in response.text


async def test_production_without_a_token_serves_no_metrics():
    settings = Settings(env="production")
    assert not settings.metrics_served
    assert (await get_metrics(settings)).status_code == 404


async def test_development_without_a_token_serves_metrics_to_anyone():
    response = await get_metrics(Settings(env="development"))
    assert response.status_code == 200
    assert "healthcare_websockets_open" in response.text


async def test_metrics_can_be_turned_off():
    settings = Settings(metrics_enabled=False, metrics_token=TOKEN)
    assert (await get_metrics(settings, f"Bearer {TOKEN}")).status_code == 404


def test_metrics_settings_come_from_the_environment(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "JWT_SECRET": "s" * 48}
    assert Settings.from_env(env).metrics_served
    assert not Settings.from_env({**env, "METRICS_ENABLED": "false"}).metrics_served
    production = {**env, "HEALTHCARE_ENV": "production", **PRODUCTION_EMAIL_ENV}
    assert not Settings.from_env(production).metrics_served
    assert Settings.from_env({**production, "METRICS_TOKEN": TOKEN}).metrics_served
    with pytest.raises(ConfigurationError, match="METRICS_TOKEN"):
        Settings.from_env({**env, "METRICS_TOKEN": "short"})


# ---- several workers: the folder they share ---------------------------------------------


def test_one_worker_keeps_its_own_registry_and_gets_no_folder(monkeypatch):
    monkeypatch.delenv(worker_metrics.FOLDER_VARIABLE, raising=False)
    with worker_metrics.shared_folder(1):
        assert worker_metrics.FOLDER_VARIABLE not in os.environ
    assert not metrics.MULTIPROCESS  # this suite's server: one process


def test_several_workers_get_a_private_folder_removed_after_them(monkeypatch):
    monkeypatch.delenv(worker_metrics.FOLDER_VARIABLE, raising=False)
    # when
    with worker_metrics.shared_folder(2):
        folder = Path(os.environ[worker_metrics.FOLDER_VARIABLE])
        # then
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert not any(folder.iterdir())
    assert not folder.exists()
    assert worker_metrics.FOLDER_VARIABLE not in os.environ


def test_a_killed_supervisors_folder_is_removed_by_the_next_one(tmp_path, monkeypatch):
    """A supervisor killed by SIGKILL leaves its folder; the next one to start removes
    every folder named for a pid no longer running, and leaves a live one's."""
    # given: a folder of a supervisor that ran and is gone, one of a running one, and one
    # that is not a supervisor's
    monkeypatch.delenv(worker_metrics.FOLDER_VARIABLE, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    finished = subprocess.Popen(["true"])  # noqa: S607
    finished.wait()
    running = subprocess.Popen(["sleep", "30"])  # noqa: S607
    try:
        dead = tmp_path / f"{worker_metrics.FOLDER_PREFIX}{finished.pid}-abc"
        live = tmp_path / f"{worker_metrics.FOLDER_PREFIX}{running.pid}-def"
        other = tmp_path / "healthcare-metrics-not-a-pid"
        for folder in (dead, live, other):
            folder.mkdir()
            (folder / "counter_1.db").write_bytes(b"x")
        # when
        with worker_metrics.shared_folder(2):
            mine = Path(os.environ[worker_metrics.FOLDER_VARIABLE])
            # then
            assert mine.parent == tmp_path
            assert mine.name.startswith(f"{worker_metrics.FOLDER_PREFIX}{os.getpid()}-")
            assert not dead.exists()
            assert live.exists() and other.exists()
        assert not mine.exists()
    finally:
        running.kill()
        running.wait()


def test_an_operators_folder_is_used_as_it_is_and_must_be_a_folder(tmp_path, monkeypatch):
    # given
    monkeypatch.setenv(worker_metrics.FOLDER_VARIABLE, str(tmp_path))
    # when
    with worker_metrics.shared_folder(2):
        assert os.environ[worker_metrics.FOLDER_VARIABLE] == str(tmp_path)
    # then
    assert tmp_path.is_dir()
    assert os.environ[worker_metrics.FOLDER_VARIABLE] == str(tmp_path)
    monkeypatch.setenv(worker_metrics.FOLDER_VARIABLE, str(tmp_path / "missing"))
    with (
        pytest.raises(ConfigurationError, match=worker_metrics.FOLDER_VARIABLE),
        worker_metrics.shared_folder(2),
    ):
        pass
