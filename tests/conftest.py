"""One real uvicorn server for the whole run, on the database and pub/sub that the
environment names (default: a fresh SQLite file and memory://).

With `DATABASE_URL=postgres://...` the suite makes a throwaway database beside the one
named, applies the migrations to it, and drops it at the end. Tests use the ORM directly
(factories) on the same event loop as the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
import uvicorn
from starlette.routing import Route
from tortoise import Tortoise, connections
from tortoise.exceptions import OperationalError

from healthcare import models
from healthcare.app import create_app
from healthcare.config import Settings, normalize_database_url
from healthcare.db import (
    apply_migrations,
    asyncpg_dsn,
    create_throwaway_database,
    drop_database,
)
from healthcare.graphql.view import GraphQLView
from healthcare.ops.server import uvicorn_options
from healthcare.resolvers import auth as auth_resolvers
from healthcare.resolvers.auth import IssuedTokens, start_session
from healthcare.schema import build_schema
from healthcare.security import audit, ratelimit
from healthcare.security.auth import hash_password, utcnow
from tests.postgres import configured_server_url
from tests.servers import throwaway_database
from tests.smtp import Inbox

# The schema as graphql-core sees it, for tests that walk it (its shape does not depend
# on the settings).
SCHEMA = build_schema(Settings()).graphql_schema

TEST_JWT_SECRET = "test-only-secret-" + "x" * 40
TEST_PASSWORD = "correct horse battery"
TEST_MAX_UPLOAD_BYTES = 64 * 1024
TEST_MAX_REQUEST_BYTES = 256 * 1024
TEST_MAX_JSON_BODY_BYTES = 128 * 1024
TEST_ANONYMOUS_IDLE_SECONDS = 4
TEST_APP_URL = "http://app.test"


def configured_database_url() -> str | None:
    url = os.environ.get("DATABASE_URL")
    return normalize_database_url(url) if url else None


@dataclass
class LiveServer:
    base_url: str
    ws_url: str
    settings: Settings
    app: Any = None


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Inbox]:
    """A real SMTP server that every email of the run goes to."""
    inbox = Inbox()
    inbox.start()
    yield inbox
    inbox.stop()


@pytest.fixture
def inbox(smtp_server: Inbox) -> Inbox:
    """The SMTP server, emptied, accepting every recipient."""
    smtp_server.clear()
    return smtp_server


async def forget_earlier_runs_rate_limits(settings: Settings) -> None:
    """On Redis, the counters outlive a run (an hour, for some): an earlier run's sign-ups
    and reset requests would count against this one's. Memory stores start empty."""
    url = settings.rate_limit_store_url
    if not url.startswith(("redis://", "rediss://")):
        return
    client = redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{ratelimit.KEY_PREFIX}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def live_server(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: Inbox
) -> AsyncIterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("healthcare")
    configured = configured_database_url()
    if configured and configured.startswith("postgres://"):
        database_url = await create_throwaway_database(configured, "healthcare_test_")
        await apply_migrations(database_url)
    else:
        database_url = f"sqlite://{folder / 'test.sqlite3'}"
    settings = Settings(
        data_dir=folder,
        database_url=database_url,
        broadcast_url=os.environ.get("BROADCAST_URL") or "memory://",
        jwt_secret=TEST_JWT_SECRET,
        media_dir=folder / "media",
        max_upload_bytes=TEST_MAX_UPLOAD_BYTES,
        max_request_bytes=TEST_MAX_REQUEST_BYTES,
        max_json_body_bytes=TEST_MAX_JSON_BODY_BYTES,
        cors_allowed_origins=("http://localhost:5173",),
        ws_allowed_origins=("http://localhost:5173",),
        log_level="WARNING",
        # Tests sign in from 127.0.0.1 hundreds of times a run; the default limits hold per
        # account, and per address for the addresses tests send in X-Forwarded-For.
        rate_limit_exempt_networks=("127.0.0.1/32", "::1/128"),
        trusted_proxies=("127.0.0.1/32", "::1/128"),
        # Short, so that a test can see a signed-out socket closed.
        ws_anonymous_idle_seconds=TEST_ANONYMOUS_IDLE_SECONDS,
        smtp_url=smtp_server.url,
        email_from="Test Clinic <clinic@example.org>",
        public_app_url=TEST_APP_URL,
        # Quick retries and polls, so that a test sees a retry or another instance's
        # email within seconds; reminders are sent by tests with a moved clock instead.
        email_retry_base_seconds=1,
        email_poll_seconds=1,
        reminder_poll_seconds=3600,
    )
    await forget_earlier_runs_rate_limits(settings)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan="on",
            **uvicorn_options(settings),  # as `healthcare serve` runs it
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: raise its error
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql", settings, app)
    server.should_exit = True
    await task
    if database_url.startswith("postgres://"):
        await drop_database(database_url, configured or database_url)


