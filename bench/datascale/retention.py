"""Retention by month on the largest scale's data: what deleting a month's rows costs
today, against partitioned copies of the same rows where a month is a partition to
detach and drop; and what turning today's audit table into a partitioned one costs.

Destructive only where it says so: the deletes are rolled back, the partitioned copies
are new tables, dropped at the end; `attach_in_place` changes `audit_events` itself (the
last step of a run, on a throwaway database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from healthcare.db import asyncpg_dsn

TIMEOUT = 1800.0


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: tuple[str, ...]  # of the partitioned copy: must include created_at
    indexes: tuple[tuple[str, ...], ...]  # plain indexes, as the table has them
    unique: tuple[tuple[str, ...], ...] = ()  # per partition only (include created_at)
    trigger: str | None = None  # a row trigger that refuses DELETE (disabled to delete)


TABLES = (
    Table(
        "audit_events",
        ("id", "created_at"),
        (("created_at",), ("patient_id",)),
        trigger="audit_events_append_only",
    ),
    Table(  # as migration 11 partitions it (its idempotency keys are a table apart)
        "chat_messages",
        ("id", "created_at"),
        (("conversation_id", "seq", "created_at"),),
    ),
)


def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 2)


async def _months(connection: asyncpg.Connection, table: str) -> dict[datetime, int]:
    """Rows per calendar month (UTC), oldest first."""
    rows = await connection.fetch(
        f"SELECT date_trunc('month', created_at, 'UTC') AS m, count(*) AS n "  # noqa: S608
        f"FROM {table} GROUP BY m ORDER BY m"
    )
    return {r["m"]: r["n"] for r in rows}


async def delete_month(connection: asyncpg.Connection, table: Table, month: datetime) -> dict:
    """DELETE one month's rows (by the created_at index), timed, then rolled back."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        if table.trigger:  # the append-only trigger refuses any DELETE
            await connection.execute(f"ALTER TABLE {table.name} DISABLE TRIGGER {table.trigger}")
        started = time.perf_counter()
        status = await connection.execute(
            f"DELETE FROM {table.name} WHERE created_at >= $1 "  # noqa: S608
            "AND created_at < $1 + interval '1 month'",
            month,
            timeout=TIMEOUT,
        )
        return {
            "month": month.date().isoformat(),
            "rows": int(status.split()[-1]),
            "seconds": _seconds(started),
        }
    finally:
        await transaction.rollback()


async def partitioned_copy(
    connection: asyncpg.Connection, table: Table, months: list[datetime], month: datetime
) -> dict[str, Any]:
    """The table's rows copied into a copy partitioned by month (partitions, copy, keys
    and indexes timed apart), then `month`'s partition detached and dropped."""
    copy = f"{table.name}_by_month"
    result: dict[str, Any] = {"partitions": len(months)}
    started = time.perf_counter()
    await connection.execute(
        f"CREATE TABLE {copy} (LIKE {table.name} INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (created_at)"
    )
    for start in months:
        bound = start.isoformat()
        await connection.execute(
            f"CREATE TABLE {copy}_{start:%Y_%m} PARTITION OF {copy} FOR VALUES "
            f"FROM ('{bound}') TO ('{bound}'::timestamptz + interval '1 month')"
        )
    result["create_seconds"] = _seconds(started)
    started = time.perf_counter()
    await connection.execute(
        f"INSERT INTO {copy} SELECT * FROM {table.name} ORDER BY created_at",  # noqa: S608
        timeout=TIMEOUT,
    )
    result["copy_seconds"] = _seconds(started)
    started = time.perf_counter()
    await connection.execute(
        f"ALTER TABLE {copy} ADD PRIMARY KEY ({', '.join(table.primary_key)})", timeout=TIMEOUT
    )
    for columns in table.indexes:
        await connection.execute(f"CREATE INDEX ON {copy} ({', '.join(columns)})", timeout=TIMEOUT)
    result["keys_and_indexes_seconds"] = _seconds(started)
    await connection.execute(f"ANALYZE {copy}", timeout=TIMEOUT)
    sizes = await connection.fetchrow(
        "SELECT sum(pg_total_relation_size(inhrelid)) AS total, "
        "sum(pg_indexes_size(inhrelid)) AS indexes FROM pg_inherits WHERE inhparent = $1::regclass",
        copy,
    )
    result["total_mib"] = round(float(sizes["total"]) / 2**20, 1)
    result["indexes_mib"] = round(float(sizes["indexes"]) / 2**20, 1)
    oldest = f"{copy}_{month:%Y_%m}"
    result["detached_month"] = month.date().isoformat()
    result["detached_rows"] = await connection.fetchval(f"SELECT count(*) FROM {oldest}")  # noqa: S608
    started = time.perf_counter()
    async with connection.transaction():
        await connection.execute(f"ALTER TABLE {copy} DETACH PARTITION {oldest}")
        await connection.execute(f"DROP TABLE {oldest}")
    result["detach_and_drop_seconds"] = _seconds(started)
    await connection.execute(f"DROP TABLE {copy}")
    return result


