from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.user import User


class AuthSession(Model):
    """One sign-in: the family of refresh tokens that descend from one login.

    Access tokens name their session (`sid`), so revoking a session (logout, reuse of a
    spent refresh token, password change, deactivation) invalidates them at once.
    """

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="auth_sessions", on_delete=fields.CASCADE, db_index=True
    )
    user_id: uuid.UUID
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "auth_sessions"


class RefreshToken(Model):
    """A single-use refresh token. Only a SHA-256 hash of the token is stored."""

    id = fields.UUIDField(primary_key=True)
    session: fields.ForeignKeyRelation[AuthSession] = fields.ForeignKeyField(
        "models.AuthSession", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    session_id: uuid.UUID
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"
