"""Helpers for the tests that need PostgreSQL itself (partitions, migrations of a filled
database): they get databases of their own on the server that TEST_POSTGRES_URL (or a
postgres:// DATABASE_URL) names, migrate them in processes of their own, and talk to them
with asyncpg. The fixtures (`server_url`, `migrated`, `connection`) are in conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg

from healthcare.config import normalize_database_url
from healthcare.db import MIGRATIONS_DIR
from healthcare.ops import partitions
from healthcare.ops.partitions import PartitionedTable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 120

# Applies the migrations of another folder (one that leaves the newest out).
MIGRATE_WITH = """
import asyncio, sys
from pathlib import Path
from healthcare.db import apply_migrations
asyncio.run(apply_migrations(sys.argv[1], Path(sys.argv[2])))
"""


def configured_server_url() -> str | None:
    url = os.environ.get("TEST_POSTGRES_URL") or os.environ.get("DATABASE_URL") or ""
    url = normalize_database_url(url)
    return url if url.startswith("postgres://") else None


def run(args: list[str], database_url: str) -> str:
    """`python <args>` with DATABASE_URL set; its output, once it has succeeded."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def migrate_up_to(database_url: str, left_out: str, folder: Path) -> None:
    """Apply the migrations, leaving out those matching `left_out` (say "10_*.py") and
    every later one, from a copy made in `folder`."""
    earlier = folder / "migrations"
    shutil.copytree(MIGRATIONS_DIR, earlier, ignore=shutil.ignore_patterns("__pycache__"))
    first_left_out = int(left_out.split("_", 1)[0])
    for migration in (earlier / "models").glob("*.py"):
        if int(migration.name.split("_", 1)[0]) >= first_left_out:
            migration.unlink()
    run(["-c", MIGRATE_WITH, database_url, str(earlier)], database_url)


async def partition_names(connection: asyncpg.Connection, table: PartitionedTable) -> list[str]:
    async with connection.transaction():
        await connection.execute("SET LOCAL TimeZone = 'UTC'")
        found = await partitions.partitions(connection, table)
    assert found is not None
    return [partition.name for partition in found]
