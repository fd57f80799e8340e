"""Prove that the aerich migrations build the schema that the models describe.

`migration_drift(url)` takes an empty PostgreSQL database and reports, one readable line
per difference:

1. what aerich would put in a new migration (models changed, no migration written), and
2. how the schema the migrations build differs from the schema `generate_schemas()` builds
   from the models, read from the PostgreSQL catalog: tables; columns (type, nullability,
   server default); indexes; primary-key, unique and foreign-key constraints. The `aerich`
   table is ignored, and so are index and constraint names that Tortoise or aerich
   generate from a hash (`idx_users_role_35db31`): what an index covers still counts.

The audit trail and the chat are partitioned by month on purpose (migrations 10 and 11),
which the models cannot say: the partitions of `audit_events` and `chat_messages` are not
tables of their own here, and while such a table is partitioned by RANGE (created_at)
(`PARTITIONED_ON_PURPOSE`) its primary key and unique constraints that end with
created_at, as PostgreSQL requires, count as the models' without it: PRIMARY KEY (id,
created_at) as (id), UNIQUE (conversation_id, seq, created_at) as (conversation_id, seq).
Any other partitioning is a difference.

Check and exclusion constraints are not compared: `generate_schemas()` never creates them
(Meta.constraints are skipped), so they can only come from raw SQL in a migration.

Each step runs in its own Tortoise context, so aerich's and Tortoise's global state from
one step never leaks into the next. Use PostgreSQL only, in a process of its own (the CLI
`healthcare check-migrations`): one process should use one database backend.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aerich import Command
from aerich.migrate import Migrate
from aerich.utils import import_py_file
from tortoise import Tortoise, connections
from tortoise.context import TortoiseContext

from healthcare.config import normalize_database_url, tortoise_config
from healthcare.db import (
    MIGRATIONS_DIR,
    apply_migrations,
    asyncpg_dsn,
    create_throwaway_database,
    drop_database,
)

THROWAWAY_PREFIX = "healthcare_check_"
IGNORED_TABLES = frozenset({"aerich"})
MIGRATED = "the migrated database"
MODELS = "the database built from the models"
# Names Tortoise/aerich derive from a hash: idx_/uid_/uidx_ + table + field + 6 hex
# digits, fk_ + tables + 8 hex digits. PostgreSQL's own names (users_email_key) count.
GENERATED_NAME = re.compile(r"^(?:idx|uid|uidx|fk)_.+_(?:[0-9a-f]{6}|[0-9a-f]{8})$")
# Tables partitioned by the migrations, not the models: table -> its partition key, which
# PostgreSQL requires in the primary key and unique constraints (read as the models' keys
# without it).
PARTITIONED_ON_PURPOSE = {
    "audit_events": "RANGE (created_at)",
    "chat_messages": "RANGE (created_at)",
}
CONSTRAINT_KINDS = {"p": "primary key", "u": "unique constraint", "f": "foreign key"}


async def check_on_server(server_url: str, migrations_dir: Path | None = None) -> list[str]:
    """`migration_drift` on a throwaway database of `server_url`'s server, dropped after."""
    database_url = await create_throwaway_database(server_url, THROWAWAY_PREFIX)
    try:
        return await migration_drift(database_url, migrations_dir)
    finally:
        await drop_database(database_url, server_url)


# ---- the check -----------------------------------------------------------------------------


async def migration_drift(database_url: str, migrations_dir: Path | None = None) -> list[str]:
    """Differences between the migrations and the models; [] when they match.

    `database_url` must name an EMPTY PostgreSQL database: the migrations are applied to it.
    `migrations_dir` replaces the project's `migrations` folder (the one holding `models/`).
    Nothing is written into the migrations folder.
    """
    database_url = normalize_database_url(database_url)
    if not database_url.startswith("postgres://"):
        raise ValueError("migration_drift needs a postgres:// database URL.")
    source = migrations_dir or MIGRATIONS_DIR

    async with TortoiseContext():
        await apply_migrations(database_url, source)

    differences = await _pending_model_changes(database_url, source)

    migrated = await read_schema(database_url)
    models_url = await create_throwaway_database(database_url, prefix=f"{THROWAWAY_PREFIX}models_")
    try:
        async with TortoiseContext():
            await Tortoise.init(config=tortoise_config(models_url))
            await Tortoise.generate_schemas(safe=False)
        from_models = await read_schema(models_url)
    finally:
        await drop_database(models_url, database_url)

    return differences + compare_schemas(migrated, from_models)


