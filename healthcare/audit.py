"""The audit trail of health data: every read, every write, every refused attempt.

- Writes are recorded by the change seam (`changes.announce`), inside the transaction of
  the change, through `record_write`.
- Reads are buffered per operation (`read`) and written in one insert when the operation
  ends (schema.OperationScope), or before each subscription event is sent (`flush`).
- Refusals (`denied`) are buffered the same way.
Who and from where come from the request (`bind_request`), never from the client's
word. The rows hold ids and field names, never the health data itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from healthcare import models

if TYPE_CHECKING:
    from healthcare.context import Info


@dataclass(frozen=True)
class RequestMeta:
    client_address: str | None
    request_id: str | None


_request: ContextVar[RequestMeta | None] = ContextVar("healthcare_audit_request", default=None)
_NO_REQUEST = RequestMeta(None, None)  # the CLI, seeding demo data


def bind_request(client_address: str | None, request_id: str | None) -> None:
    """Called when a request's context is built; tasks it starts inherit it."""
    _request.set(RequestMeta(client_address, request_id))


def _event(
    actor: models.User | None,
    entity: models.AuditEntity,
    action: models.AuditAction,
    allowed: bool,
    entity_id: Any = None,
    patient_id: uuid.UUID | None = None,
    fields: Iterable[str] = (),
) -> models.AuditEvent:
    request = _request.get() or _NO_REQUEST
    return models.AuditEvent(
        actor_id=actor.id if actor else None,
        actor_role=actor.role.value if actor else None,
        patient_id=patient_id,
        entity=entity,
        entity_id=str(entity_id) if entity_id is not None else None,
        action=action,
        fields_accessed=list(fields),
        allowed=allowed,
        client_address=request.client_address,
        request_id=request.request_id,
    )


def selected_fields(info: Info) -> list[str]:
    """The fields the operation asked of the current object (one level, by name)."""
    fields: list[str] = []
    for selected in info.selected_fields:
        fields += [child.name for child in getattr(selected, "selections", []) if child.name]
    return sorted(set(fields))


def read(
    info: Info,
    entity: models.AuditEntity,
    rows: Iterable[tuple[Any, uuid.UUID | None]],
    fields: Iterable[str] | None = None,
) -> None:
    """Buffer one READ per (entity id, patient id) the viewer is about to receive."""
    names = list(fields) if fields is not None else selected_fields(info)
    viewer = info.context.viewer.user
    info.context.audit_buffer += [
        _event(viewer, entity, models.AuditAction.READ, True, entity_id, patient_id, names)
        for entity_id, patient_id in rows
    ]


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


async def flush(buffer: list[models.AuditEvent]) -> None:
    if buffer:
        rows = list(buffer)
        buffer.clear()
        await models.AuditEvent.bulk_create(rows)


async def record_write(
    actor: models.User,
    entity: models.AuditEntity,
    action: models.AuditAction,
    entity_id: Any,
    patient_id: uuid.UUID | None,
    fields: Iterable[str] = (),
) -> None:
    """One write, now: call it inside the change's transaction."""
    await _event(actor, entity, action, True, entity_id, patient_id, fields).save()
