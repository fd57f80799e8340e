"""The fault suite's processes: a PostgreSQL cluster of its own (one per run, with a
template database migrated and seeded as an operator would: `healthcare migrate`,
`healthcare seed-demo`), and per test a database copied from it, a redis-server of its own
and two `healthcare serve` instances in production mode. Never the shared services.

These tests are marked `faults` and left out of `make test`: run them with `make faults`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.faults.harness import Api, Deployment
from tests.servers import (
    PRODUCTION_EMAIL_ENV,
    LoggedServer,
    PostgresCluster,
    RedisProcess,
    free_port,
    postgres_cluster,
    postgres_cluster_available,
    postgres_program,
    redis_server_available,
    spawn_server,
    thaw,
    wait_until,
)

TEMPLATE = "healthcare_faults_template"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(autouse=True)
def clean_database() -> None:
    """The fault tests bring their own servers and databases: not the suite's."""


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "healthcare.cli", *command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])


def _in_thread(work: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine from a synchronous fixture, on a loop of its own."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


async def _sql(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def cluster() -> Iterator[PostgresCluster]:
    if not (postgres_cluster_available() and redis_server_available()):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: the fault suite needs initdb, pg_ctl and redis-server")
        pytest.skip("the fault suite needs initdb, pg_ctl (PostgreSQL) and redis-server")
    with postgres_cluster() as cluster, tempfile.TemporaryDirectory() as data_dir:
        _in_thread(_sql(cluster.url(), f'CREATE DATABASE "{TEMPLATE}"'))
        env = {
            "DATABASE_URL": cluster.url(TEMPLATE),
            "DATA_DIR": data_dir,
            "LOG_LEVEL": "WARNING",
        }
        env.pop("HEALTHCARE_ENV", None)
        production = {"HEALTHCARE_ENV": "production", "JWT_SECRET": "m" * 48}
        _run(["migrate"], {**env, **production, **PRODUCTION_EMAIL_ENV})
        _run(["seed-demo"], {**env, "HEALTHCARE_ENV": "development"})
        yield cluster


@pytest.fixture
async def deployment(
    request: pytest.FixtureRequest, cluster: PostgresCluster, tmp_path: Path
) -> AsyncIterator[Deployment]:
    """Two production instances on a fresh copy of the demo database, sharing a fresh
    redis-server (BROADCAST_URL=redis://) or that database (BROADCAST_URL=postgres://)."""
    broadcast = getattr(request, "param", "redis")
    database = f"faults_{uuid.uuid4().hex[:12]}"
    # The cluster may still be coming back from a restart by the previous test.
    wait_until(lambda: _accepts(cluster), 60)
    await _sql(cluster.url(), f'CREATE DATABASE "{database}" TEMPLATE "{TEMPLATE}"')
    redis = RedisProcess(free_port(), tmp_path)
    redis.start()
    metrics_token = secrets.token_urlsafe(24)
    built = Deployment(
        cluster=cluster,
        database_url=cluster.url(database),
        redis=redis,
        broadcast=broadcast,
        metrics_token=metrics_token,
        instances=[],
    )
    api = Api()
    try:
        env = {
            "HEALTHCARE_ENV": "production",
            **PRODUCTION_EMAIL_ENV,
            "DATABASE_URL": built.database_url,
            "BROADCAST_URL": built.broadcast_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "METRICS_TOKEN": metrics_token,
            # Every client of the test comes from 127.0.0.1.
            "RATE_LIMIT_EXEMPT_NETWORKS": "127.0.0.1/32",
        }
        for name in ("a", "b"):
            built.instances.append(spawn_server(tmp_path / name, name, **env))
        for instance in built.instances:
            wait_until(partial(_ready, instance), 90)
        yield built
    finally:
        await api.close()
        logs = []
        for instance in built.instances:
            _, log = instance.stop()
            logs.append(f"---- instance {instance.name} ----\n{log[-6000:]}")
        if redis.process is not None:
            thaw(redis.process)  # a frozen server would never stop
        redis.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print("\n".join(logs))  # shown with the failure
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await _sql(cluster.url(), f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _accepts(cluster: PostgresCluster) -> bool:
    result = subprocess.run(
        [
            postgres_program("pg_isready") or "pg_isready",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
        ],
        check=False,
    )
    return result.returncode == 0


def _ready(instance: LoggedServer) -> bool:
    if not instance.alive:
        raise RuntimeError(f"instance {instance.name} exited:\n{instance.log()[-3000:]}")
    return httpx.get(f"{instance.base_url}/readyz", timeout=5).status_code == 200


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
