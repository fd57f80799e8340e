"""What the clinic emails people, who wants which, and the one-time links it sends.

Every email is written through `send` inside the transaction of the change that causes
it (healthcare.mail.outbox). Emails name people, times and links, never clinical content
(no reason for a visit, nothing of a consultation): the app behind the link shows those
to whoever may see them. Each one ends with a link to choose which emails one gets.
Account emails (password, address) are always sent; the four topics below follow the
recipient's preferences.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import TypedDict, Unpack
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from healthcare import db, models
from healthcare.config import Settings
from healthcare.failures import InvalidEmailTokenError
from healthcare.mail import outbox
from healthcare.realtime.outbox import atomic
from healthcare.security.auth import (
    hash_secret_token,
    new_secret_token,
    preferences_link_token,
    user_id_from_preferences_link,
    utcnow,
)

Role = models.Role
Purpose = models.EmailTokenPurpose


@dataclass(frozen=True)
class Preferences:
    """Email on (True) or off, per topic."""

    appointment_changes: bool  # booked, moved, cancelled: with a calendar invite
    reminders: bool  # before each appointment
    chat_messages: bool  # a message still unread some minutes after it arrived
    consultation_updates: bool  # visit notes written, changed or signed


# Patients hear about everything that concerns them; doctors get invites for their
# calendar and unread messages, not reminders of their own agenda or copies of their own
# notes; administrators only unread messages.
DEFAULT_PREFERENCES = {
    Role.PATIENT: Preferences(True, True, True, True),
    Role.DOCTOR: Preferences(True, False, True, False),
    Role.ADMIN: Preferences(False, False, True, False),
}
TOPICS = tuple(field.name for field in fields(Preferences))


async def preferences_of(user: models.User) -> Preferences:
    return (await preferences_of_each([user]))[user.id]


async def preferences_of_each(users: Sequence[models.User]) -> dict[uuid.UUID, Preferences]:
    """Each user's preferences by id, in one statement."""
    rows = await db.fetch_by_keys(models.EmailPreferences, "user_id", [u.id for u in users])
    chosen = {row.user_id: row for row in rows}
    return {
        user.id: (
            Preferences(**{topic: getattr(row, topic) for topic in TOPICS})
            if (row := chosen.get(user.id)) is not None
            else DEFAULT_PREFERENCES[user.role]
        )
        for user in users
    }


async def update_preferences(user: models.User, changes: dict[str, bool]) -> Preferences:
    """Set the topics in `changes`; the others keep their value (or default)."""
    current = asdict(await preferences_of(user))
    current.update({topic: value for topic, value in changes.items() if topic in TOPICS})
    # Not update_or_create: its UPDATE binds this table's key (a one-to-one UUID) raw,
    # which SQLite refuses. An update by filter converts it; a first save creates the row,
    # and a concurrent first save that won makes this one an update after all.
    rows = models.EmailPreferences.filter(user_id=user.id)
    if not await rows.update(**current, updated_at=utcnow()):
        try:
            async with atomic():  # a savepoint, should a caller's transaction be open
                await models.EmailPreferences.create(user_id=user.id, **current)
        except IntegrityError:
            await rows.update(**current, updated_at=utcnow())
    return Preferences(**current)


async def wants(user: models.User, topic: str) -> bool:
    return user.id in await wanting([user], topic)


async def wanting(users: Sequence[models.User], topic: str) -> set[uuid.UUID]:
    """The ids of those of `users` who get emails on `topic` (active, and it is on)."""
    preferences = await preferences_of_each(users)
    return {user.id for user in users if user.is_active and getattr(preferences[user.id], topic)}


# ---- composing ----------------------------------------------------------------------------


def app_link(path: str) -> str:
    """A link into the web app. Routes are after `#`, so tokens in them never reach a
    server's access log or another site's Referer."""
    return f"{outbox.settings().public_app_url}/#/{path}"


def preferences_link(user_id: uuid.UUID) -> str:
    return app_link(f"email-preferences/{preferences_link_token(user_id, outbox.settings())}")