@pytest.fixture(autouse=True)
async def clean_database(live_server: LiveServer) -> AsyncIterator[None]:
    yield
    await empty_tables(live_server.settings)


async def empty_tables(settings: Settings) -> None:
    """Every table emptied, once what the last test started has settled."""
    await auth_resolvers.settled()  # a password reset still being handled
    await audit.written()  # nothing of this test may land in the next one's tables
    tables = [
        model._meta.db_table
        for model in Tortoise.apps["models"].values()
        if model._meta.db_table != "aerich"
    ]
    connection = connections.get("default")
    if settings.uses_sqlite:
        await connection.execute_script(
            "PRAGMA foreign_keys=OFF;"
            + "".join(f'DELETE FROM "{table}";' for table in tables)
            + "PRAGMA foreign_keys=ON;"
        )
    else:
        truncate = "TRUNCATE " + ", ".join(f'"{table}"' for table in tables) + " CASCADE"
        # The app's background tasks (email worker, reminder sweep, video-call sweeper)
        # read joined tables while TRUNCATE locks them one by one: PostgreSQL may end
        # either side as a deadlock victim. Nothing was truncated then: do it again.
        for attempt in range(5):
            try:
                await connection.execute_script(truncate)
                break
            except (asyncpg.exceptions.DeadlockDetectedError, OperationalError) as error:
                if "deadlock detected" not in str(error) or attempt == 4:
                    raise


class GraphQLClient:
    """Talks to the live server over HTTP, as a front end would."""

    def __init__(self, server: LiveServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        as_: Persona | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        token = as_.access_token if isinstance(as_, Persona) else as_
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        as_: Persona | str | None = None,
    ) -> dict[str, Any]:
        """The `data` of a successful operation; fails the test on any top-level error."""
        response = await self.post(query, variables, as_)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def errors(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        as_: Persona | str | None = None,
    ) -> list[dict[str, Any]]:
        """The top-level errors of an operation that must fail."""
        response = await self.post(query, variables, as_)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("errors"), f"expected errors, got {body}"
        return body["errors"]

    async def error_codes(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        as_: Persona | str | None = None,
    ) -> list[str]:
        return [
            error.get("extensions", {}).get("code")
            for error in await self.errors(query, variables, as_)
        ]


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        yield GraphQLClient(live_server, http)


# ---- factories and personas ------------------------------------------------------------

_password_hash_cache: dict[str, str] = {}


async def known_password_hash() -> str:
    """Hash TEST_PASSWORD once per run: argon2 is slow on purpose."""
    if TEST_PASSWORD not in _password_hash_cache:
        _password_hash_cache[TEST_PASSWORD] = await hash_password(TEST_PASSWORD)
    return _password_hash_cache[TEST_PASSWORD]


async def make_user(**overrides: Any) -> models.User:
    number = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {
        "email": f"user-{number}@example.org",
        "first_name": "Test",
        "last_name": f"User {number}",
        "role": models.Role.PATIENT,
        "password_hash": await known_password_hash(),
        # An account in use has confirmed its address; pass None for one that has not.
        "email_verified_at": utcnow(),
    }
    fields.update(overrides)
    if fields["role"] == models.Role.DOCTOR:
        fields.setdefault("specialty", "Cardiology")
    return await models.User.create(**fields)


async def make_patient(**overrides: Any) -> models.User:
    return await make_user(role=models.Role.PATIENT, **overrides)


async def make_doctor(**overrides: Any) -> models.User:
    return await make_user(role=models.Role.DOCTOR, **overrides)


async def make_admin(**overrides: Any) -> models.User:
    return await make_user(role=models.Role.ADMIN, **overrides)


@dataclass
class Persona:
    """A user with a live session, to act as in requests (`as_=patient`)."""

    user: models.User
    tokens: IssuedTokens

    @property
    def access_token(self) -> str:
        return self.tokens.access_token

    @property
    def refresh_token(self) -> str:
        return self.tokens.refresh_token

    @property
    def id(self) -> str:
        return str(self.user.id)


async def sign_in(user: models.User, settings: Settings) -> Persona:
    return Persona(user, await start_session(user, settings))


@pytest.fixture
async def patient(live_server: LiveServer) -> Persona:
    return await sign_in(await make_patient(first_name="Pat"), live_server.settings)


@pytest.fixture
async def other_patient(live_server: LiveServer) -> Persona:
    return await sign_in(await make_patient(first_name="Other"), live_server.settings)


@pytest.fixture
async def doctor(live_server: LiveServer) -> Persona:
    return await sign_in(await make_doctor(first_name="Doc"), live_server.settings)


@pytest.fixture
async def other_doctor(live_server: LiveServer) -> Persona:
    return await sign_in(
        await make_doctor(first_name="Other", specialty="Dermatology"), live_server.settings
    )


@pytest.fixture
async def admin(live_server: LiveServer) -> Persona:
    return await sign_in(await make_admin(first_name="Admin"), live_server.settings)


