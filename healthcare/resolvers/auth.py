"""Sign-up (with address confirmation), sign-in, token refresh with rotation and reuse
detection, sign-out; password reset and change; change of email address."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from healthcare import models
from healthcare.config import Settings
from healthcare.failures import InputError, InvalidEmailTokenError
from healthcare.realtime import pubsub
from healthcare.realtime.outbox import Event, atomic, queue
from healthcare.resolvers import emails
from healthcare.security.auth import (
    create_access_token,
    hash_password,
    hash_secret_token,
    new_secret_token,
    utcnow,
    verify_password,
)
from healthcare.validators import check_password, clean_name, normalize_email

logger = logging.getLogger(__name__)
Kind = models.EmailKind
Purpose = models.EmailTokenPurpose


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
    """Validate and insert a user. An account whose address is not confirmed yet (every
    one but those made with `email_verified_at`) gets the link that confirms it, in the
    same transaction. Raises InputError naming the first bad field, and EmailTaken after
    the same work (the password hashed) as a new account takes."""
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
        async with atomic():
            await user.save()
            if user.email_verified_at is None:
                await send_verification(user)
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        raise EmailTaken() from None
    return user


async def register_patient(*, email: str, password: str, first_name: str, last_name: str) -> None:
    """Self-service sign-up: a patient account for an address that has none, and a link
    to confirm the address. An address that has an account changes nothing, but its
    owner is told by email, with a link to reset the password should they have forgotten
    it. The caller answers the same for both, in about the same time (the password is
    hashed and one email written either way): sign-up must not tell anyone who has an
    account. Raises InputError for input that is not valid, whatever the address."""
    try:
        await create_user(
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            role=models.Role.PATIENT,
        )
    except EmailTaken:
        async with atomic():
            owner = await models.User.filter(email=normalize_email(email), is_active=True).first()
            if owner is not None and not await told_of_a_sign_up_lately(owner):
                token = await emails.new_link_token(owner, Purpose.PASSWORD_RESET)
                await emails.send(
                    owner,
                    Kind.SIGN_UP_ATTEMPT,
                    "Someone tried to sign up with your address",
                    [
                        "Someone (perhaps you) tried to create an account with this address, "
                        "but it already has one. Nothing was changed.",
                        "If you have forgotten your password, choose a new one here (the link "
                        f"works once, for {reset_link_minutes()} minutes): "
                        f"{emails.app_link('reset-password/' + token)}",
                        "If it was not you, you can ignore this email.",
                    ],
                )


# Sign-ups with a taken address tell its owner at most this often: someone signing up
# with it again and again, from many networks, must not fill its inbox with reset links.
SIGN_UP_ATTEMPT_EMAILS_EVERY = timedelta(hours=1)


async def told_of_a_sign_up_lately(owner: models.User) -> bool:
    return await models.EmailMessage.filter(
        recipient_id=owner.id,
        kind=Kind.SIGN_UP_ATTEMPT,
        created_at__gte=utcnow() - SIGN_UP_ATTEMPT_EMAILS_EVERY,
    ).exists()


def reset_link_minutes() -> int:
    return int(emails.link_lifetime(Purpose.PASSWORD_RESET).total_seconds() // 60)


async def send_verification(user: models.User) -> None:
    """A link that confirms the user's address. Inside `atomic()`."""
    token = await emails.new_link_token(user, Purpose.VERIFY_EMAIL)
    await emails.send(
        user,
        Kind.VERIFY_EMAIL,
        "Confirm your email address",
        [
            "Please confirm that this is your email address: "
            f"{emails.app_link('verify-email/' + token)}",
            "Until you do, you can sign in but not book appointments. If you did not create "
            "an account with the clinic, ignore this email.",
        ],
    )


async def resend_verification(user: models.User) -> None:
    """Another confirmation link, unless the address is confirmed already."""
    if user.email_verified_at is not None:
        return
    async with atomic():
        await send_verification(user)


_unanswered: set[asyncio.Task[None]] = set()


def start_password_reset(email: str) -> None:
    """`request_password_reset` in the background: the request is answered at once, the
    same whether or not an account has the address, so that not even the time it takes
    tells. (Lost if the process dies in the next few milliseconds: the user asks again.)"""
    task = asyncio.create_task(_logged(request_password_reset(email)))
    _unanswered.add(task)
    task.add_done_callback(_unanswered.discard)


