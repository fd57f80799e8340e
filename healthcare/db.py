"""Database set-up: schema creation on SQLite, aerich migrations on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aerich import Command
from tortoise import Tortoise, connections

from healthcare.config import tortoise_config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
PING_TIMEOUT_SECONDS = 2.0


def ensure_sqlite_folder(database_url: str) -> None:
    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://").split("?")[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


async def apply_migrations(database_url: str) -> list[str]:
    """Bring a PostgreSQL database up to the latest migration; returns what was applied.

    Runs in its own ORM context: call it before the app starts (or from the CLI).
    """
    command = Command(
        tortoise_config=tortoise_config(database_url), app="models", location=str(MIGRATIONS_DIR)
    )
    async with command:
        try:
            await command.init_db(safe=True)
            applied = ["(initial database)"]
        except FileExistsError:  # already initialised: apply what is new
            await command.init()
            applied = await command.upgrade(run_in_transaction=True)
    return applied


async def create_sqlite_schema() -> None:
    """The embedded default: create missing tables (SQLite has no migration history)."""
    await Tortoise.generate_schemas(safe=True)


async def is_database_ready() -> bool:
    try:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            await connections.get("default").execute_query("SELECT 1")
        return True
    except Exception:  # any failure means "not ready"; /readyz reports it, never raises
        return False
