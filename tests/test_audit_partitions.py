"""The audit trail partitioned by month on PostgreSQL (migration 10), its upkeep and its
retention. PostgreSQL only: each test gets databases of its own on the server that
TEST_POSTGRES_URL (or a postgres:// DATABASE_URL) names, migrated in processes of their
own, and talks to them with asyncpg. Without one the tests are skipped; on CI
(CI=true) with TEST_POSTGRES_URL set they run, and fail if it is unreachable.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from healthcare.db import asyncpg_dsn, create_throwaway_database, drop_database
from healthcare.ops import partitions
from healthcare.ops.partitions import AUDIT, add_months, month_start
from tests.postgres import migrate_up_to, run
from tests.postgres import partition_names as partitions_of

pytestmark = pytest.mark.postgres

WRITE_THROUGH_THE_AUDIT_WRITER = """
import asyncio, sys
from datetime import datetime
from tortoise import Tortoise
from healthcare import models
from healthcare.config import tortoise_config
from healthcare.security import audit

async def main():
    await Tortoise.init(config=tortoise_config(sys.argv[1]))
    try:
        writer = audit.AuditWriter()
        for moment, request_id in zip(sys.argv[2::2], sys.argv[3::2]):
            row = audit.record(
                None, models.AuditEntity.OPERATION, models.AuditAction.DENIED, False
            )
            created_at = datetime.fromisoformat(moment)
            writer.add([row._replace(created_at=created_at, request_id=request_id)])
        await writer.stop()
    finally:
        await Tortoise.close_connections()

