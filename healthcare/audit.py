"""The audit trail of health data: every read, every write, every refused attempt.

- Writes are recorded by the change seam (`changes.announce`), inside the transaction of
  the change, through `record_write`.
- Reads are recorded by the types that hold health data (`audited`, on the type), for
  every object of them an operation returns, and buffered per operation; when it ends
  (schema.OperationScope), or a subscription event is sent, `flush` hands them to the
  instance's `AuditWriter`, which writes everything pending in one insert a few times a
  second, off the request path. Reading the trail (`written()`) first writes what this
  instance still holds; shutdown writes the rest.
- Refusals (`denied`) are buffered the same way.
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
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import asyncpg
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionNode,
    value_from_ast_untyped,
)
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension
from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.exceptions import IntegrityError, ValidationError

from healthcare import models

if TYPE_CHECKING:
    from healthcare.context import Info

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


def _events(
    actor: models.User | None,
    entity: models.AuditEntity,
    action: models.AuditAction,
    allowed: bool,
    rows: Iterable[tuple[Any, uuid.UUID | None]],
    fields: Iterable[str] = (),
) -> list[AuditRecord]:
    """One record per (entity id, patient id) in `rows`, at this moment, by `actor`."""
    request = _request.get() or _NO_REQUEST
    now = datetime.now(UTC)
    actor_id, actor_role = (actor.id, actor.role.value) if actor else (None, None)
    entity_name, action_name, field_names = entity.value, action.value, tuple(fields)
    client_address, request_id = _cut(request.client_address), _cut(request.request_id)
    return [
        AuditRecord(
            now,
            actor_id,
            actor_role,
            patient_id,
            entity_name,
            # Cut to the column's size: it may quote what a client sent (an id that is
            # not one), and one row the database refuses must not cost a batch.
            _cut(str(entity_id)) if entity_id is not None else None,
            action_name,
            field_names,
            allowed,
            client_address,  # cut too: it may come from a proxy header
            request_id,
        )
        for entity_id, patient_id in rows
    ]


def _event(
    actor: models.User | None,
    entity: models.AuditEntity,
    action: models.AuditAction,
    allowed: bool,
    entity_id: Any = None,
    patient_id: uuid.UUID | None = None,
    fields: Iterable[str] = (),
) -> AuditRecord:
    return _events(actor, entity, action, allowed, [(entity_id, patient_id)], fields)[0]


def _cut(text: str | None) -> str | None:
    return text[:TEXT_COLUMN_CHARS] if text is not None else None


# Wrappers between a list field and its rows: the rows' fields are the ones read.
# (`messages`: a conversation's page of history, ChatMessagePage.)
CONNECTION_WRAPPERS = {"edges", "node", "nodes", "messages"}
CONNECTION_METADATA = {"pageInfo", "totalCount", "hasMore", "nextBeforeSeq", "__typename"}


def selected_fields(info: GraphQLResolveInfo) -> tuple[str, ...]:
    """The fields the operation asked of the objects a field returns, by name: one level
    below the field, or below `edges { node }` / `nodes` for a connection. Worked out once
    per field of the operation, not once per row of a list."""
    key = tuple(map(id, info.field_nodes))
    cache = info.context.read_fields
    cached = cache.get(key)
    if cached is None:
        cached = cache[key] = _selected_fields(info)
    return cached


def _selected_fields(info: GraphQLResolveInfo) -> tuple[str, ...]:
    # graphql-core 3.3 gives VariableValues, except to a subscription's events: a dict.
    given: Any = info.variable_values
    variables: dict[str, Any] = getattr(given, "coerced", given)
    fields: set[str] = set()
    pending = [
        selection
        for node in info.field_nodes
        if node.selection_set is not None
        for selection in node.selection_set.selections
    ]
    while pending:
        node = pending.pop()
        if not _included(node, variables):
            continue  # not executed, so not read
        if isinstance(node, FragmentSpreadNode):
            pending += info.fragments[node.name.value].selection_set.selections
        elif isinstance(node, InlineFragmentNode):
            pending += node.selection_set.selections
        elif isinstance(node, FieldNode):
            if node.name.value in CONNECTION_WRAPPERS and node.selection_set is not None:
                pending += node.selection_set.selections
            elif node.name.value not in CONNECTION_METADATA:
                fields.add(node.name.value)
    return tuple(sorted(fields))


def _included(node: SelectionNode, variables: dict[str, Any]) -> bool:
    """Whether `@skip` and `@include` (their variables given) let a selection run."""
    for directive in node.directives or ():
        if directive.name.value in SKIP_WHEN:
            condition = next(a.value for a in directive.arguments or () if a.name.value == "if")
            if (
                bool(value_from_ast_untyped(condition, variables))
                == SKIP_WHEN[directive.name.value]
            ):
                return False
    return True


# The value of `if` that leaves a selection out, by directive.
SKIP_WHEN = {"skip": True, "include": False}


C = TypeVar("C", bound=type)
# Every type declared `audited`, with its entity (tests walk the schema to each of them).
AUDITED_TYPES: dict[type, models.AuditEntity] = {}


def audited(
    entity: models.AuditEntity,
    patient: Callable[[Any], uuid.UUID | None],
    *,
    when: Callable[[Any, models.User | None], bool] = lambda row, viewer: True,
) -> Callable[[C], C]:
    """Declare a GraphQL type as health data: every object of it an operation returns,
    by any path (a list, a lookup, a nested field, a mutation's payload, a pushed event),
    is recorded as read by the viewer, with the fields asked of it, once per operation.
    `patient` names the patient concerned; `when` narrows which objects, for a viewer,
    are health data (a user's profile is, when it is a patient's, read by someone else).

        @strawberry.type
        @audited(models.AuditEntity.APPOINTMENT, patient=lambda a: a.patient_id)
        class Appointment: ...

    Apply it under `@strawberry.type`. It is the type's `is_type_of`, which graphql-core
    calls for every object of the type it completes (pinned by tests/test_execution.py).
    """

    def decorate(cls: C) -> C:
        def is_type_of(obj: Any, info: GraphQLResolveInfo) -> bool:
            if not isinstance(obj, cls):
                return False
            row: Any = obj
            if when(row, info.context.viewer.user):
                _record_read(info, entity, row.id, patient(row))
            return True

        setattr(cls, "is_type_of", staticmethod(is_type_of))  # noqa: B010 (mypy: a new attribute)
        AUDITED_TYPES[cls] = entity
        return cls

    return decorate


def _record_read(
    info: GraphQLResolveInfo, entity: models.AuditEntity, entity_id: Any, patient_id: Any
) -> None:
    """Buffer one READ, unless this operation (or pushed event) recorded it already."""
    context = info.context
    fields = selected_fields(info)
    key = (entity, str(entity_id), fields)
    if key in context.audited:
        return
    context.audited.add(key)
    rows = [(entity_id, patient_id)]
    read = models.AuditAction.READ
    context.audit_buffer += _events(context.viewer.user, entity, read, True, rows, fields)


def denied(
    info: Info,
    entity: models.AuditEntity = models.AuditEntity.OPERATION,
    entity_id: Any = None,
    patient_id: uuid.UUID | None = None,
) -> None:
    """Buffer a refused attempt: the field asked for, and the row when it is known."""
    info.context.audit_buffer.append(
        _event(
            info.context.viewer.user,
            entity,
            models.AuditAction.DENIED,
            False,
            entity_id,
            patient_id,
            [info.field_name],
        )
    )


class DeniedWhenNull(FieldExtension):
    """On a lookup by `id` that answers null for a row the viewer may not see (or that
    does not exist: the same answer): records the refusal.

        @strawberry.field(extensions=[*allow(IsAuthenticated()), DeniedWhenNull(CONVERSATION)])
        async def conversation(self, info: Info, id: strawberry.ID) -> Conversation | None:
    """

    def __init__(self, entity: models.AuditEntity) -> None:
        self.entity = entity

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        found = await next_(source, info, **kwargs)
        if found is None:
            denied(info, self.entity, kwargs.get("id"))
        return found


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
        self._task = asyncio.create_task(self._run())

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
    """Write `rows`, each with a new random id."""
    client = connections.get("default")
    if isinstance(client, AsyncpgDBClient):
        records = [_copy_record(i, row) for i, row in zip(random_ids(len(rows)), rows, strict=True)]
        async with client.acquire_connection() as connection:
            await connection.copy_records_to_table(
                models.AuditEvent._meta.db_table, records=records, columns=("id", *COLUMNS)
            )
        return
    await models.AuditEvent.bulk_create(
        [models.AuditEvent(id=uuid.uuid4(), **model_values(row)) for row in rows]
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
        _json_list(row.fields_accessed),
        row.allowed,
        row.client_address,
        row.request_id,
    )


@functools.lru_cache(maxsize=1024)
def _json_list(names: tuple[str, ...]) -> str:
    """The rows of one read share their field names: encode each list once."""
    return json.dumps(names)


def random_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as hex text, from one system call: cheaper by the
    thousand than `uuid.uuid4()`, and asyncpg takes the text for a uuid column."""
    entropy = bytearray(os.urandom(16 * count))
    for start in range(0, len(entropy), 16):
        entropy[start + 6] = entropy[start + 6] & 0x0F | 0x40  # version 4
        entropy[start + 8] = entropy[start + 8] & 0x3F | 0x80  # RFC 4122 variant
    text = entropy.hex()
    return [text[32 * i : 32 * i + 32] for i in range(count)]


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
    actor: models.User,
    entity: models.AuditEntity,
    action: models.AuditAction,
    entity_id: Any,
    patient_id: uuid.UUID | None,
    fields: Iterable[str] = (),
) -> None:
    """One write, now: call it inside the change's transaction."""
    record = _event(actor, entity, action, True, entity_id, patient_id, fields)
    await models.AuditEvent.create(**model_values(record))