async def _logged(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        logger.exception("a password reset request failed")


async def settled() -> None:
    """Wait for the password reset requests still being handled (tests, shutdown)."""
    while _unanswered:
        await asyncio.gather(*_unanswered, return_exceptions=True)


async def request_password_reset(email: str) -> None:
    """Email a reset link to the account with this (normalised) address, if there is one
    and it is active; nothing otherwise."""
    async with atomic():
        user = await models.User.filter(email=email, is_active=True).first()
        if user is None:
            return
        token = await emails.new_link_token(user, Purpose.PASSWORD_RESET)
        minutes = reset_link_minutes()
        await emails.send(
            user,
            Kind.PASSWORD_RESET,
            "Choose a new password",
            [
                "Someone (perhaps you) asked to reset the password of your account. Choose "
                f"a new one here: {emails.app_link('reset-password/' + token)}",
                f"The link works once, for {minutes} minutes. If you did not ask, ignore "
                "this email: your password stays as it is.",
            ],
        )


async def reset_password(token: str, new_password: str) -> None:
    """Set a new password with a reset link: every session ends, the link and any other
    reset link stop working, and so does any pending change of address (whoever knew the
    old password may have asked for it), and the owner is told by email. A refused new
    password leaves the link usable."""
    link = await emails.live_link(token, (Purpose.PASSWORD_RESET,))
    if link is None:
        raise InvalidEmailTokenError()
    user = link.user
    check_password(new_password, user.email, field="newPassword")
    password_hash = await hash_password(new_password)
    async with atomic():
        if not await emails.spend_link(link):
            raise InvalidEmailTokenError()
        await emails.spend_other_links(user, Purpose.PASSWORD_RESET, Purpose.CHANGE_EMAIL)
        user.password_hash = password_hash
        update_fields = ["password_hash", "updated_at"]
        if user.email_verified_at is None and link.email == user.email:
            user.email_verified_at = utcnow()  # the link reached that inbox
            update_fields.append("email_verified_at")
        await user.save(update_fields=update_fields)
        await revoke_all_sessions(user.id, "password_reset")
        await emails.send(
            user,
            Kind.PASSWORD_CHANGED,
            "Your password was changed",
            [
                "The password of your account was just changed with a reset link, and every "
                "device was signed out.",
                "If this was not you, reset your password now: "
                f"{emails.app_link('forgot-password')}, and tell the clinic.",
            ],
        )


async def verify_email(token: str) -> str:
    """Confirm an address with the link sent to it: the account's own (after sign-up), or
    a new one (after `change_email`), which then becomes the account's. The address."""
    link = await emails.live_link(token, (Purpose.VERIFY_EMAIL, Purpose.CHANGE_EMAIL))
    if link is None:
        raise InvalidEmailTokenError()
    user = link.user
    if link.purpose == Purpose.VERIFY_EMAIL:
        async with atomic():
            # Only while the account still has that address: a change of address may
            # have been completed since (even at this very moment).
            now = utcnow()
            confirmed = await models.User.filter(id=user.id, email=link.email).update(
                email_verified_at=now, updated_at=now
            )
            if not confirmed or not await emails.spend_link(link):
                raise InvalidEmailTokenError()
        return link.email
    old_email = user.email
    try:
        async with atomic():
            if not await emails.spend_link(link):
                raise InvalidEmailTokenError()
            user.email = link.email
            user.email_verified_at = utcnow()
            await user.save(update_fields=["email", "email_verified_at", "updated_at"])
            await emails.spend_other_links(
                user, Purpose.CHANGE_EMAIL, Purpose.PASSWORD_RESET, Purpose.VERIFY_EMAIL
            )
            await emails.send(
                user,
                Kind.EMAIL_CHANGE_NOTICE,
                "Your email address was changed",
                [
                    f"Your account's email address is now {user.email}; emails will no "
                    "longer come to this one.",
                    "If this was not you, contact the clinic now.",
                ],
                to_address=old_email,
            )
    except IntegrityError:  # someone took the new address meanwhile
        raise InputError(
            "token", "Another account has this address now: ask for the change again."
        ) from None
    return user.email


async def change_email(user: models.User, new_email: str, current_password: str) -> bool:
    """Ask to move the account to `new_email`: a link goes to the new address (the change
    happens when it is opened) and a notice to the current one. False if the password is
    wrong. An address that has an account already gets nothing, and the answer is the
    same: this must not tell who has an account either."""
    new_email = normalize_email(new_email, field="newEmail")
    if new_email == user.email:
        raise InputError("newEmail", "This is already your email address.")
    if not await verify_password(current_password, user.password_hash):
        return False
    async with atomic():
        # A taken address gets no link; the rest is as for a free one, the notice to the
        # current address included, so that the requester's inbox does not tell either.
        if not await models.User.filter(email=new_email).exists():
            token = await emails.new_link_token(user, Purpose.CHANGE_EMAIL, new_email)
            await emails.send(
                user,
                Kind.EMAIL_CHANGE_VERIFY,
                "Confirm your new email address",
                [
                    "Confirm that this address should become your account's: "
                    f"{emails.app_link('verify-email/' + token)}",
                    "Until you do, your account keeps its current address.",
                ],
                to_address=new_email,
            )
        await emails.send(
            user,
            Kind.EMAIL_CHANGE_NOTICE,
            "A change of your email address was asked for",
            [
                "Someone signed in to your account asked to change its email address. It "
                "changes only once the link sent to the new address is opened.",
                "If this was not you, change your password now and tell the clinic.",
            ],
        )
    return True


async def start_session(user: models.User, settings: Settings) -> IssuedTokens:
    """A new sign-in: a session, its first refresh token and an access token."""
    expires_at = utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds)
    async with in_transaction():
        session = await models.AuthSession.create(user=user, expires_at=expires_at)
        return await _issue(session, user, settings)


async def _issue(
    session: models.AuthSession, user: models.User, settings: Settings
) -> IssuedTokens:
    refresh_token, token_hash = new_secret_token()
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
    token_hash = hash_secret_token(refresh_token)
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
        # Links asked for with the old password (a reset, a change of address) stop working.
        await emails.spend_other_links(user, Purpose.PASSWORD_RESET, Purpose.CHANGE_EMAIL)
        return await start_session(user, settings)