asyncio.run(main())
"""


def partition_name(month: datetime) -> str:
    return AUDIT.partition_name(month)


async def partition_names(connection: asyncpg.Connection) -> list[str]:
    return await partitions_of(connection, AUDIT)


@dataclass
class History:
    url: str
    ids: set[uuid.UUID]
    cut: datetime  # the first day of next month, when the migration ran


def first_months_of(moment: datetime) -> datetime:
    return add_months(month_start(moment), 1)


@pytest.fixture(scope="module")
def history(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """A database migrated up to the migration before partitioning, given 40 audit rows
    over the last 20 months, then migrated to the end."""
    url = asyncio.run(create_throwaway_database(server_url, "healthcare_partitions_"))
    try:
        migrate_up_to(url, "10_*.py", tmp_path_factory.mktemp("migrations"))
        ids = asyncio.run(insert_history(url))
        run(["-m", "healthcare.cli", "migrate"], url)
        yield History(url, ids, first_months_of(datetime.now(UTC)))
    finally:
        asyncio.run(drop_database(url, server_url))


async def insert_history(url: str) -> set[uuid.UUID]:
    now = datetime.now(UTC)
    moments = [now - timedelta(days=15 * n) for n in range(40)]
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        ids = {uuid.uuid4() for _ in moments}
        await connection.executemany(
            INSERT, [(row_id, moment) for row_id, moment in zip(ids, moments, strict=True)]
        )
    finally:
        await connection.close()
    return ids


INSERT = """
INSERT INTO audit_events (id, created_at, entity, action, fields_accessed, allowed)
VALUES ($1, $2, 'OPERATION', 'DENIED', '[]', false)
"""


async def where_rows_are(connection: asyncpg.Connection) -> dict[str, str]:
    rows = await connection.fetch(
        "SELECT request_id, tableoid::regclass::text AS partition FROM audit_events"
    )
    return {row["request_id"]: row["partition"] for row in rows}


async def test_the_migration_partitions_the_trail_by_month_with_a_default(
    history: History,
) -> None:
    # given
    connection = await asyncpg.connect(asyncpg_dsn(history.url))
    try:
        # when
        names = await partition_names(connection)
        key = await connection.fetchval("SELECT pg_get_partkeydef('audit_events'::regclass)")
        primary_key = await connection.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'audit_events_pkey'"
        )
    finally:
        await connection.close()

    # then
    months = [partition_name(add_months(history.cut, n)) for n in range(3)]
    assert names == ["audit_events_before_partitioning", *months, "audit_events_default"]
    assert key == "RANGE (created_at)"
    assert primary_key == "PRIMARY KEY (id, created_at)"


async def test_migrating_a_trail_that_holds_rows_keeps_every_row(history: History) -> None:
    # given rows written before the migration (the fixture)
    connection = await asyncpg.connect(asyncpg_dsn(history.url))
    try:
        # when
        rows = await connection.fetch(
            "SELECT id, tableoid::regclass::text AS partition FROM audit_events"
        )
    finally:
        await connection.close()

    # then
    assert {row["id"] for row in rows} >= history.ids
    kept = [row for row in rows if row["id"] in history.ids]
    assert len(kept) == len(history.ids) == 40
    assert {row["partition"] for row in kept} == {"audit_events_before_partitioning"}


async def test_rows_the_audit_writer_writes_land_in_their_months_partition(
    migrated: str, connection: asyncpg.Connection
) -> None:
    # given
    now = datetime.now(UTC)
    cut = first_months_of(now)
    moments = {
        "now": now,
        "next-month": cut + timedelta(days=3),
        "in-two-months": add_months(cut, 1) + timedelta(hours=1),
        "in-ten-years": add_months(cut, 120),
    }
    args = [text for name, moment in moments.items() for text in (moment.isoformat(), name)]

    # when
    run(["-c", WRITE_THROUGH_THE_AUDIT_WRITER, migrated, *args], migrated)

    # then
    assert await where_rows_are(connection) == {
        "now": "audit_events_before_partitioning",
        "next-month": partition_name(cut),
        "in-two-months": partition_name(add_months(cut, 1)),
        "in-ten-years": "audit_events_default",
    }


async def test_every_partition_refuses_update_and_delete(connection: asyncpg.Connection) -> None:
    # given a row in each partition
    cut = first_months_of(datetime.now(UTC))
    moments = [cut - timedelta(days=40), *(add_months(cut, n) for n in range(3))]
    moments.append(add_months(cut, 240))
    await connection.executemany(INSERT, [(uuid.uuid4(), moment) for moment in moments])
    names = await partition_names(connection)
    assert len(names) == 5

    # then
    for name in [*names, "audit_events"]:
        for statement in (f"UPDATE {name} SET allowed = true", f"DELETE FROM {name}"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await connection.execute(statement)
    assert await connection.fetchval("SELECT count(*) FROM audit_events") == 5


async def test_ensure_partitions_creates_months_ahead_once_even_run_at_once_twice(
    migrated: str, connection: asyncpg.Connection
) -> None:
    # given another instance's connection
    other = await asyncpg.connect(asyncpg_dsn(migrated))
    this_month = month_start(datetime.now(UTC))

    # when
    try:
        first, second = await asyncio.gather(
            partitions.ensure_partitions(6, tables=[AUDIT], connection=connection),
            partitions.ensure_partitions(6, tables=[AUDIT], connection=other),
        )
        again = await partitions.ensure_partitions(6, tables=[AUDIT], connection=connection)
    finally:
        await other.close()

    # then: the migration made the next three months, the rest is made once
    expected = [partition_name(add_months(this_month, n)) for n in range(4, 7)]
    assert sorted(first + second) == expected
    assert again == []
    names = await partition_names(connection)
    assert names[1:-1] == [partition_name(add_months(this_month, n)) for n in range(1, 7)]


async def test_ensure_partitions_moves_a_months_rows_out_of_the_default_partition(
    connection: asyncpg.Connection,
) -> None:
    # given a row of a month without a partition yet
    month = add_months(month_start(datetime.now(UTC)), 5)
    await connection.execute(
        INSERT.replace("false)", "false, 'early')").replace("allowed)", "allowed, request_id)"),
        uuid.uuid4(),
        month + timedelta(days=9),
    )
    assert await where_rows_are(connection) == {"early": "audit_events_default"}

    # when
    created = await partitions.ensure_partitions(5, tables=[AUDIT], connection=connection)

    # then
    assert partition_name(month) in created
    assert await where_rows_are(connection) == {"early": partition_name(month)}
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await connection.execute(f"DELETE FROM {partition_name(month)}")
    enabled = await connection.fetch(
        "SELECT tgenabled::text AS state FROM pg_trigger WHERE tgname = 'audit_events_append_only'"
    )
    assert [row["state"] for row in enabled] == ["O"] * (len(await partition_names(connection)) + 1)


async def test_retention_lists_then_drops_only_whole_months_older_than_the_cut_off(
    connection: asyncpg.Connection,
) -> None:
    # given: four months after the migration, with rows in every month and in DEFAULT
    cut = first_months_of(datetime.now(UTC))
    later = add_months(cut, 4) + timedelta(days=2)
    await partitions.ensure_partitions(1, connection=connection, now=later)
    moments = [cut - timedelta(days=1), *(add_months(cut, n) for n in range(3)), later]
    moments.append(add_months(cut, 300))
    await connection.executemany(INSERT, [(uuid.uuid4(), moment) for moment in moments])
    before = await partition_names(connection)

    # when
    listed = await partitions.retention(2, connection=connection, now=later)
    after_listing = await partition_names(connection)
    applied = await partitions.retention(2, apply=True, connection=connection, now=later)

    # then: the cut-off is two whole months before `later`'s month
    older = ["audit_events_before_partitioning", partition_name(cut)]
    older.append(partition_name(add_months(cut, 1)))
    assert listed.cutoff == applied.cutoff == add_months(cut, 2)
    assert [dropped.partition.name for dropped in listed.expired] == older
    assert [dropped.rows for dropped in applied.expired] == [1, 1, 1]
    assert after_listing == before
    assert await partition_names(connection) == [name for name in before if name not in older]
    kept = await connection.fetch("SELECT created_at FROM audit_events ORDER BY created_at")
    assert [row["created_at"] for row in kept] == moments[3:]


async def test_the_audit_retention_command_lists_the_partitions_and_keeps_recent_ones(
    migrated: str, connection: asyncpg.Connection
) -> None:
    # when
    listed = run(["-m", "healthcare.cli", "audit-retention", "--months", "1"], migrated)
    applied = run(["-m", "healthcare.cli", "audit-retention", "--months", "1", "--apply"], migrated)

    # then: the partition before the migration holds this month: nothing is old enough
    for output in (listed, applied):
        assert "kept    audit_events_before_partitioning" in output
        assert "kept    audit_events_default: DEFAULT" in output
        assert "Nothing is older than the cut-off." in output
    assert len(await partition_names(connection)) == 5
