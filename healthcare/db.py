"""Database set-up: schema creation on SQLite, aerich migrations on PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aerich import Command
from tortoise import Tortoise, connections, fields, timezone
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.fields.data import CharEnumFieldInstance
from tortoise.models import Model
from tortoise.queryset import QuerySet

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


async def select(client: Any, sql: str, values: Sequence[Any]) -> Sequence[Any]:
    """The rows of one SELECT on `client` (a Tortoise client: `Statement.client`,
    `queryset._db`). On PostgreSQL outside a transaction, straight from the asyncpg pool
    under it: Tortoise's `execute_query` around the same call (a connection wrapper, an
    event-loop check, a debug log call, error translation) costs about a fifth of a
    small statement's time in Python. Inside a transaction, and on SQLite, Tortoise runs
    it. Errors are the driver's (Tortoise's translation of them, IntegrityError and
    the like, is for writes). Each statement is logged as Tortoise logs it (DEBUG, on
    `tortoise.db_client`, which production keeps at INFO or above: the values may be
    health data; tests count statements by it). The pool is Tortoise's private `_pool`
    (pinned by tests/test_db.py)."""
    pool = client._pool if type(client) is AsyncpgDBClient else None
    if pool is None:  # SQLite, a transaction's own connection, or no pool yet
        _, rows = await client.execute_query(sql, list(values))
        return cast(Sequence[Any], rows)
    if client.log.isEnabledFor(logging.DEBUG):  # as Tortoise logs each statement it sends
        client.log.debug("%s: %s", sql, list(values))
    return cast(Sequence[Any], await pool.fetch(sql, *values))


async def read_one(sql: str, *values: Any) -> Mapping[str, Any] | None:
    """`fetch_one` for a SELECT on a hot path (the session check of every request), its
    row read by `select`: a mapping (asyncpg's record), not a dict."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        return await fetch_one(sql, *values)
    rows = await select(connection, sql, values)
    return cast(Mapping[str, Any], rows[0]) if rows else None


def as_datetime(value: Any) -> datetime:
    """A timestamp from `fetch_all`: PostgreSQL gives a datetime, SQLite the text Tortoise
    stored."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def fetch_models(queryset: QuerySet[M]) -> list[M]:
    """What `await queryset` gives, its rows read by `models_from_rows`. For a queryset of
    every column of its model (filtered, ordered, limited); anything more (related rows
    joined or prefetched, annotations, some columns only) Tortoise reads itself."""
    if not _reads_whole_rows(queryset):
        return await queryset
    sql, values = statement_of(queryset)
    rows = await select(queryset._db, sql, values)
    return models_from_rows(queryset.model, rows)


def _reads_whole_rows(queryset: QuerySet[Any]) -> bool:
    """Whether the queryset reads every column of its model's rows and nothing more."""
    return not (
        queryset._select_related
        or queryset._prefetch_map
        or queryset._prefetch_queries
        or queryset._annotations
        or queryset._fields_for_select
        or queryset._single
        or queryset._select_for_update
    )


def statement_of(queryset: QuerySet[Any]) -> tuple[str, list[Any]]:
    """What `await queryset` runs: its statement (by pypika) and values, on the connection
    it would run on (`queryset._db` after this)."""
    queryset._choose_db_if_not_chosen()
    queryset._make_query()
    sql, values = queryset.query.get_parameterized_sql()
    return sql, values


@dataclass(frozen=True)
class Statement:
    """One statement to run: its text, its values, and the database client it runs on."""

    sql: str
    values: list[Any]
    client: Any


def statement(queryset: QuerySet[Any]) -> Statement:
    """What `await queryset` runs, and where."""
    sql, values = statement_of(queryset)
    return Statement(sql, values, queryset._db)


@dataclass(frozen=True)
class StatementTemplate:
    """A queryset's statement written once for every value of its arguments (ids): the
    text, its values, and the places (position, argument, given as text) where an
    argument's value goes (`statement_template`)."""

    model: type[Model]
    sql: str
    values: tuple[Any, ...]
    places: tuple[tuple[int, int, bool], ...]

    def bind(self, arguments: Sequence[Any]) -> list[Any]:
        values = list(self.values)
        for position, argument, as_text in self.places:
            value = arguments[argument]
            values[position] = str(value) if as_text else value
        return values

    def statement(self, arguments: Sequence[Any]) -> Statement:
        """The statement for `arguments`, on the client the model's queryset would use
        (the transaction's, inside one)."""
        return Statement(self.sql, self.bind(arguments), self.model._choose_db())


def statement_template(
    model: type[Model],
    build: Callable[[Sequence[Any]], QuerySet[Any]],
    arity: int,
    probes: Sequence[Sequence[Any]] | None = None,
) -> StatementTemplate | None:
    """The statement `build(arguments)` runs, for any `arity` ids as arguments, found by
    building it for two sets of new ids and comparing: the same text, and values that
    are either the same in both (constants) or, in each place they differ, one argument's
    id (as a UUID or as text). Arguments other than ids (a limit, an instant) are probed
    with the two sets `probes` gives instead, every value in them distinct from every
    other and from any constant the statement may hold. None where that is not so (the
    query's shape, or a value other than the arguments, depends on them), or `build`
    raises, or the queryset reads more or less than whole rows of `model`: those are
    built each time. Building the statement is most of a lookup's own work in the ORM
    (pypika writes it anew each time); binding a template is a list copy.

    What two builds cannot show, `build` must not do: decide by an id's value (the
    branch the new ids took would serve every id), or read anything that changes
    slower than two builds apart (today's date: the first would be kept)."""
    if probes is None:
        probes = [[uuid.uuid4() for _ in range(arity)] for _ in range(2)]
    try:
        querysets = [build(probe) for probe in probes]
        if not all(q.model is model and _reads_whole_rows(q) for q in querysets):
            return None
        (sql, values), (other_sql, other_values) = (statement_of(q) for q in querysets)
    except Exception:  # a rule this cannot serve: built each time, where it raises as before
        return None
    if sql != other_sql or len(values) != len(other_values):
        return None
    places = []
    for position, (first, second) in enumerate(zip(values, other_values, strict=True)):
        if first == second:  # a constant (the ids differ between the two)
            continue
        found = [
            (argument, as_text)
            for argument in range(arity)
            for as_text in (False, True)
            if (first, second)
            == tuple(str(p[argument]) if as_text else p[argument] for p in probes)
        ]
        if len(found) != 1:
            return None
        places.append((position, *found[0]))
    return StatementTemplate(model, sql, tuple(values), tuple(places))


async def fetch_by_template(
    template: StatementTemplate, arguments: Sequence[uuid.UUID]
) -> list[Any]:
    """The rows `template` selects for `arguments`, as `fetch_models` reads them, on the
    connection the model's queryset would use (the transaction's, inside one)."""
    bound = template.statement(arguments)
    rows = await select(bound.client, bound.sql, bound.values)
    return models_from_rows(template.model, rows)


def model_from_row(model: type[M], row: Mapping[str, Any]) -> M:
    """An instance of `model` from a row of its table that `fetch_all` returned (every
    column), as Tortoise builds the rows of its own queries: saving it updates that row."""
    return models_from_rows(model, [row])[0]


def models_from_rows(model: type[M], rows: Sequence[Mapping[str, Any]]) -> list[M]:
    """`model_from_row` of each row: the instances Tortoise's `_init_from_db` builds (the
    same attributes, values and types; tests/test_db.py compares them for every model),
    without its calls per field. A list of 50 appointments builds about 125 instances, with
    four hundred timestamps: through `_init_from_db` that was a tenth of the request."""
    reader = row_reader(model)
    if reader.columns is None:
        return [model._init_from_db(**row) for row in rows]
    zone = timezone.get_default_timezone()
    built = []
    for row in rows:
        instance = model.__new__(model)
        values = instance.__dict__
        values.update(_partial=False, _saved_in_db=True, _await_when_save={})
        values["_custom_generated_pk"] = reader.custom_generated_pk
        for column, attribute, kind, convert in reader.columns:
            value = row[column]
            if kind is _AS_IS or (value is None and kind is not _FIELD):
                pass
            elif kind is _INSTANT and isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(zone)  # PostgreSQL's: aware already
            elif kind is not _UUID or not isinstance(value, uuid.UUID):
                value = convert(value)  # type: ignore[misc]
            values[attribute] = value
        built.append(instance)
    return built


# How `models_from_rows` reads a column, as `_init_from_db` does:
# - _AS_IS: the driver's value;
# - _TYPE: null, or the field's type of the value;
# - _INSTANT, _UUID: null; an aware datetime moved to Tortoise's zone, a UUID kept (what
#   the field's `to_python_value` does with them, without the call); else that call;
# - _ENUM: null; else the member of that value, found in the enum's own map of members by
#   value (what the field's `to_python_value`, calling the enum, looks up), or, for a value
#   it lacks, that call (which raises as before);
# - _FIELD: the field's `to_python_value`, null included.
_AS_IS, _TYPE, _INSTANT, _UUID, _ENUM, _FIELD = "as is", "type", "instant", "uuid", "enum", "field"
Column = tuple[str, str, str, Callable[[Any], Any] | None]


@dataclass(frozen=True)
class RowReader:
    """How `models_from_rows` reads a model's rows. `columns` is None when `_init_from_db`
    would do more than it does: timestamps kept naive (`use_tz` off), or an attribute the
    class intercepts. Tortoise sorts a model's columns into native, default and complex
    fields when it is initialised, by the database's driver: `native` and `use_tz` say
    which sorting this reader follows."""

    native: list[tuple[str, str, Any]]
    use_tz: bool
    custom_generated_pk: bool
    columns: tuple[Column, ...] | None


_readers: dict[type[Model], RowReader] = {}


def row_reader(model: type[Model]) -> RowReader:
    meta = model._meta
    use_tz = timezone.get_use_tz()
    reader = _readers.get(model)
    if reader is None or reader.native != meta.db_native_fields or reader.use_tz != use_tz:
        reader = _readers[model] = RowReader(
            native=list(meta.db_native_fields),
            use_tz=use_tz,
            custom_generated_pk=meta.db_pk_column not in meta.generated_db_fields,
            columns=_columns(model, use_tz),
        )
    return reader


def _columns(model: type[Model], use_tz: bool) -> tuple[Column, ...] | None:
    meta = model._meta
    columns: list[Column] = [
        (column, attribute, _AS_IS, None) for column, attribute, _ in meta.db_native_fields
    ]
    for column, attribute, field in meta.db_default_fields:
        columns.append((column, attribute, _TYPE, field.field_type))
    for column, attribute, field in meta.db_complex_fields:
        to_python = type(field).to_python_value
        if to_python is fields.DatetimeField.to_python_value:
            if not use_tz:
                return None
            columns.append((column, attribute, _INSTANT, field.to_python_value))
        elif to_python is fields.UUIDField.to_python_value:
            columns.append((column, attribute, _UUID, field.to_python_value))
        elif (
            isinstance(field, CharEnumFieldInstance)
            and to_python is CharEnumFieldInstance.to_python_value
        ):
            columns.append((column, attribute, _ENUM, _member_by_value(field)))
        else:
            columns.append((column, attribute, _FIELD, field.to_python_value))
    if any(hasattr(getattr(model, attribute, None), "__set__") for _, attribute, _, _ in columns):
        return None
    return tuple(columns)


def _member_by_value(field: CharEnumFieldInstance) -> Callable[[Any], Any]:
    members = field.enum_type._value2member_map_
    convert = field.to_python_value

    def member(value: Any) -> Any:
        found = members.get(value)
        return found if found is not None else convert(value)

    return member


def dialect() -> str:
    """The default connection's SQL dialect: "postgres" or "sqlite"."""
    return str(connections.get("default").capabilities.dialect)


async def fetch_by_keys(
    model: type[M], key: str, keys: Sequence[Any], order_by: str | None = None
) -> list[M]:
    """The rows of `model` whose field `key` is one of `keys`, as `model.filter(key__in=
    keys).order_by(order_by)` returns them, without building that query each time: the
    loaders' batches, on every list and lookup."""
    if not keys:
        return []
    sqlite = dialect() == "sqlite"
    sql = _rows_by_keys_sql(model, key, order_by, len(keys) if sqlite else 0)
    rows = await fetch_all(sql, *(keys if sqlite else [list(keys)]))
    return models_from_rows(model, rows)


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
