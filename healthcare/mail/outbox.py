"""Writing emails: a row in `email_messages`, in the transaction of the change that causes
it, so that the email exists exactly when the change does. After commit the local worker
is woken; other instances find the row on their next poll. Health data never goes in an
email (the domain services that call this write only names, times and links)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from healthcare import models
from healthcare.config import Settings
from healthcare.realtime.outbox import after_commit, require_transaction
from healthcare.security.auth import utcnow


@dataclass(frozen=True)
class Mailroom:
    """What the running app gives the email writers: its settings and the worker's bell."""

    settings: Settings
    wake: Callable[[], None]


_mailroom: Mailroom | None = None


def install(mailroom: Mailroom | None) -> None:
    global _mailroom
    _mailroom = mailroom


def mailroom() -> Mailroom:
    if _mailroom is None:
        raise RuntimeError("email is sent by the running app: install() a Mailroom first")
    return _mailroom


def settings() -> Settings:
    return mailroom().settings


def message_id(email_id: uuid.UUID, settings: Settings) -> str:
    return f"<{email_id}@{settings.email_domain}>"


@dataclass(frozen=True)
class Email:
    """One email to write to the outbox."""

    kind: models.EmailKind
    to_address: str
    subject: str
    body: str
    recipient_id: uuid.UUID | None
    calendar: str | None = None
    notification_id: uuid.UUID | None = None
    not_before: datetime | None = None  # None: now, and the local worker is woken


async def enqueue(emails: Sequence[Email]) -> list[models.EmailMessage]:
    """Write `emails` to the outbox in one statement, inside `atomic()`: sent after commit,
    or never. Returns their rows, to read (`bulk_create` does not mark them saved: change
    one through a query, not `save()`)."""
    require_transaction()
    room = mailroom()
    now = utcnow()
    rows = []
    for email in emails:
        email_id = uuid.uuid4()
        rows.append(
            models.EmailMessage(
                id=email_id,
                message_id=message_id(email_id, room.settings),
                kind=email.kind,
                recipient_id=email.recipient_id,
                to_address=email.to_address,
                subject=email.subject[:200],
                body=email.body,
                calendar=email.calendar,
                notification_id=email.notification_id,
                not_before=email.not_before or now,
            )
        )
    await models.EmailMessage.bulk_create(rows)
    if any(email.not_before is None for email in emails):
        after_commit(room.wake)
    return rows
