"""Tortoise models, one module per domain. Import as `from healthcare import models`."""

from healthcare.models.auth import AuthSession, RefreshToken
from healthcare.models.user import Role, User

__all__ = ["AuthSession", "RefreshToken", "Role", "User"]