async def attach_in_place(connection: asyncpg.Connection) -> dict[str, float]:
    """audit_events made partitioned without copying a row: the existing table becomes
    the partition of everything before next month (after a unique index on (id,
    created_at) and a validated CHECK on created_at), new months get partitions."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    await connection.execute(
        "CREATE UNIQUE INDEX audit_events_id_created_at ON audit_events (id, created_at)",
        timeout=TIMEOUT,
    )
    seconds["unique_index_seconds"] = _seconds(started)
    started = time.perf_counter()
    cut = await connection.fetchval("SELECT date_trunc('month', now()) + interval '1 month'")
    await connection.execute(
        f"ALTER TABLE audit_events ADD CONSTRAINT audit_events_before_cut "
        f"CHECK (created_at < '{cut.isoformat()}') NOT VALID"
    )
    await connection.execute(
        "ALTER TABLE audit_events VALIDATE CONSTRAINT audit_events_before_cut", timeout=TIMEOUT
    )
    seconds["check_constraint_seconds"] = _seconds(started)
    started = time.perf_counter()
    async with connection.transaction():
        await connection.execute(ATTACH_SQL.format(cut=cut.isoformat()), timeout=TIMEOUT)
    seconds["swap_and_attach_seconds"] = _seconds(started)
    return seconds


# The migration's transaction once the index and the CHECK exist: a brief lock, no copy.
ATTACH_SQL = """
DROP TRIGGER audit_events_append_only ON audit_events;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_before_partitioning_pkey
    PRIMARY KEY USING INDEX audit_events_id_created_at;
ALTER TABLE audit_events RENAME TO audit_events_before_partitioning;
ALTER INDEX idx_audit_event_created_be2801 RENAME TO audit_events_before_partitioning_created;
ALTER INDEX idx_audit_event_patient_6b53d2 RENAME TO audit_events_before_partitioning_patient;
CREATE TABLE audit_events (LIKE audit_events_before_partitioning INCLUDING DEFAULTS)
    PARTITION BY RANGE (created_at);
ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (id, created_at);
CREATE INDEX idx_audit_event_created_be2801 ON audit_events (created_at);
CREATE INDEX idx_audit_event_patient_6b53d2 ON audit_events (patient_id);
ALTER TABLE audit_events ATTACH PARTITION audit_events_before_partitioning
    FOR VALUES FROM (MINVALUE) TO ('{cut}');
CREATE TABLE audit_events_next PARTITION OF audit_events
    FOR VALUES FROM ('{cut}') TO ('{cut}'::timestamptz + interval '1 month');
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_are_append_only();
"""


async def measure(database_url: str, in_place: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """For each table: its rows per month; the month with the most rows deleted (rolled
    back) and, in a partitioned copy, detached and dropped. Then, with `in_place`, the
    audit table partitioned without a copy."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    results: dict[str, Any] = {}
    try:
        for table in TABLES:
            months = await _months(connection, table.name)
            month = max(months, key=lambda m: months[m])
            deleted = await delete_month(connection, table, month)
            log(f"retention: {table.name}: DELETE of a month ({deleted}) ")
            copy = await partitioned_copy(connection, table, list(months), month)
            log(f"retention: {table.name} partitioned by month: {copy}")
            results[table.name] = {
                "rows_per_month": {m.date().isoformat(): n for m, n in months.items()},
                "delete_month": deleted,
                "partitioned_copy": copy,
            }
        if in_place:
            try:
                swapped: dict[str, Any] = await attach_in_place(connection)
            except asyncpg.PostgresError as error:  # a figure missing, not the run's others
                swapped = {"error": f"{type(error).__name__}: {error}"}
            results["audit_events"]["attach_in_place"] = swapped
            log(f"retention: audit_events partitioned in place: {swapped}")
    finally:
        await connection.close()
    return results
