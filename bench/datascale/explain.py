"""EXPLAIN (ANALYZE, BUFFERS) of the main queries, in the text the API really sends.

The API runs once more through bench/api/pgcount.py (the counting proxy) for one request
of each explained operation; the proxy gives the statement text (not its parameters),
and this module supplies the values the request used, by the parameter's place, after
checking the types PostgreSQL infers for the statement. Each plan is shown twice: as the
first executions of a prepared statement run it (a custom plan for these values), and as
asyncpg's cached statement may run it after five executions (a generic plan).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.api import httpload
from bench.api import operations as api_ops
from bench.api.data import Dataset
from bench.api.pgcount import StatementCounter
from bench.api.runner import Context, _through, _upstream, start_api, stop
from bench.datascale import operations as ops
from healthcare.config import Settings
from healthcare.db import asyncpg_dsn
from healthcare.resolvers import chat
from healthcare.resolvers.availability import LONGEST_APPOINTMENT

QUIET = 0.6  # s without SQL: the request and its background writes are done


@dataclass(frozen=True)
class Explained:
    operation: str
    pattern: str  # the statement to explain: a regular expression over its text
    # the parameters, by place ($1, $2 ...), from the data and, if need be, the database
    values: Callable[[Dataset, asyncpg.Connection], Awaitable[list[Any]]]


def known(values: Callable[[Dataset], list[Any]]) -> Callable[..., Awaitable[list[Any]]]:
    async def given(data: Dataset, connection: asyncpg.Connection) -> list[Any]:
        return values(data)

    return given


async def _newest_page(data: Dataset, connection: asyncpg.Connection) -> list[Any]:
    """The newest page's values, as `chat.history` takes them from the conversation: its
    last seq, and the months of its last message and the one before."""
    conversation = uuid.UUID(data.conversation_ids[0])
    row = await connection.fetchrow(
        "SELECT last_seq, last_message_at FROM conversations WHERE id = $1", conversation
    )
    months = chat.Months.recent(row["last_message_at"])
    return [conversation, row["last_seq"], months.since, months.until, ops.PAGE_SIZE + 1]


def _week(data: Dataset) -> tuple[datetime, datetime]:
    """The UTC window free slots read for a week from today (availability.load_calendars)."""
    today = datetime.now(UTC).date()
    start = datetime.combine(today, time(), UTC) - timedelta(days=1)
    end = datetime.combine(today + timedelta(days=ops.SLOTS_DAYS - 1), time(), UTC)
    return start, end + timedelta(days=2)


def _first_doctor(data: Dataset) -> uuid.UUID:
    return uuid.UUID(data.doctor_ids[0])


EXPLAINED = (
    Explained(
        "list",
        r'FROM "appointments" WHERE "doctor_id"=\$1 ORDER BY',
        known(lambda d: [_first_doctor(d), 51]),
    ),
    Explained(
        "slots",
        # the window, its start moved back by the longest appointment, then the window's start
        r'FROM "appointments" WHERE "doctor_id" IN \(\$1\) AND "starts_at"<\$2 '
        r'AND "starts_at">\$3 AND "ends_at">\$4',
        known(
            lambda d: [
                _first_doctor(d),
                _week(d)[1],
                _week(d)[0] - LONGEST_APPOINTMENT,
                _week(d)[0],
                "CANCELLED",
            ]
        ),
    ),
    Explained(
        "page",
        # the newest page, in the months of the last message and the one before
        r'FROM "chat_messages" WHERE "conversation_id"=\$1 AND "seq"<=\$2 '
        r'AND "created_at">=\$3 AND "created_at"<=\$4 ORDER BY "seq" DESC LIMIT',
        _newest_page,
    ),
)
REQUESTS = {
    # The explained statement must come from the same values: doctor 0, conversation 0.
    "list": lambda d, port: httpload.build_request(port, api_ops.list_body(50), d.doctor_tokens[0]),
    "slots": lambda d, port: httpload.build_request(
        port, ops.slots_body(d.doctor_ids[0], datetime.now(UTC)), d.patient_tokens[0]
    ),
    "page": lambda d, port: httpload.build_request(
        port, ops.page_body(d.conversation_ids[0]), d.patient_tokens[0]
    ),
}


async def statements(
    folder: Path, settings: Settings, database_url: str, data: Dataset
) -> dict[str, list[str]]:
    """The SQL text of one request of each explained operation, through the proxy."""
    proxy = StatementCounter(*_upstream(database_url))
    await proxy.start()
    api = None
    found: dict[str, list[str]] = {}
    try:
        ctx = Context(folder, settings, database_url, data, 0, 1, 1)
        api = await start_api(ctx, "api-explain", _through(database_url, proxy.port))
        connection = await httpload.connect(api.port)
        try:
            for operation, make in REQUESTS.items():
                await connection.request(make(data, api.port))  # pool, prepared statements
                await proxy.settle(QUIET, 5)
                mark = proxy.mark()
                await asyncio.wait_for(connection.request(make(data, api.port)), 30)
                await proxy.settle(QUIET, 5)
                found[operation] = [e.sql for e in proxy.since(mark) if e.kind == "execute"]
        finally:
            connection.close()
    finally:
        await stop(api)
        await proxy.close()
    return found


def _literal(value: Any) -> str:
    """A value written into EXPLAIN EXECUTE's text (our own values, never a user's)."""
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    return "'" + str(value).replace("'", "''") + "'"


async def explain(database_url: str, data: Dataset, texts: dict[str, list[str]]) -> dict:
    """Each explained statement's plans (custom and generic), or why there is none."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    results: dict[str, Any] = {}
    try:
        for item in EXPLAINED:
            sql = next(
                (s for s in texts.get(item.operation, []) if re.search(item.pattern, s)), None
            )
            if sql is None:
                results[item.operation] = {
                    "error": "statement not seen",
                    "seen": texts.get(item.operation),
                }
                continue
            values = await item.values(data, connection)
            results[item.operation] = await _plans(connection, item, sql, values)
    finally:
        await connection.close()
    return results


async def _plans(connection: asyncpg.Connection, item: Explained, sql: str, values: list) -> dict:
    name = f"datascale_{item.operation}"
    await connection.execute(f"PREPARE {name} AS {sql}")
    try:
        types = await connection.fetchval(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1", name
        )
        if len(types) != len(values):
            return {"sql": sql, "error": f"parameters {types}, expected {len(values)} values"}
        execute = f"EXECUTE {name}({', '.join(_literal(v) for v in values)})"
        plans = {}
        for mode in ("force_custom_plan", "force_generic_plan"):
            await connection.execute(f"SET plan_cache_mode = {mode}")
            await connection.fetch(f"EXPLAIN ANALYZE {execute}")  # warm the cache first
            rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {execute}")
            plans[mode.removeprefix("force_")] = [r[0] for r in rows]
        await connection.execute("RESET plan_cache_mode")
        return {
            "sql": sql,
            "parameters": [
                f"${n} {t} = {v}" for n, (t, v) in enumerate(zip(types, values, strict=True), 1)
            ],
            "plans": plans,
            "uses_index": all("Index" in "\n".join(p) for p in plans.values()),
            "seq_scan": any("Seq Scan" in "\n".join(p) for p in plans.values()),
        }
    finally:
        await connection.execute(f"DEALLOCATE {name}")
