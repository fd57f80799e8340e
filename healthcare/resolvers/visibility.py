"""Who may see which rows: one rule per domain, and the one way the schema's root fields
and subscriptions reach rows.

Each rule is the domain's own `visible_*` function, written beside the domain's other
rules; this table names them all. Root lists start from `visible(viewer, Model)`, lookups
by id are `find_visible(viewer, Model, id)`, and subscriptions re-apply `visible` to
every row they push, so that no path reaches a row its rule does not allow (the schema
itself never queries a model: tests/test_architecture.py holds it to that). Rows reached
through a row already visible (an appointment's doctor) come from the loaders.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from tortoise.models import Model
from tortoise.queryset import QuerySet

from healthcare import db, models
from healthcare.resolvers import (
    appointments,
    audit_log,
    availability,
    calls,
    chat,
    consultations,
    emails,
    notifications,
    users,
)
from healthcare.validators import parse_id

M = TypeVar("M", bound=Model)
Rule = Callable[[models.User], QuerySet[Any]]

RULES: dict[type[Model], Rule] = {
    models.Appointment: appointments.visible_appointments,
    models.AuditEvent: audit_log.visible_audit_events,
    models.Consultation: consultations.visible_consultations,
    models.Conversation: chat.visible_conversations,
    models.EmailMessage: emails.visible_email_deliveries,
    models.Notification: notifications.visible_notifications,
    models.TimeOff: availability.visible_time_off,
    models.User: users.visible_users,
    models.VideoCall: calls.visible_video_calls,
}


def visible(viewer: models.User, model: type[M]) -> QuerySet[M]:
    """Every row of `model` that `viewer` may see."""
    return cast(QuerySet[M], RULES[model](viewer))


async def find_visible(viewer: models.User, model: type[M], row_id: str | uuid.UUID) -> M | None:
    """The row of `model` with that id, if `viewer` may see it: None for one they may not
    see, the same answer as for one that does not exist."""
    parsed = parse_id(row_id)
    if parsed is None:
        return None
    found = await db.fetch_models(visible(viewer, model).filter(id=parsed).limit(1))
    return found[0] if found else None
