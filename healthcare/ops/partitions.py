"""The tables partitioned by month on PostgreSQL: the audit trail (migration 10) and the
chat (migration 11). Every instance creates their months ahead (`keep_up`, at start-up
and daily); the audit trail's old months are dropped whole only when an operator asks
(`healthcare audit-retention`); the chat's are archived by hand (docs/operations.md).

Every change holds one transaction-level advisory lock, so instances starting together
(or an upkeep beside a retention run) take turns, and each reads the partitions again
once it holds the lock. DDL waits at most `LOCK_TIMEOUT` for a table: the next round
tries again rather than queueing the app's inserts behind a long read of the table.

A row for a month without a partition lands in the DEFAULT partition (an insert never
fails for want of one). Creating that month's partition would then fail, so its rows are
moved first: into a table of their own that is then attached as the month's partition,
in one transaction (a table's append-only trigger is disabled on the DEFAULT partition
for the move, and only inside that transaction). Rows are moved, never lost.

The same daily round prunes the chat's idempotency keys older than
`models.MESSAGE_KEY_DAYS`, on SQLite too. SQLite has no partitions: there every other
function here does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from healthcare import models

logger = logging.getLogger(__name__)

MONTHS_AHEAD = 3
UPKEEP_INTERVAL_SECONDS = 24 * 3600.0
LOCK_TIMEOUT = "5s"
ADVISORY_LOCK_KEY = 0x4155_4449_5450  # "AUDITP", from the first table: one change at a time
_BOUNDS = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")


@dataclass(frozen=True)
class PartitionedTable:
    """A table that a migration partitioned by RANGE (created_at), one partition a month
    (`<name>_2027_01`), with `<name>_default` for rows of months without one."""

    name: str
    label: str  # in the logs
    trigger: str | None = None  # a row trigger that refuses DELETE: off while rows move

    def partition_name(self, month: datetime) -> str:
        return f"{self.name}_{month:%Y_%m}"


AUDIT = PartitionedTable("audit_events", "audit trail", trigger="audit_events_append_only")
CHAT = PartitionedTable("chat_messages", "chat")
TABLES = (AUDIT, CHAT)


@dataclass(frozen=True)
class Partition:
    """One partition; `start`/`end` None: unbounded (MINVALUE, DEFAULT)."""

    name: str
    start: datetime | None
    end: datetime | None
    is_default: bool = False

    def overlaps(self, start: datetime, end: datetime) -> bool:
        if self.is_default:
            return False
        return (self.start is None or self.start < end) and (self.end is None or start < self.end)

    def describe(self) -> str:
        if self.is_default:
            return "DEFAULT (rows of months without a partition)"
        since = f"{self.start:%Y-%m-%d}" if self.start else "the beginning"
        return f"from {since} to {self.end:%Y-%m-%d}" if self.end else f"from {since} on"


@dataclass(frozen=True)
class Dropped:
    partition: Partition
    rows: int


@dataclass(frozen=True)
class Retention:
    """What `audit-retention` sees: the cut-off, every partition, and those entirely older
    than the cut-off (dropped when applied)."""

    cutoff: datetime
    partitions: list[Partition]
    expired: list[Dropped]
    applied: bool


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


def _literal(moment: datetime) -> str:
    return f"'{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


@asynccontextmanager
async def _connection(given: asyncpg.Connection | None) -> AsyncIterator[asyncpg.Connection | None]:
    """`given`, else one of the app's pool; None on SQLite."""
    if given is not None:
        yield given
        return
    client = connections.get("default")
    if not isinstance(client, AsyncpgDBClient):
        yield None
        return
    async with client.acquire_connection() as connection:
        yield connection


async def _lock(connection: asyncpg.Connection) -> None:
    """Inside a transaction: UTC bounds in the catalog's text, a bounded wait for locks,
    and the advisory lock."""
    await connection.execute("SET LOCAL TimeZone = 'UTC'")
    await connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    await connection.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)


def _bound(text: str) -> datetime | None:
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    return datetime.fromisoformat(text.strip("'"))


async def partitions(
    connection: asyncpg.Connection, table: PartitionedTable
) -> list[Partition] | None:
    """`table`'s partitions, oldest first (DEFAULT last); None if it is not partitioned.
    Read with TimeZone UTC (see `_lock`)."""
    partitioned = await connection.fetchval(
        "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass($1)", table.name
    )
    if not partitioned:
        return None
    rows = await connection.fetch(
        "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass($1)",
        table.name,
    )
    found = []
    for row in rows:
        match = _BOUNDS.search(row["bound"])
        if match is None:
            found.append(Partition(row["name"], None, None, is_default=True))
        else:
            found.append(Partition(row["name"], _bound(match[1]), _bound(match[2])))
    oldest_first = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda p: (p.is_default, p.start or oldest_first))


