"""What the soak runs on, set up as an operator would and taken down at the end, even on
Ctrl-C or failure: a fresh PostgreSQL database, a private Redis, `healthcare migrate`,
an administrator from `healthcare createsuperuser`, and two `healthcare serve` instances
in production mode sharing both."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bench.common.processes import (
    PRODUCTION_EMAIL_ENV,
    RedisProcess,
    Server,
    free_port,
    start_server,
)
from healthcare.db import asyncpg_dsn, database_url_for

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMAND_SECONDS = 180
# Variables of the caller's environment that would change what the commands do.
SCRUBBED = {"DATABASE_URL", "BROADCAST_URL", "JWT_SECRET", "HEALTHCARE_ENV", "LOG_LEVEL"}


class SetupError(RuntimeError):
    """The soak cannot run as asked (the message says why)."""


@contextlib.asynccontextmanager
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """Create the database `database_url` names (it must not exist: the soak never writes
    into, or drops, a database it did not make); drop it at the end."""
    name = urlsplit(database_url).path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SetupError(f"SOAK_DATABASE_URL: a plain database name, please (got {name!r})")
    admin_url = database_url_for(database_url, "postgres")
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            raise SetupError(f"the database {name} exists: name a new one in SOAK_DATABASE_URL")
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def private_redis(folder: Path) -> AsyncIterator[str]:
    """A redis-server of this run only (`--save "" --appendonly no`, on a free port), so
    that nothing else on a shared Redis publishes on, or hears, our channels."""
    if shutil.which("redis-server") is None:
        raise SetupError("redis-server is not on the PATH (or set SOAK_BROADCAST_URL)")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    redis = RedisProcess(free_port(), folder)
    await asyncio.to_thread(redis.start)
    try:
        yield redis.url
    finally:
        await asyncio.to_thread(redis.stop)


def server_env(
    database_url: str, broadcast_url: str, jwt_secret: str, data_dir: Path
) -> dict[str, str]:
    return {
        "HEALTHCARE_ENV": "production",
        **PRODUCTION_EMAIL_ENV,
        "DATABASE_URL": database_url,
        "BROADCAST_URL": broadcast_url,
        # One process per instance: its RSS and open files are what the soak judges.
        "WORKERS": "1",
        "JWT_SECRET": jwt_secret,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",  # the production default; to a file, summarised at the end
        "HOST": "127.0.0.1",
        # Every client of the soak comes from 127.0.0.1: forty people signing in from one
        # address would pass LOGIN_RATE_PER_ADDRESS. The per-account limits still hold.
        "RATE_LIMIT_EXEMPT_NETWORKS": "127.0.0.1/32",
    }


async def healthcare_command(args: list[str], env: dict[str, str], log_path: Path) -> None:
    """`healthcare <args>` as an operator runs it; its output to `log_path`."""
    environment = {k: v for k, v in os.environ.items() if k not in SCRUBBED} | env
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "healthcare.cli",
            *args,
            env=environment,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            code = await asyncio.wait_for(process.wait(), COMMAND_SECONDS)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
    if code != 0:
        text = await asyncio.to_thread(log_path.read_text, errors="replace")
        tail = text.splitlines()[-15:]
        raise RuntimeError(f"healthcare {args[0]} exited with {code}:\n" + "\n".join(tail))


@contextlib.asynccontextmanager
async def servers(count: int, env: dict[str, str], folder: Path) -> AsyncIterator[list[Server]]:
    """`count` instances of `healthcare serve`, each ready (`/readyz` 200); stopped with
    Ctrl-C at the end (killed if they linger)."""
    started: list[Server] = []

    def start(n: int) -> Server:
        port = free_port()
        data_dir = folder / f"instance-{n}"
        data_dir.mkdir(parents=True, exist_ok=True)
        server = start_server(
            f"instance-{'AB'[n] if n < 2 else n}",
            [sys.executable, "-m", "healthcare.cli", "serve"],
            env | {"PORT": str(port), "DATA_DIR": str(data_dir)},
            folder / f"instance-{n}.log",
            "/readyz",
        )
        started.append(server)
        return server

    try:
        results = await asyncio.gather(
            *(asyncio.to_thread(start, n) for n in range(count)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        yield sorted(started, key=lambda server: server.name)
    finally:
        await asyncio.gather(*(asyncio.to_thread(server.stop) for server in started))


def log_levels(server: Server) -> dict[str, object]:
    """How much an instance logged, by level, and its most frequent warnings and errors
    (the message only, shortened): what the results keep of the logs."""
    levels: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    lines = server.log_path.read_text(errors="replace").splitlines()
    for line in lines:
        try:
            record = json.loads(line)
            level, message = str(record.get("level")), str(record.get("message"))
        except (ValueError, AttributeError):
            level, message = "plain", line  # uvicorn's or the CLI's own print
        levels[level] += 1
        if level not in ("INFO", "DEBUG", "plain"):
            problems[f"{level}: {message[:120]}"] += 1
    return {
        "name": server.name,
        "lines": len(lines),
        "levels": dict(levels),
        "warnings_and_errors": dict(problems.most_common(8)),
    }
