"""Writing emails: a row in `email_messages`, in the transaction of the change that causes
it, so that the email exists exactly when the change does. After commit the local worker
is woken; other instances find the row on their next poll. Health data never goes in an
email (the domain services that call this write only names, times and links)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
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


async def enqueue(
    *,
    kind: models.EmailKind,
    to_address: str,
    subject: str,
    body: str,
    recipient_id: uuid.UUID | None,
    calendar: str | None = None,
    notification_id: uuid.UUID | None = None,
    not_before: datetime | None = None,
) -> models.EmailMessage:
    """Write one email to the outbox, inside `atomic()`: sent after commit, or never."""
    require_transaction()
    room = mailroom()
    email_id = uuid.uuid4()
    row = await models.EmailMessage.create(
        id=email_id,
        message_id=message_id(email_id, room.settings),
        kind=kind,
        recipient_id=recipient_id,
        to_address=to_address,
        subject=subject[:200],
        body=body,
        calendar=calendar,
        notification_id=notification_id,
        not_before=not_before or utcnow(),
    )
    if not_before is None:
        after_commit(room.wake)
    return row
