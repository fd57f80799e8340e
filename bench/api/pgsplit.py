"""Where a doctor's list spends PostgreSQL's time: its compiled statement, the session
check and the audit trail's COPY of the rows it reads, each timed alone.

    .venv/bin/python -m bench.api.pgsplit [--calls 1000]

On a throwaway database with the bench's clinic (bench.api.data, full size), the API
in-process answers one doctor's list of 50 (bench.api.operations), keeping the statement
it ran and the audit rows it wrote; then each is run `--calls` times on one connection of
its own, and the wall time and the backend's CPU (from /proc, in clock ticks) per call are
printed. The audit writer batches several requests' rows into one COPY; its cost per row
is about the same. Run it on an idle machine."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.api import data as api_data
from bench.api import operations as ops
from bench.common import environment
from bench.common.seed import benchmark_database
from healthcare.app import create_app
from healthcare.config import Settings
from healthcare.db import Statement, asyncpg_dsn
from healthcare.graphql.execution import compiled
from healthcare.security import audit

SESSION_CHECK = """
SELECT u.* FROM auth_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
"""
TICKS_PER_SECOND = 100


def backend_cpu_seconds(pid: int) -> float:
    """A local PostgreSQL backend's CPU so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


async def timed(name: str, pid: int, calls: int, call: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(20):  # warm: plans, caches
        await call()
    cpu, started = backend_cpu_seconds(pid), time.perf_counter()
    for _ in range(calls):
        await call()
    wall_ms = (time.perf_counter() - started) / calls * 1000
    cpu_ms = (backend_cpu_seconds(pid) - cpu) / calls * 1000
    print(f"{name:40s} wall {wall_ms:6.3f} ms   backend CPU {cpu_ms:6.3f} ms", flush=True)


async def one_list(settings: Settings, token: str) -> tuple[Statement, list[audit.AuditRecord]]:
    """The statement the API's list ran, and the audit rows it wrote."""
    ran: list[Statement] = []
    written: list[audit.AuditRecord] = []
    rows_of, insert = compiled.rows_of, audit.insert

    async def keep_statement(statement: Statement | None) -> Any:
        if statement is not None:
            ran.append(statement)
        return await rows_of(statement)

    async def keep_rows(rows: list[audit.AuditRecord]) -> None:
        written.extend(rows)
        await insert(rows)

    compiled.rows_of, audit.insert = keep_statement, keep_rows
    try:
        app = create_app(settings)
        async with app.router.lifespan_context(app):  # the app's start-up and shut-down
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
                response = await client.post("/graphql", content=ops.list_body(50), headers=headers)
                assert response.status_code == 200 and b'"errors"' not in response.content
                await audit.written()
    finally:
        compiled.rows_of, audit.insert = rows_of, insert
    (statement,) = ran
    return statement, written


async def main(postgres_url: str, calls: int) -> None:
    folder = Path(tempfile.mkdtemp())
    async with benchmark_database(postgres_url, folder) as url:
        settings = Settings(jwt_secret=environment.new_secret(), database_url=url)
        data = await api_data.seed(url, settings, api_data.Sizes(), 2, 1)
        settings = dataclasses.replace(
            settings, log_level="WARNING", data_dir=folder, media_dir=folder / "media"
        )
        statement, records = await one_list(settings, data.doctor_tokens[0])
        print(f"a doctor's list of 50: {len(records)} audit rows", flush=True)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            pid = connection.get_server_pid()
            prepared = await connection.prepare(statement.sql)
            await timed(
                "the list's statement", pid, calls, lambda: prepared.fetch(*statement.values)
            )
            session = await connection.fetchrow("SELECT id, user_id FROM auth_sessions LIMIT 1")
            check = await connection.prepare(SESSION_CHECK)
            assert session is not None
            await timed("the session check", pid, calls, lambda: check.fetch(*session))
            rows = [audit._copy_record(str(uuid.uuid4()), record) for record in records]

            async def copy() -> None:
                fresh = [(str(uuid.uuid4()), *row[1:]) for row in rows]
                await connection.copy_records_to_table(
                    "audit_events", records=fresh, columns=("id", *audit.COLUMNS)
                )

            await timed(f"the audit COPY of its {len(rows)} rows", pid, calls, copy)
        finally:
            await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.api.pgsplit", description=__doc__)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.postgres_url, args.calls))
