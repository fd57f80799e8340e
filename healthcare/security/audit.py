"""The audit trail of health data: every read, every write, every refused attempt.

- Writes are recorded by the change seam (`resolvers.changes.announce`), inside
  the transaction of the change, through `record_write`.
- Reads are recorded by the types that hold health data (`graphql.auditing.audited`, on
  the type), for every object of them an operation returns, and buffered per operation;
  when it ends (graphql.execution.OperationScope), or a subscription event is sent,
  `flush` hands them to the instance's `AuditWriter`, which writes everything pending in
  one insert a few times a second, off the request path. Reading the trail (`written()`)
  first writes what this instance still holds; shutdown writes the rest.
- Refusals (`graphql.auditing.denied`) are buffered the same way.
Who and from where come from the request (`bind_request`), never from the client's
word. The rows hold ids and field names, never the health data itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import asyncpg
from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.exceptions import IntegrityError, ValidationError

from healthcare import models

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestMeta:
    client_address: str | None
    request_id: str | None


_request: ContextVar[RequestMeta | None] = ContextVar("healthcare_audit_request", default=None)
_NO_REQUEST = RequestMeta(None, None)  # the CLI, seeding demo data


def bind_request(client_address: str | None, request_id: str | None) -> None:
    """Called when a request's context is built; tasks it starts inherit it."""
    _request.set(RequestMeta(client_address, request_id))


class AuditRecord(NamedTuple):
    """One row of the trail, as buffered: plain values, cheap to make by the hundred on a
    request's path. The writer gives it its id when it writes it."""

    created_at: datetime  # when it happened, not when the writer wrote it
    actor_id: uuid.UUID | None
    actor_role: str | None
    patient_id: uuid.UUID | None
    entity: str
    entity_id: str | None
    action: str
    fields_accessed: tuple[str, ...]
    allowed: bool
    client_address: str | None
    request_id: str | None


COLUMNS = AuditRecord._fields
TEXT_COLUMN_CHARS = 64  # entity_id, client_address, request_id


class Actor(NamedTuple):
    """Who acts, and from where, as the trail's columns hold them: worked out once for
    the many records an operation makes (`actor`)."""

    user: models.User | None
    actor_id: uuid.UUID | None
    actor_role: str | None
    client_address: str | None
    request_id: str | None


def actor(user: models.User | None) -> Actor:
    """`user`, acting in the request at hand (`bind_request`)."""
    request = _request.get() or _NO_REQUEST
    return Actor(
        user,
        user.id if user else None,
        user.role.value if user else None,
        _cut(request.client_address),  # cut too: it may come from a proxy header
        _cut(request.request_id),
    )


def records(
    actor_user: models.User | None,
    entity: models.AuditEntity,
    action: models.AuditAction,
    allowed: bool,
    rows: Iterable[tuple[Any, uuid.UUID | None]],
    fields: Iterable[str] = (),
) -> list[AuditRecord]:
    """One record per (entity id, patient id) in `rows`, at this moment, by `actor_user`."""
    who, entity_name, action_name = actor(actor_user), entity.value, action.value
    field_names = tuple(fields)
    return [
        record_by(who, entity_name, action_name, allowed, entity_id, patient_id, field_names)
        for entity_id, patient_id in rows
    ]


def record_by(
    who: Actor,
    entity: str,
    action: str,
    allowed: bool,
    entity_id: Any,
    patient_id: uuid.UUID | None,
    fields: tuple[str, ...],
    at: datetime | None = None,
) -> AuditRecord:
    """One record, at `at` (this moment by default), by `who`: the entity and action by
    their values (the read path makes a hundred of these per list; `records` is the
    general one)."""
    return AuditRecord(
        at or datetime.now(UTC),
        who.actor_id,
        who.actor_role,
        patient_id,
        entity,
        # Cut to the column's size: it may quote what a client sent (an id that is not
        # one), and one row the database refuses must not cost a batch.
        _cut(str(entity_id)) if entity_id is not None else None,
        action,
        fields,
        allowed,
        who.client_address,
        who.request_id,
    )


def record(
    actor: models.User | None,
    entity: models.AuditEntity,
    action: models.AuditAction,
    allowed: bool,
    entity_id: Any = None,
    patient_id: uuid.UUID | None = None,
    fields: Iterable[str] = (),
) -> AuditRecord:
    """One record (see `records`)."""
    return records(actor, entity, action, allowed, [(entity_id, patient_id)], fields)[0]


def _cut(text: str | None) -> str | None:
    return text[:TEXT_COLUMN_CHARS] if text is not None else None