# ---- scheduling factories -----------------------------------------------------------------

ROUND_THE_CLOCK: tuple[tuple[int, int, int], ...] = tuple(
    (weekday, 0, 24 * 60) for weekday in range(7)
)


async def make_schedule(
    doctor: models.User,
    time_zone: str = "UTC",
    slot_minutes: int = 30,
    hours: tuple[tuple[int, int, int], ...] = ROUND_THE_CLOCK,
) -> models.DoctorSchedule:
    """Weekly hours as (weekday, start minute, end minute); default: round the clock."""
    schedule = await models.DoctorSchedule.create(
        doctor=doctor, time_zone=time_zone, slot_minutes=slot_minutes
    )
    await models.WorkingHours.bulk_create(
        [
            models.WorkingHours(schedule=schedule, weekday=d, start_minute=s, end_minute=e)
            for d, s, e in hours
        ]
    )
    return schedule


async def make_appointment(
    patient: models.User,
    doctor: models.User,
    starts_at: Any = None,
    minutes: int = 30,
    **overrides: Any,
) -> models.Appointment:
    """An appointment written straight to the database, past or future, any status."""
    from datetime import UTC, datetime, timedelta

    starts_at = starts_at or datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return await models.Appointment.create(
        patient=patient,
        doctor=doctor,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        reason=overrides.pop("reason", "Check-up"),
        **overrides,
    )


# The tasks that run beside requests on their own schedule (app.py, security/audit.py,
# mail/worker.py): what they send to the database is not part of a request's cost.
BACKGROUND_TASKS = frozenset(
    {"audit-writer", "mail-worker", "reminders", "video-call-sweeper", "pubsub-listener"}
)


class _RecordTaskName(logging.Filter):
    """Tags each statement's log record with the asyncio task that sent it (Python 3.12
    does this itself as `taskName`; this suite runs on 3.11)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        record.sent_by_task = task.get_name() if task is not None else None
        return True


logging.getLogger("tortoise.db_client").addFilter(_RecordTaskName())


def request_statements(records: list[logging.LogRecord]) -> list[str]:
    """The SQL statements among captured log records (tortoise.db_client logs one DEBUG
    record per statement) that the requests sent: not those of the background tasks (the
    audit writer's batch inserts, the email worker's claims, the reminder and video-call
    sweeps), which run on their own schedule, for many requests at once."""
    return [
        record.getMessage()
        for record in records
        if record.name == "tortoise.db_client"
        and getattr(record, "sent_by_task", None) not in BACKGROUND_TASKS
        # a read of the trail first writes what the instance holds, in its own task
        and not record.getMessage().startswith('INSERT INTO "audit_events"')
    ]


def graphql_view(live_server: LiveServer) -> GraphQLView:
    """The live server's view of `/graphql`."""
    view = next(
        route.endpoint
        for route in live_server.app.routes
        if isinstance(route, Route) and route.path == "/graphql"
    )
    assert isinstance(view, GraphQLView), view
    return view


@pytest.fixture
def executor_only(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live server's root lists executed field by field, as on SQLite, rather than
    answered by one statement (graphql.execution.compiled): for tests of the executor's
    own ways (look-ahead, loaders), which tests/test_compiled.py proves the compiled
    path answers as."""
    monkeypatch.setattr(graphql_view(live_server).schema, "compiled_sql", None)


@pytest.fixture
def slow_user_lookup(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-second request deadline, and a `user(id)` lookup that takes three."""
    from healthcare.schema import users

    view = graphql_view(live_server)
    monkeypatch.setattr(
        view, "settings", dataclasses.replace(view.settings, request_timeout_seconds=1)
    )

    async def slow(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(3)

    monkeypatch.setattr(users, "find_visible", slow)


# ---- PostgreSQL itself (tests marked `postgres`: partitions, migrations of filled data) ----


@pytest.fixture(scope="module")
def server_url() -> str:
    """The PostgreSQL server of TEST_POSTGRES_URL (or a postgres:// DATABASE_URL). Without
    one the test is skipped; on CI (CI=true) with one set, it fails if it is unreachable."""
    url = configured_server_url()
    if url is None:
        pytest.skip(
            "this needs PostgreSQL itself; set TEST_POSTGRES_URL "
            "(or DATABASE_URL=postgres://...) to run it"
        )
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 3):
            pass
    except OSError as error:
        reason = f"PostgreSQL at {parts.hostname}:{parts.port} is unreachable ({error})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
async def migrated(server_url: str) -> AsyncIterator[str]:
    """A new database migrated by `healthcare migrate`, dropped after the test."""
    async with throwaway_database(server_url, "healthcare_partitions_") as url:
        yield url


@pytest.fixture
async def connection(migrated: str) -> AsyncIterator[asyncpg.Connection]:
    """An asyncpg connection to `migrated`."""
    db = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        yield db
    finally:
        await db.close()