def _reset_aerich_state() -> None:
    """aerich collects the operations of `migrate` in class attributes and never clears them."""
    Migrate.upgrade_operators = []
    Migrate.downgrade_operators = []
    Migrate._upgrade_fk_m2m_index_operators = []
    Migrate._downgrade_fk_m2m_index_operators = []
    Migrate._upgrade_m2m = []
    Migrate._downgrade_m2m = []
    Migrate._rename_fields = {}
    Migrate._rename_models = {}


async def _pending_model_changes(database_url: str, migrations_dir: Path) -> list[str]:
    """What `aerich migrate` would write now, run on a copy of the migrations folder."""
    with tempfile.TemporaryDirectory(prefix="healthcare-migrations-") as scratch:
        location = Path(scratch) / "migrations"
        shutil.copytree(migrations_dir, location, ignore=shutil.ignore_patterns("__pycache__"))
        _reset_aerich_state()
        async with TortoiseContext():
            command = Command(
                tortoise_config=tortoise_config(database_url), app="models", location=str(location)
            )
            async with command:
                await command.init()
                version = await command.migrate(name="drift", no_input=True)
                if not version:
                    return []
                module = import_py_file(Path(Migrate.migrate_location, version))
                sql = (await module.upgrade(connections.get("default"))).strip()
        _reset_aerich_state()
    statements = "\n".join(f"    {line.strip()}" for line in sql.splitlines() if line.strip())
    return [f"aerich finds model changes that no migration contains; it would run:\n{statements}"]


# ---- reading and comparing the catalog -----------------------------------------------------


@dataclass(frozen=True)
class Column:
    type: str
    not_null: bool
    default: str | None
    identity: str
    generated: str

    def describe(self) -> str:
        text = self.type + (" NOT NULL" if self.not_null else " NULL")
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        if self.identity:
            text += " GENERATED " + ("ALWAYS" if self.identity == "a" else "BY DEFAULT")
            text += " AS IDENTITY"
        if self.generated:
            text += " GENERATED ALWAYS AS (...) STORED"
        return text


@dataclass
class Schema:
    tables: dict[str, dict[str, Column]] = field(default_factory=dict)
    # (table, what it is, name-free definition) -> names, hash-generated ones blanked
    indexes: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)


_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_value,
       a.attidentity::text AS identity, a.attgenerated::text AS generated
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum
"""

_TABLES = """
SELECT c.relname AS table_name, pg_get_partkeydef(c.oid) AS partition_key,
       (SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
        WHERE c.relispartition AND i.inhrelid = c.oid) AS partition_of
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
"""

# Indexes that back no primary-key, unique or exclusion constraint (those are compared as
# constraints below).
_INDEXES = """
SELECT t.relname AS table_name, i.relname AS name, quote_ident(i.relname) AS quoted_name,
       pg_get_indexdef(x.indexrelid) AS definition,
       quote_ident(current_schema()) AS quoted_schema
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema()
  AND NOT EXISTS (
    SELECT 1 FROM pg_constraint k
    WHERE k.conrelid = x.indrelid AND k.conindid = x.indexrelid AND k.contype IN ('p', 'u', 'x')
  )
"""

_CONSTRAINTS = """
SELECT t.relname AS table_name, k.conname AS name, k.contype::text AS kind,
       pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema() AND k.contype IN ('p', 'u', 'f')