class AuditWriter:
    """Writes buffered audit rows in batches: every `interval` seconds, or sooner when
    `batch_size` rows wait. One insert then carries the reads of many operations and
    events, instead of one insert on each one's way to the client.

    On PostgreSQL a batch is one COPY (a single statement, whatever its size); on SQLite
    one multi-row insert. If the database cannot be reached, the rows stay pending and
    the next round tries again (up to `max_pending` rows; beyond that the oldest are
    dropped, and an error is logged). When the database refuses a batch, its rows are
    written one by one and only the refused ones are dropped (with an error): a refused
    row would be refused forever and hold up every row behind it."""

    def __init__(
        self, interval: float = 0.25, batch_size: int = 5000, max_pending: int = 100_000
    ) -> None:
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._pending: list[AuditRecord] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Let the current round finish (never cut a write short), then write the rest."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.write_pending()

    def add(self, rows: list[AuditRecord]) -> None:
        self._pending += rows
        if len(self._pending) > self.max_pending:
            dropped = len(self._pending) - self.max_pending
            del self._pending[:dropped]
            logger.error(
                "audit trail: %d rows dropped (the database was unreachable too long)", dropped
            )
        if len(self._pending) >= self.batch_size:
            self._wake.set()

    async def write_pending(self) -> None:
        async with self._lock:  # one insert at a time, in the order the rows came
            while self._pending:
                rows = self._pending[: self.batch_size]
                del self._pending[: len(rows)]
                try:
                    await self._write(rows)
                except BaseException:  # not written (database unreachable): first in line
                    self._pending[:0] = rows
                    raise

    @staticmethod
    async def _write(rows: list[AuditRecord]) -> None:
        """One insert; if the database refuses it, row by row, so that only the rows it
        refuses are lost."""
        try:
            await insert(rows)
            return
        except REJECTED:
            if len(rows) == 1:
                logger.error("audit trail: a row was rejected by the database")
                return
        for row in rows:
            await AuditWriter._write([row])

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.write_pending()
            except Exception:  # the database is down or slow: keep them, try again
                logger.warning("audit trail: %d rows not written yet", len(self._pending))


# What the database says of rows it will never take (as opposed to being unreachable).
REJECTED = (
    IntegrityError,
    ValidationError,
    ValueError,  # Tortoise refusing a value before it reaches the database
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)


async def insert(rows: list[AuditRecord]) -> None:
    """Write `rows`, each with a new id (`new_ids`)."""
    ids = new_ids(len(rows))
    client = connections.get("default")
    if isinstance(client, AsyncpgDBClient):
        records = [_copy_record(i, row) for i, row in zip(ids, rows, strict=True)]
        async with client.acquire_connection() as connection:
            await connection.copy_records_to_table(
                models.AuditEvent._meta.db_table, records=records, columns=("id", *COLUMNS)
            )
        return
    await models.AuditEvent.bulk_create(
        [
            models.AuditEvent(id=uuid.UUID(i), **model_values(row))
            for i, row in zip(ids, rows, strict=True)
        ]
    )


def _copy_record(row_id: str, row: AuditRecord) -> tuple[Any, ...]:
    """A row for COPY, in the order of ("id", *COLUMNS)."""
    return (
        row_id,
        row.created_at,
        row.actor_id,
        row.actor_role,
        row.patient_id,
        row.entity,
        row.entity_id,
        row.action,
        fields_json(row.fields_accessed),
        row.allowed,
        row.client_address,
        row.request_id,
    )


@functools.lru_cache(maxsize=1024)
def fields_json(names: tuple[str, ...]) -> str:
    """The `fields_accessed` column of a COPY row. The rows of one read share their field
    names: each list is encoded once."""
    return json.dumps(names)


def new_ids(count: int) -> list[str]:
    """`count` time-ordered (version 7, RFC 9562) UUIDs as hex text: this millisecond,
    then 74 random bits from one system call. Cheaper by the thousand than making them
    one by one, and asyncpg takes the text for a uuid column. Time-ordered, each batch
    goes to the end of the trail's primary key instead of random places in it: half
    PostgreSQL's CPU for the trail's rows (measured: docs/benchmarks.md). The time they
    tell is the row's `created_at`, to the batch."""
    head = f"{time.time_ns() // 1_000_000:012x}7"  # 48 bits of milliseconds, version 7
    entropy = os.urandom(10 * count).hex()  # 20 hex digits an id, 19 of them used
    return [
        # 12 random bits, the variant (binary 10) and 2 random bits, then 60 random bits
        head + entropy[at : at + 3] + _VARIANT[entropy[at + 3]] + entropy[at + 4 : at + 19]
        for at in range(0, 20 * count, 20)
    ]


# A random hex digit's two low bits under the RFC 9562 variant's two high bits (10).
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def model_values(row: AuditRecord) -> dict[str, Any]:
    """The record as keyword arguments of `models.AuditEvent`."""
    values = {column: getattr(row, column) for column in COLUMNS}
    return {**values, "fields_accessed": list(row.fields_accessed)}


# The app's writer, set by its lifespan. Without one (the CLI), rows are written at once.
_writer: AuditWriter | None = None


def install(writer: AuditWriter | None) -> None:
    global _writer
    _writer = writer


async def flush(buffer: list[AuditRecord]) -> None:
    """Hand the buffered rows to the writer (or write them now, outside a server)."""
    if not buffer:
        return
    rows = list(buffer)
    buffer.clear()
    if _writer is None:
        await insert(rows)
    else:
        _writer.add(rows)


async def written() -> None:
    """Before reading the trail: write what this instance still holds."""
    if _writer is not None:
        await _writer.write_pending()


async def record_write(
    actor: models.User | None,
    entity: models.AuditEntity,
    action: models.AuditAction,
    entity_id: Any,
    patient_id: uuid.UUID | None,
    fields: Iterable[str] = (),
) -> None:
    """One write, now: call it inside the change's transaction. `actor` None: the
    service itself (a call that rang out)."""
    row = record(actor, entity, action, True, entity_id, patient_id, fields)
    await models.AuditEvent.create(**model_values(row))