def when(starts_at: datetime, time_zone: str) -> str:
    """`Tuesday 8 December 2026, 09:00 (Europe/Paris)`: in the doctor's zone, named."""
    local = starts_at.astimezone(ZoneInfo(time_zone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({time_zone})"


class LetterOptions(TypedDict, total=False):
    to_address: str  # instead of the user's own address
    calendar: str  # an iCalendar invite to attach
    notification_id: uuid.UUID  # the notification it repeats
    not_before: datetime  # sent from then on, not at once


def letter(
    user: models.User,
    kind: models.EmailKind,
    subject: str,
    paragraphs: list[str],
    **options: Unpack[LetterOptions],
) -> outbox.Email:
    """One email to `user`: a greeting, `paragraphs`, and the footer with the link to
    their email preferences."""
    greeting = f"Hello {user.first_name}," if user.first_name else "Hello,"
    body = "\n\n".join(
        [
            greeting,
            *paragraphs,
            "-- \nYou get this email because you have an account with the clinic. "
            f"Choose which emails you get: {preferences_link(user.id)}",
        ]
    )
    return outbox.Email(
        kind=kind,
        to_address=options.get("to_address") or user.email,
        subject=subject,
        body=body + "\n",
        recipient_id=user.id,
        calendar=options.get("calendar"),
        notification_id=options.get("notification_id"),
        not_before=options.get("not_before"),
    )


async def send(
    user: models.User,
    kind: models.EmailKind,
    subject: str,
    paragraphs: list[str],
    **options: Unpack[LetterOptions],
) -> None:
    """One email to `user` (see `letter`), inside `atomic()`."""
    await outbox.enqueue([letter(user, kind, subject, paragraphs, **options)])


# ---- one-time links -------------------------------------------------------------------------


def link_lifetime(purpose: models.EmailTokenPurpose) -> timedelta:
    settings = outbox.settings()
    if purpose == Purpose.PASSWORD_RESET:
        return timedelta(minutes=settings.password_reset_ttl_minutes)
    return timedelta(hours=settings.email_verification_ttl_hours)


async def new_link_token(
    user: models.User, purpose: models.EmailTokenPurpose, email: str | None = None
) -> str:
    """A one-time token for a link to `email` (by default the user's address); only its
    hash is stored."""
    token, token_hash = new_secret_token()
    await models.EmailToken.create(
        user_id=user.id,
        purpose=purpose,
        token_hash=token_hash,
        email=email or user.email,
        expires_at=utcnow() + link_lifetime(purpose),
    )
    return token


async def live_link(
    token: str, purposes: tuple[models.EmailTokenPurpose, ...]
) -> models.EmailToken | None:
    """The unused, unexpired token row for `token` (with its user), or None."""
    if not token or len(token) > 200:
        return None
    row = (
        await models.EmailToken.filter(
            token_hash=hash_secret_token(token), used_at__isnull=True, expires_at__gt=utcnow()
        )
        .select_related("user")
        .first()
    )
    if row is None or row.purpose not in purposes or not row.user.is_active:
        return None
    return row


async def spend_link(row: models.EmailToken) -> bool:
    """Mark the link used, inside the transaction that acts on it: True for the one
    request that spends it, False for any other (a second click, a race)."""
    spent = await models.EmailToken.filter(id=row.id, used_at__isnull=True).update(used_at=utcnow())
    return bool(spent)


async def spend_other_links(user: models.User, *purposes: models.EmailTokenPurpose) -> None:
    """Links of these purposes sent earlier stop working (a reset done, an address changed)."""
    await models.EmailToken.filter(
        user_id=user.id, purpose__in=purposes, used_at__isnull=True
    ).update(used_at=utcnow())


# ---- notifications still unread -----------------------------------------------------------


# Which notifications may become an email, under which topic, and what it says.
@dataclass(frozen=True)
class UnreadEmail:
    """The email that follows a notification still unread after a while."""

    kind: models.EmailKind
    topic: str  # the preference that turns it on or off
    subject: str
    text: str  # `{actor}`: who sent or wrote it
    path: str  # in the web app: `{conversation_id}`, `{appointment_id}`


VISIT_NOTES_EMAIL = UnreadEmail(
    models.EmailKind.CONSULTATION_UPDATE,
    "consultation_updates",
    "Your visit notes",
    "{actor} wrote or updated the notes of your visit.",
    "appointments/{appointment_id}",
)
UNREAD_EMAILS = {
    models.NotificationKind.CHAT_MESSAGE: UnreadEmail(
        models.EmailKind.CHAT_MESSAGE,
        "chat_messages",
        "Unread messages from {actor}",
        "{actor} sent you a message that you have not read yet.",
        "chat/{conversation_id}",
    ),
    models.NotificationKind.CONSULTATION_CREATED: VISIT_NOTES_EMAIL,
    models.NotificationKind.CONSULTATION_UPDATED: VISIT_NOTES_EMAIL,
    models.NotificationKind.CONSULTATION_SIGNED: VISIT_NOTES_EMAIL,
}


async def email_if_still_unread(notification: models.Notification, actor_name: str) -> None:
    """Write an email for `notification` that goes out UNREAD_EMAIL_DELAY_SECONDS later
    if the recipient has not read it (or another of the same thread) in the app by then,
    and wants that topic: one per conversation (or visit) at a time. Inside `atomic()`."""
    if notification.kind not in UNREAD_EMAILS:
        return
    unread = UNREAD_EMAILS[notification.kind]
    same_thread = {
        "conversation_id": notification.conversation_id,
        "consultation_id": notification.consultation_id,
    }
    if await models.EmailMessage.filter(
        recipient_id=notification.recipient_id,
        kind=unread.kind,
        status=models.EmailStatus.PENDING,
        **{f"notification__{key}": value for key, value in same_thread.items()},
    ).exists():
        return  # one on its way already: it covers this one too
    recipient = await models.User.get(id=notification.recipient_id)
    if not await wants(recipient, unread.topic):
        return
    link = app_link(
        unread.path.format(
            conversation_id=notification.conversation_id,
            appointment_id=notification.appointment_id,
        )
    )
    await send(
        recipient,
        unread.kind,
        unread.subject.format(actor=actor_name),
        [unread.text.format(actor=actor_name), f"Read it in the app: {link}"],
        notification_id=notification.id,
        not_before=utcnow() + timedelta(seconds=outbox.settings().unread_email_delay_seconds),
    )


async def still_needed(email: models.EmailMessage) -> bool:
    """Asked by the mail worker when an email's turn comes: an email about unread
    notifications goes only if their thread has anything unread still; others always."""
    if email.kind not in {unread.kind for unread in UNREAD_EMAILS.values()}:
        return True
    notification = await models.Notification.filter(id=email.notification_id or None).first()
    if notification is None:
        return False
    return await models.Notification.filter(
        recipient_id=notification.recipient_id,
        kind__in=[kind for kind, unread in UNREAD_EMAILS.items() if unread.kind == email.kind],
        conversation_id=notification.conversation_id,
        consultation_id=notification.consultation_id,
        read_at__isnull=True,
    ).exists()


# ---- who may read and change what -------------------------------------------------------


def visible_email_deliveries(viewer: models.User) -> QuerySet[models.EmailMessage]:
    """The outbox, for administrators (who see who was sent what kind of email and how
    it went, never a body); nothing for anyone else."""
    if viewer.is_admin:
        return models.EmailMessage.all()
    return models.EmailMessage.filter(id__in=[])


async def preferences_owner(token: str, settings: Settings) -> models.User:
    """The user whose email preferences the link at the end of an email is for."""
    user_id = user_id_from_preferences_link(token, settings)
    user = await models.User.filter(id=user_id).first() if user_id else None
    if user is None:
        raise InvalidEmailTokenError()
    return user
