"""Password hashing, access tokens (JWT), refresh tokens, and the current user.

One function, `authenticate(authorization, settings)`, turns an `Authorization` value
into a `Viewer` for HTTP and WebSocket alike.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from anyio import to_thread
from pwdlib import PasswordHash

from healthcare import db, models
from healthcare.config import Settings

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 (a claim value, not a secret)
REQUIRED_CLAIMS = ["sub", "sid", "exp", "iat", "jti", "typ"]

_password_hash = PasswordHash.recommended()
# Verified against when the email is unknown, so that both failures take the same time.
_DUMMY_HASH = _password_hash.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    # argon2 is deliberately CPU-heavy: keep it off the event loop.
    return await to_thread.run_sync(_password_hash.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no stored password can match it
        password, password_hash = "", None
    if password_hash is None:
        await to_thread.run_sync(_password_hash.verify, password, _DUMMY_HASH)
        return False
    return await to_thread.run_sync(_password_hash.verify, password, password_hash)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_access_token(
    user_id: uuid.UUID, session_id: uuid.UUID, settings: Settings
) -> tuple[str, datetime]:
    issued_at = utcnow()
    expires_at = issued_at + timedelta(seconds=settings.access_token_ttl_seconds)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": issued_at,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
        "typ": ACCESS_TOKEN_TYPE,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM), expires_at


def new_secret_token() -> tuple[str, str]:
    """A fresh random token (a refresh token, a link sent by email) and the hash that is
    stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, hash_secret_token(token)


def hash_secret_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


PREFERENCES_LINK_PURPOSE = b"email-preferences:"


def preferences_link_token(user_id: uuid.UUID, settings: Settings) -> str:
    """The token in every email's "choose your emails" link: it lets whoever holds the
    email change that user's email preferences, and nothing else. Keyed from JWT_SECRET,
    so it needs no row, and it does not expire (as unsubscribe links must not)."""
    return f"{user_id.hex}.{_preferences_mac(user_id.hex, settings)}"


def user_id_from_preferences_link(token: str, settings: Settings) -> uuid.UUID | None:
    user_hex, _, mac = token.partition(".")
    try:
        user_id = uuid.UUID(hex=user_hex)
    except ValueError:
        return None
    expected = _preferences_mac(user_id.hex, settings)
    return user_id if hmac.compare_digest(mac.encode(), expected.encode()) else None


def _preferences_mac(user_hex: str, settings: Settings) -> str:
    digest = hmac.new(
        settings.jwt_secret.encode(), PREFERENCES_LINK_PURPOSE + user_hex.encode(), "sha256"
    )
    return digest.hexdigest()[:32]


class InvalidAccessToken(Exception):
    """The bearer token cannot be trusted; the message is safe to show a client."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


EXPIRY_LEEWAY_SECONDS = 5
EXPIRED = "The access token has expired; refresh it."
# Tokens verified lately, each with its claims: a client sends the same token on every
# request until it expires (15 minutes at most), and PyJWT's checks cost about 50 us.
VERIFIED_TOKENS_KEPT = 4096


def decode_access_token(token: str, settings: Settings) -> AccessClaims:
    """The claims of a token this API signed with `settings.jwt_secret`, unexpired (with
    PyJWT's leeway); InvalidAccessToken otherwise. A token verified lately is not
    verified again, only its expiry checked: its claims cannot change."""
    claims = _verified(token, settings.jwt_secret)
    if claims.expires_at.timestamp() <= utcnow().timestamp() - EXPIRY_LEEWAY_SECONDS:
        raise InvalidAccessToken(EXPIRED)
    return claims


@functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verified(token: str, secret: str) -> AccessClaims:
    """What `decode_access_token` verifies once per token (a refusal is not kept)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
            leeway=EXPIRY_LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidAccessToken(EXPIRED) from None
    except jwt.PyJWTError:
        raise InvalidAccessToken("The access token is invalid.") from None
    if claims["typ"] != ACCESS_TOKEN_TYPE:
        raise InvalidAccessToken("The access token is invalid.")
    try:
        return AccessClaims(
            uuid.UUID(claims["sub"]),
            uuid.UUID(claims["sid"]),
            datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (ValueError, TypeError, AttributeError, OverflowError):
        raise InvalidAccessToken("The access token is invalid.") from None


@dataclass(frozen=True)
class Viewer:
    """Who is making the request: a signed-in user, or nobody (and why not)."""

    user: models.User | None = None
    session_id: uuid.UUID | None = None
    # When the access token that signed this viewer in stops working.
    expires_at: datetime | None = None
    # Why a presented token was not accepted; shown in UNAUTHENTICATED errors.
    rejection: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None


ANONYMOUS = Viewer()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


# The user of a live session: one statement on every signed-in request, written in SQL
# because the ORM's join and two model instances cost several times the round trip.
VIEWER_SQL = """
SELECT u.* FROM auth_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3
"""


async def session_is_live(viewer: Viewer) -> bool:
    """Whether the viewer's session is still live and its user active (what `authenticate`
    checked when the viewer signed in)."""
    if viewer.user is None or viewer.session_id is None:
        return False
    row = await db.read_one(VIEWER_SQL, viewer.session_id, viewer.user.id, utcnow())
    return row is not None and bool(row["is_active"])


async def authenticate(authorization: str | None, settings: Settings) -> Viewer:
    """Resolve an `Authorization: Bearer <jwt>` value to a Viewer.

    The token must verify, and its session must still be live and its user active:
    one query, so logout and deactivation take effect on the very next request.
    """
    token = bearer_token(authorization)
    if token is None:
        return ANONYMOUS
    if token == "":
        return Viewer(rejection="The Authorization header must be 'Bearer <access token>'.")
    try:
        claims = decode_access_token(token, settings)
    except InvalidAccessToken as error:
        return Viewer(rejection=str(error))
    row = await db.read_one(VIEWER_SQL, claims.session_id, claims.user_id, utcnow())
    if row is None:
        return Viewer(rejection="The session has ended; sign in again.")
    user = db.model_from_row(models.User, row)
    if not user.is_active:
        return Viewer(rejection="This account is deactivated.")
    return Viewer(user=user, session_id=claims.session_id, expires_at=claims.expires_at)