async def ensure_partitions(
    months_ahead: int = MONTHS_AHEAD,
    *,
    tables: Sequence[PartitionedTable] = TABLES,
    connection: asyncpg.Connection | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Create, for each of `tables`, the partitions of this month and the `months_ahead`
    next ones that no partition covers yet; returns the names created. Idempotent."""
    async with _connection(connection) as db:
        if db is None:
            return []
        async with db.transaction():
            await _lock(db)
            this_month = month_start(now or await db.fetchval("SELECT now()"))
            created = []
            for table in tables:
                existing = await partitions(db, table)
                if existing is None:
                    logger.warning("%s is not partitioned (migrations missing?)", table.name)
                    continue
                for n in range(months_ahead + 1):
                    start = add_months(this_month, n)
                    end = add_months(start, 1)
                    if not any(p.overlaps(start, end) for p in existing):
                        await _create_month(db, table, start, end, existing)
                        created.append(table.partition_name(start))
    for name in created:
        logger.info("partition %s created", name)
    return created


async def _create_month(
    db: asyncpg.Connection,
    table: PartitionedTable,
    start: datetime,
    end: datetime,
    existing: list[Partition],
) -> None:
    name, bounds = table.partition_name(start), f"FROM ({_literal(start)}) TO ({_literal(end)})"
    default = next((p.name for p in existing if p.is_default), None)
    waiting = 0
    if default is not None:
        waiting = await db.fetchval(
            f'SELECT count(*) FROM "{default}" WHERE created_at >= $1 AND created_at < $2',  # noqa: S608
            start,
            end,
        )
    if not waiting:
        await db.execute(
            f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table.name}" FOR VALUES {bounds}'
        )
        return
    # The month's rows sit in the DEFAULT partition: move them into the new partition.
    await db.execute(
        f'CREATE TABLE "{name}" (LIKE "{table.name}" INCLUDING DEFAULTS INCLUDING COMMENTS)'
    )
    if table.trigger:
        await db.execute(f'ALTER TABLE "{default}" DISABLE TRIGGER "{table.trigger}"')
    await db.execute(
        f'WITH moved AS (DELETE FROM "{default}" WHERE created_at >= $1 AND created_at < $2 '  # noqa: S608
        f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
        start,
        end,
    )
    if table.trigger:
        await db.execute(f'ALTER TABLE "{default}" ENABLE TRIGGER "{table.trigger}"')
    await db.execute(f'ALTER TABLE "{table.name}" ATTACH PARTITION "{name}" FOR VALUES {bounds}')
    logger.warning(
        "%s: %d rows moved from %s into the new partition %s", table.label, waiting, default, name
    )


async def prune_message_keys(now: datetime | None = None) -> int:
    """Delete the chat's idempotency keys older than `models.MESSAGE_KEY_DAYS`; returns
    how many. A retry with one of their clientIds would store a second copy: no client
    retries a send for that long."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=models.MESSAGE_KEY_DAYS)
    deleted: int = await models.ChatMessageKey.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("chat: %d idempotency keys older than %s pruned", deleted, cutoff.date())
    return deleted


async def keep_up(interval: float = UPKEEP_INTERVAL_SECONDS) -> None:
    """At start-up, then every `interval` seconds, for as long as the app runs: the
    months ahead, and the chat's keys pruned."""
    while True:
        for chore in (ensure_partitions, prune_message_keys):
            try:
                await chore()
            except Exception as error:  # the database is away, or a lock was busy: next round
                logger.warning("upkeep: %s failed (%s)", chore.__name__, type(error).__name__)
        await asyncio.sleep(interval)


async def retention(
    months: int,
    *,
    apply: bool = False,
    connection: asyncpg.Connection | None = None,
    now: datetime | None = None,
) -> Retention:
    """The partitions entirely older than `months` whole months before this one; with
    `apply`, detached and dropped. Never the DEFAULT partition, never one whose range
    reaches the cut-off. Each drop is logged (WARNING): it deletes audit records."""
    if months < 1:
        raise ValueError("months must be at least 1")
    async with _connection(connection) as db:
        if db is None:
            raise RuntimeError("audit retention needs PostgreSQL (SQLite has no partitions)")
        async with db.transaction():
            await _lock(db)
            found = await partitions(db, AUDIT)
            if found is None:
                raise RuntimeError(f"{AUDIT.name} is not partitioned: apply the migrations first")
            cutoff = add_months(month_start(now or await db.fetchval("SELECT now()")), -months)
            expired = []
            for partition in found:
                if partition.is_default or partition.end is None or partition.end > cutoff:
                    continue
                rows = await db.fetchval(f'SELECT count(*) FROM "{partition.name}"')  # noqa: S608
                expired.append(Dropped(partition, rows))
            if apply:
                for dropped in expired:
                    await _drop(db, dropped.partition.name, cutoff)
    if apply:
        for dropped in expired:
            logger.warning(
                "audit trail: partition %s dropped (%s, %d rows): retention of %d months",
                dropped.partition.name,
                dropped.partition.describe(),
                dropped.rows,
                months,
            )
    return Retention(cutoff, found, expired, apply)


async def _drop(db: asyncpg.Connection, name: str, cutoff: datetime) -> None:
    newer = await db.fetchval(
        f'SELECT EXISTS (SELECT 1 FROM "{name}" WHERE created_at >= $1)',  # noqa: S608
        cutoff,
    )
    if newer:  # its bound says it cannot be: refuse rather than lose a newer row
        raise RuntimeError(f"{name} holds rows newer than {cutoff:%Y-%m-%d}: not dropped")
    await db.execute(f'ALTER TABLE "{AUDIT.name}" DETACH PARTITION "{name}"; DROP TABLE "{name}"')
