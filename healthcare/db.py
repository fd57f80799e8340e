"""Database set-up: schema creation on SQLite, aerich migrations on PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aerich import Command
from tortoise import Tortoise, connections
from tortoise.models import Model

from healthcare.config import normalize_database_url, tortoise_config

# `migrations/` sits beside the package in a checkout (and an editable install); a
# non-editable install reads it from the working directory.
_BESIDE_PACKAGE = Path(__file__).resolve().parent.parent / "migrations"
MIGRATIONS_DIR = _BESIDE_PACKAGE if _BESIDE_PACKAGE.is_dir() else Path.cwd() / "migrations"
PING_TIMEOUT_SECONDS = 2.0
M = TypeVar("M", bound=Model)


async def fetch_all(sql: str, *values: Any) -> list[dict[str, Any]]:
    """The rows of one statement, for what the ORM cannot say in one round trip (several
    checks in one `SELECT`, `INSERT ... ON CONFLICT ... RETURNING`). Write it for
    PostgreSQL, with $1, $2...; on SQLite the placeholders become ?1, ?2..., UUIDs their
    text and times UTC, as Tortoise stores them. Runs in the current transaction, if any."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        sql = re.sub(r"\$(\d+)", r"?\1", sql)
        values = tuple(_as_sqlite_value(v) for v in values)
    rows: list[dict[str, Any]] = await connection.execute_query_dict(sql, list(values))
    return rows


async def fetch_one(sql: str, *values: Any) -> dict[str, Any] | None:
    """The first row of one statement (see `fetch_all`)."""
    rows = await fetch_all(sql, *values)
    return rows[0] if rows else None


def as_datetime(value: Any) -> datetime:
    """A timestamp from `fetch_all`: PostgreSQL gives a datetime, SQLite the text Tortoise
    stored."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def model_from_row(model: type[M], row: dict[str, Any]) -> M:
    """An instance of `model` from a row of its table that `fetch_all` returned (every
    column), as Tortoise builds the rows of its own queries: saving it updates that row."""
    return model._init_from_db(**row)


async def fetch_by_keys(
    model: type[M], key: str, keys: Sequence[Any], order_by: str | None = None
) -> list[M]:
    """The rows of `model` whose field `key` is one of `keys`, as `model.filter(key__in=
    keys).order_by(order_by)` returns them, without building that query each time: the
    loaders' batches, on every list and lookup."""
    if not keys:
        return []
    sqlite = connections.get("default").capabilities.dialect == "sqlite"
    sql = _rows_by_keys_sql(model, key, order_by, len(keys) if sqlite else 0)
    rows = await fetch_all(sql, *(keys if sqlite else [list(keys)]))
    return [model._init_from_db(**row) for row in rows]


@functools.lru_cache(maxsize=1024)
def _rows_by_keys_sql(model: type[Model], key: str, order_by: str | None, sqlite_keys: int) -> str:
    """Every column of `model` where field `key` matches: `= ANY($1)` on PostgreSQL (one
    statement text for every batch size), an `IN` list of `sqlite_keys` on SQLite."""
    meta = model._meta
    column = meta.fields_db_projection  # field name -> column name
    columns = ", ".join(f'"{c}"' for c in column.values())
    match = (
        f"IN ({', '.join(f'${n}' for n in range(1, sqlite_keys + 1))})"
        if sqlite_keys
        else "= ANY($1)"
    )
    sql = f'SELECT {columns} FROM "{meta.db_table}" WHERE "{column[key]}" {match}'  # noqa: S608
    if order_by is not None:
        sql += f' ORDER BY "{column[order_by]}"'
    return sql


def _as_sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)  # text in one offset compares in time order
    return value


def ensure_sqlite_folder(database_url: str) -> None:
    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://").split("?")[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


async def apply_migrations(database_url: str, migrations_dir: Path | None = None) -> list[str]:
    """Bring a PostgreSQL database up to the latest migration; returns what was applied.

    Runs in its own ORM context: call it before the app starts (or from the CLI).
    `migrations_dir` replaces the project's migrations folder (the migration check's tests).
    """
    command = Command(
        tortoise_config=tortoise_config(database_url),
        app="models",
        location=str(migrations_dir or MIGRATIONS_DIR),
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


# ---- throwaway PostgreSQL databases (tests and the migration check) ----------------


def database_url_for(url: str, database: str) -> str:
    """`url` with its database replaced (query options kept, for Tortoise)."""
    parts = urlsplit(normalize_database_url(url))
    return urlunsplit(parts._replace(path=f"/{database}"))


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes unknown query options as server settings: drop Tortoise's."""
    return urlunsplit(urlsplit(normalize_database_url(url))._replace(query="", fragment=""))


async def create_throwaway_database(server_url: str, prefix: str) -> str:
    """A new empty database on the server `server_url` points at; returns its URL."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url_for(server_url, name)


async def drop_database(database_url: str, admin_url: str) -> None:
    """Drop the database of `database_url`, connected through `admin_url` (another one)."""
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