"""


def _name(name: str) -> str:
    return "" if GENERATED_NAME.match(name) else name


async def read_schema(database_url: str) -> Schema:
    """The parts of the database's schema that the models decide, from the catalog."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        tables = await connection.fetch(_TABLES)
        columns = await connection.fetch(_COLUMNS)
        indexes = await connection.fetch(_INDEXES)
        constraints = await connection.fetch(_CONSTRAINTS)
    finally:
        await connection.close()

    schema = Schema()
    partitioned = {}
    for row in tables:
        if row["partition_of"] in PARTITIONED_ON_PURPOSE:
            continue  # a month of the audit trail or the chat
        if row["table_name"] not in IGNORED_TABLES:
            schema.tables[row["table_name"]] = {}
        key = row["partition_key"]
        if key is not None and PARTITIONED_ON_PURPOSE.get(row["table_name"]) == key:
            partitioned[row["table_name"]] = key
    for row in columns:
        if row["table_name"] in schema.tables:
            schema.tables[row["table_name"]][row["column_name"]] = Column(
                type=row["type"],
                not_null=row["not_null"],
                default=row["default_value"],
                identity=row["identity"],
                generated=row["generated"],
            )
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for row in indexes:
        if row["table_name"] in schema.tables:
            definition = (
                row["definition"]
                .replace(f"INDEX {row['quoted_name']} ON ", "INDEX ON ", 1)
                .replace(" ON ONLY ", " ON ", 1)
                .replace(f" ON {row['quoted_schema']}.", " ON ", 1)
                .removeprefix("CREATE ")
            )
            grouped[(row["table_name"], "index", definition)].append(_name(row["name"]))
    for row in constraints:
        if row["table_name"] in schema.tables:
            kind = CONSTRAINT_KINDS[row["kind"]]
            definition = row["definition"]
            if kind != "foreign key" and row["table_name"] in partitioned:
                definition = _without_partition_column(definition, partitioned[row["table_name"]])
            grouped[(row["table_name"], kind, definition)].append(_name(row["name"]))
    schema.indexes = {key: sorted(names) for key, names in grouped.items()}
    return schema


def _without_partition_column(key: str, partition_key: str) -> str:
    """PRIMARY KEY (id, created_at) or UNIQUE (a, b, created_at) of a table partitioned by
    RANGE (created_at) is the models' PRIMARY KEY (id) or UNIQUE (a, b); any other key is
    left as it is, to be compared."""
    column = partition_key.removeprefix("RANGE (").removesuffix(")")
    return key.replace(f", {column})", ")") if key.endswith(f", {column})") else key


def _only_in(side: str) -> str:
    return f"only in {side}"


def compare_schemas(migrated: Schema, from_models: Schema) -> list[str]:
    """One line per difference between the migrated schema and the models' schema."""
    differences: list[str] = []
    for table in sorted(migrated.tables.keys() | from_models.tables.keys()):
        if table not in from_models.tables:
            differences.append(f'table "{table}": {_only_in(MIGRATED)}')
            continue
        if table not in migrated.tables:
            differences.append(f'table "{table}": {_only_in(MODELS)}')
            continue
        differences += _compare_columns(table, migrated.tables[table], from_models.tables[table])

    tables_on_both = migrated.tables.keys() & from_models.tables.keys()
    for key in sorted(migrated.indexes.keys() | from_models.indexes.keys()):
        table, kind, definition = key
        if table not in tables_on_both:
            continue  # reported with its table
        ours, theirs = migrated.indexes.get(key), from_models.indexes.get(key)
        label = f'{kind} on "{table}": {definition}'
        if theirs is None:
            differences.append(f"{label}: {_only_in(MIGRATED)}")
        elif ours is None:
            differences.append(f"{label}: {_only_in(MODELS)}")
        elif ours != theirs:
            differences.append(
                f"{label}: named {_names(ours)} in {MIGRATED} but {_names(theirs)} in {MODELS}"
            )
    return differences


def _names(names: list[str]) -> str:
    return ", ".join(f'"{name}"' if name else "(a generated name)" for name in names)


def _compare_columns(
    table: str, migrated: Mapping[str, Column], from_models: Mapping[str, Column]
) -> list[str]:
    differences = []
    for column in sorted(migrated.keys() | from_models.keys()):
        ours, theirs = migrated.get(column), from_models.get(column)
        label = f'column "{table}"."{column}"'
        if theirs is None and ours is not None:
            differences.append(f"{label} ({ours.describe()}): {_only_in(MIGRATED)}")
        elif ours is None and theirs is not None:
            differences.append(f"{label} ({theirs.describe()}): {_only_in(MODELS)}")
        elif ours != theirs and ours is not None and theirs is not None:
            differences.append(
                f"{label}: {ours.describe()} in {MIGRATED} but {theirs.describe()} in {MODELS}"
            )
    return differences
