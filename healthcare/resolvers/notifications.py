"""Notifications, as their recipient reads and marks them; `resolvers.changes` writes
them.

A notification follows the rules of what it links to: one about an appointment, a
consultation or a conversation the viewer may no longer see (a doctor since made an
administrator, say) is no longer theirs to see either, like the row itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from healthcare import models
from healthcare.failures import NotFoundError
from healthcare.resolvers.appointments import visible_appointments
from healthcare.resolvers.chat import visible_conversations
from healthcare.resolvers.consultations import visible_consultations
from healthcare.security.auth import utcnow
from healthcare.validators import parse_id

MAX_MARKED_AT_ONCE = 100


def visible_notifications(viewer: models.User) -> QuerySet[models.Notification]:
    """Every notification `viewer` may see: those addressed to them, about nothing they
    may not see. The one rule for the list, the lookup, the counts, the marks and the
    subscription."""
    appointments = Subquery(visible_appointments(viewer).values("id"))
    consultations = Subquery(visible_consultations(viewer).values("id"))
    conversations = Subquery(visible_conversations(viewer).values("id"))
    return models.Notification.filter(
        Q(appointment_id__isnull=True) | Q(appointment_id__in=appointments),
        Q(consultation_id__isnull=True) | Q(consultation_id__in=consultations),
        Q(conversation_id__isnull=True) | Q(conversation_id__in=conversations),
        recipient_id=viewer.id,
    )


async def last_seq(user: models.User) -> int:
    """The seq of the user's newest notification; 0 before any."""
    last = await visible_notifications(user).order_by("-seq").first()
    return last.seq if last else 0


async def after_seq(user: models.User, seq: int, limit: int = 100) -> list[models.Notification]:
    """The user's notifications numbered above `seq`, oldest first."""
    rows = visible_notifications(user).filter(seq__gt=seq)
    return await rows.order_by("seq").limit(limit)


async def open_notification(user: models.User, notification_id: str) -> models.Notification:
    """A notification by id, marked read: opening it is reading it."""
    parsed = parse_id(notification_id)
    found = await visible_notifications(user).filter(id=parsed).first() if parsed else None
    if found is None:
        raise NotFoundError("notification", notification_id)
    if found.read_at is None:
        found.read_at = utcnow()
        await found.save(update_fields=["read_at"])
    return found


async def mark_read(user: models.User, ids: Sequence[str]) -> int:
    """Mark the given notifications of `user` read; others' ids are simply not matched."""
    parsed = [i for i in (parse_id(raw) for raw in ids[:MAX_MARKED_AT_ONCE]) if i is not None]
    unread = visible_notifications(user).filter(id__in=parsed, read_at__isnull=True)
    return int(await unread.update(read_at=utcnow()))


async def mark_all_read(user: models.User) -> int:
    unread = visible_notifications(user).filter(read_at__isnull=True)
    return int(await unread.update(read_at=utcnow()))


async def unread_count(user: models.User) -> int:
    return await visible_notifications(user).filter(read_at__isnull=True).count()
