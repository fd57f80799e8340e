"""Sign-up, sign-in, token refresh with rotation and reuse detection, sign-out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from healthcare import models
from healthcare.config import Settings
from healthcare.failures import InputError
from healthcare.realtime import pubsub
from healthcare.realtime.outbox import Event, atomic, queue
from healthcare.security.auth import (
    create_access_token,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    utcnow,
    verify_password,
)
from healthcare.validators import check_password, clean_name, normalize_email


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: models.User
    session_id: uuid.UUID


class EmailTaken(InputError):
    def __init__(self) -> None:
        super().__init__("email", "An account with this email already exists.")


async def create_user(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    role: models.Role,
    **extra: object,
) -> models.User:
    """Validate and insert a user. Raises InputError naming the first bad field, and
    EmailTaken after the same work (the password hashed) as a new account takes."""
    email = normalize_email(email)
    check_password(password, email)
    user = models.User(
        email=email,
        first_name=clean_name(first_name, "firstName"),
        last_name=clean_name(last_name, "lastName"),
        role=role,
        **extra,
    )
    user.password_hash = await hash_password(password)
    if await models.User.filter(email=email).exists():
        raise EmailTaken()
    try:
        await user.save()
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        raise EmailTaken() from None
    return user


async def register_patient(*, email: str, password: str, first_name: str, last_name: str) -> None:
    """Self-service sign-up: a patient account for an address that has none. An address
    that has one changes nothing, and the caller answers the same for both, in about the
    same time (the password is hashed either way): sign-up must not tell anyone who has
    an account. Raises InputError for input that is not valid, whatever the address."""
    try:
        await create_user(
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            role=models.Role.PATIENT,
        )
    except EmailTaken:
        return


async def start_session(user: models.User, settings: Settings) -> IssuedTokens:
    """A new sign-in: a session, its first refresh token and an access token."""
    expires_at = utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds)
    async with in_transaction():
        session = await models.AuthSession.create(user=user, expires_at=expires_at)
        return await _issue(session, user, settings)


async def _issue(
    session: models.AuthSession, user: models.User, settings: Settings
) -> IssuedTokens:
    refresh_token, token_hash = new_refresh_token()
    await models.RefreshToken.create(session=session, token_hash=token_hash)
    access_token, access_expires_at = create_access_token(user.id, session.id, settings)
    return IssuedTokens(
        access_token=access_token,
        access_token_expires_at=access_expires_at,
        refresh_token=refresh_token,
        refresh_token_expires_at=session.expires_at,
        user=user,
        session_id=session.id,
    )


async def login(email: str, password: str) -> models.User | None:
    """The user whose credentials these are, or None. Same cost for unknown emails."""
    try:
        email = normalize_email(email)
    except InputError:
        email = ""
    user = await models.User.filter(email=email).first() if email else None
    if not await verify_password(password, user.password_hash if user else None):
        return None
    return user


async def refresh(refresh_token: str, settings: Settings) -> IssuedTokens | None:
    """Spend a refresh token for a new pair; None if it cannot be used.

    Presenting a token that was already spent means it leaked (or two clients raced with
    one token): the whole session is revoked, the thief's and the owner's tokens alike.
    """
    token_hash = hash_refresh_token(refresh_token)
    now = utcnow()
    async with atomic():
        token = (
            await models.RefreshToken.filter(token_hash=token_hash)
            .select_related("session__user")
            .first()
        )
        if token is None:
            return None
        session = token.session
        user = session.user
        if session.revoked_at is not None or session.expires_at <= now or not user.is_active:
            return None
        spent_now = await models.RefreshToken.filter(id=token.id, used_at__isnull=True).update(
            used_at=now
        )
        if not spent_now:
            await revoke_sessions(models.AuthSession.filter(id=session.id), "refresh_token_reuse")
            return None
        return await _issue(session, user, settings)


async def revoke_sessions(sessions: QuerySet[models.AuthSession], reason: str) -> int:
    """Revoke the given live sessions; access tokens die with them, and after commit their
    open WebSockets are closed (see realtime.connection_guard)."""
    async with atomic():
        ids = await sessions.filter(revoked_at__isnull=True).values_list("id", flat=True)
        if not ids:
            return 0
        await models.AuthSession.filter(id__in=ids).update(
            revoked_at=utcnow(), revoked_reason=reason
        )
        queue(Event(pubsub.SESSIONS_CHANNEL, {"session_ids": [str(i) for i in ids]}))
    return len(ids)


async def revoke_all_sessions(user_id: uuid.UUID, reason: str) -> int:
    return await revoke_sessions(models.AuthSession.filter(user_id=user_id), reason)


async def sign_out(user: models.User, session_id: uuid.UUID | None, everywhere: bool) -> None:
    """End the session `session_id` of `user`, or with `everywhere` all of theirs."""
    if everywhere:
        await revoke_all_sessions(user.id, "logout")
    else:
        await revoke_sessions(models.AuthSession.filter(id=session_id, user_id=user.id), "logout")


async def change_password(
    user: models.User, current_password: str, new_password: str, settings: Settings
) -> IssuedTokens | None:
    """None if the current password is wrong. Ends every session, then starts a new one.
    The new password is checked first: a refused one says nothing of the current one."""
    check_password(new_password, user.email, field="newPassword")
    if not await verify_password(current_password, user.password_hash):
        return None
    user.password_hash = await hash_password(new_password)
    async with atomic():
        await user.save(update_fields=["password_hash", "updated_at"])
        await revoke_all_sessions(user.id, "password_changed")
        return await start_session(user, settings)
