"""Who may see which rows: one rule per domain, and the one way the schema's root fields
and subscriptions reach rows.

Each rule is the domain's own `visible_*` function, written beside the domain's other
rules; this table names them all. A rule reads the viewer's id and role only, and uses
the id as a value in the query, never to decide which query: lookups by id rely on it
(`lookup_template`; tests/test_visibility.py checks every rule). Root lists start from
`visible(viewer, Model)`, lookups by id are `find_visible(viewer, Model, id)`, and
subscriptions re-apply `visible` to every row they push, so that no path reaches a row
its rule does not allow (the schema itself never queries a model:
tests/test_architecture.py holds it to that). Rows reached through a row already
visible (an appointment's doctor) come from the loaders.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
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
    see, the same answer as for one that does not exist. Its statement is written once
    per (model, role, database), where the rule allows (`lookup_template`)."""
    parsed = parse_id(row_id)
    if parsed is None:
        return None
    template = lookup_template(model, viewer.role, db.dialect())
    if template is None:
        found = await db.fetch_models(_lookup(viewer, model, parsed))
    else:
        found = await db.fetch_by_template(template, (viewer.id, parsed))
    return found[0] if found else None


def lookup_statement(
    viewer: models.User, model: type[Model], row_id: str | uuid.UUID
) -> db.Statement | None:
    """The statement `find_visible` runs for that id (None for an id that is not one:
    nothing is), for a caller that reads its rows otherwise (graphql.execution.compiled
    selects around it)."""
    parsed = parse_id(row_id)
    if parsed is None:
        return None
    template = lookup_template(model, viewer.role, db.dialect())
    if template is None:
        return db.statement(_lookup(viewer, model, parsed))
    return template.statement((viewer.id, parsed))


def _lookup(viewer: models.User, model: type[M], row_id: uuid.UUID) -> QuerySet[M]:
    return visible(viewer, model).filter(id=row_id).limit(1)


@functools.lru_cache(maxsize=256)  # models x roles x dialects
def lookup_template(
    model: type[Model], role: models.Role, dialect: str
) -> db.StatementTemplate | None:
    """The statement of `find_visible` for any viewer of `role` and any id, on a database
    of `dialect` (`db.statement_template`). The rules read a viewer's id and role only:
    they are asked here of a viewer that has nothing else, so a rule that reads more
    raises, and its lookups are built each time instead, as before."""

    def build(ids: Sequence[uuid.UUID]) -> QuerySet[Model]:
        viewer_id, row_id = ids
        return _lookup(models.User.with_id_and_role(viewer_id, role), model, row_id)

    return db.statement_template(model, build, arity=2)
