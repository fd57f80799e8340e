"""One scale's database: created, migrated (timed), filled, vacuumed and analysed, then
`healthcare migrate` timed again on the filled database (a no-op), and its tables' sizes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench.api import data as api_data
from bench.common.processes import PRODUCTION_EMAIL_ENV, REPO_ROOT, SCRUBBED
from healthcare import db
from healthcare.config import Settings
from healthcare.db import asyncpg_dsn

SIGNED_IN_DOCTORS = 20  # as bench.api
BOOKING_PAIRS = 100
MIGRATE_TIMEOUT = 600.0
VACUUM_TIMEOUT = 1800.0
# The tables that grow with use, and the ones the measured operations read most.
SIZED_TABLES = (
    "audit_events",
    "chat_messages",
    "chat_message_keys",
    "notifications",
    "email_messages",
    "appointments",
    "consultations",
    "conversations",
    "users",
    "auth_sessions",
)


@dataclass
class Prepared:
    scale: int
    database_url: str
    data: api_data.Dataset
    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, Any] = field(default_factory=dict)


def timed() -> Callable[[], float]:
    started = time.perf_counter()
    return lambda: round(time.perf_counter() - started, 2)


async def prepare(
    postgres_url: str, scale: int, settings: Settings, log: Callable[[str], None]
) -> Prepared:
    """A new database for `scale`; dropped by the caller (`drop`) unless kept."""
    database_url = await db.create_throwaway_database(postgres_url, "healthcare_bench_")
    log(f"scale {scale}: database {database_url.rsplit('/', 1)[-1]}")
    try:
        return await _prepare(database_url, scale, settings, log)
    except BaseException:
        await db.drop_database(database_url, postgres_url)
        raise


async def _prepare(
    database_url: str, scale: int, settings: Settings, log: Callable[[str], None]
) -> Prepared:
    # `healthcare migrate` in its own process, as an operator runs it (and because this
    # process's Tortoise, once the fill has used it, cannot run aerich again).
    seconds = {"interpreter_and_imports": await _cli(database_url, settings, IMPORT_ONLY)}
    seconds["migrate_empty_database"] = await _cli(database_url, settings, MIGRATE)
    log(
        f"scale {scale}: `healthcare migrate` on the empty database: "
        f"{seconds['migrate_empty_database']} s (starting Python and importing the CLI: "
        f"{seconds['interpreter_and_imports']} s)"
    )
    sizes = api_data.Sizes.at_scale(scale)
    log(f"scale {scale}: filling {sizes}")
    took = timed()
    data = await api_data.seed(
        database_url,
        Settings(jwt_secret=settings.jwt_secret, database_url=database_url),
        sizes,
        signed_in_doctors=SIGNED_IN_DOCTORS,
        booking_pairs=BOOKING_PAIRS,
        progress=log,
    )
    seconds["fill"] = took()
    log(f"scale {scale}: filled {data.counts} in {took()} s")
    took = timed()
    await _vacuum_analyze(database_url)
    seconds["vacuum_analyze"] = took()
    log(f"scale {scale}: VACUUM (ANALYZE) {took()} s")
    seconds["migrate_filled_database"] = await _cli(database_url, settings, MIGRATE)
    log(
        f"scale {scale}: `healthcare migrate` (nothing to apply) on the filled database: "
        f"{seconds['migrate_filled_database']} s"
    )
    prepared = Prepared(scale, database_url, data, seconds)
    prepared.sizes = await table_sizes(database_url)
    return prepared


async def _vacuum_analyze(database_url: str) -> None:
    """As autovacuum would leave a database that has been in use: visibility map set (so
    index-only scans skip the heap), hint bits written, statistics fresh. Without it,
    autovacuum would wake up on the new rows during the load and skew the first runs."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("VACUUM (ANALYZE)", timeout=VACUUM_TIMEOUT)
    finally:
        await connection.close()


MIGRATE = ["-m", "healthcare.cli", "migrate"]
IMPORT_ONLY = ["-c", "import healthcare.cli"]  # the part of a CLI run that is not migrating


async def _cli(database_url: str, settings: Settings, argv: list[str]) -> float:
    """Seconds `python <argv>` takes in production settings on `database_url`."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED} | {
        "HEALTHCARE_ENV": "production",
        **PRODUCTION_EMAIL_ENV,
        "DATABASE_URL": database_url,
        "BROADCAST_URL": "memory://",
        "JWT_SECRET": settings.jwt_secret,
    }
    took = timed()
    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, *argv],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    seconds = took()
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {finished.stderr[-2000:]}")
    return seconds


async def table_sizes(database_url: str) -> dict[str, Any]:
    """Rows (estimated), heap, indexes and total (pg_total_relation_size) per table, MiB."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            """
            SELECT c.relname AS name,
                   -- a partitioned parent's own estimate is its partitions' sum again
                   sum(greatest(part.reltuples, 0)) FILTER (WHERE part.relkind <> 'p')::bigint
                     AS rows,
                   sum(pg_relation_size(part.oid)) AS heap,
                   sum(pg_indexes_size(part.oid)) AS indexes,
                   sum(pg_total_relation_size(part.oid)) AS total
            FROM pg_class c
            -- a partitioned table (the audit trail, the chat) is the sum of its partitions;
            -- pg_partition_tree gives no row for a table that is not partitioned
            LEFT JOIN LATERAL pg_partition_tree(c.oid) AS tree ON true
            JOIN pg_class part ON part.oid = coalesce(tree.relid, c.oid)
            WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'p')
              AND c.relnamespace = 'public'::regnamespace
            GROUP BY c.relname
            """,
            list(SIZED_TABLES),
        )
        database = await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()
    mib = 1024 * 1024
    tables = {
        r["name"]: {
            "rows": r["rows"],
            "heap_mib": round(r["heap"] / mib, 1),
            "indexes_mib": round(r["indexes"] / mib, 1),
            "total_mib": round(r["total"] / mib, 1),
        }
        for r in sorted(rows, key=lambda r: -r["total"])
    }
    return {"database_mib": round(database / mib, 1), "tables": tables}


async def drop(prepared: Prepared, postgres_url: str) -> None:
    await db.drop_database(prepared.database_url, postgres_url)
