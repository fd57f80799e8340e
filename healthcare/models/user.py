from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    PATIENT = "PATIENT"
    DOCTOR = "DOCTOR"
    ADMIN = "ADMIN"


class User(Model):
    """A person who signs in: a patient, a doctor or an administrator."""

    id = fields.UUIDField(primary_key=True)
    # Always stored lower-cased (see validators.normalize_email), so the unique index is
    # unique without regard to case.
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100)
    role = fields.CharEnumField(Role, max_length=16, default=Role.PATIENT, db_index=True)
    bio = fields.TextField(default="")
    # File name under MEDIA_DIR (random, chosen by the server), or null.
    profile_picture = fields.CharField(max_length=100, null=True)
    phone_number = fields.CharField(max_length=20, null=True)  # E.164
    specialty = fields.CharField(max_length=100, null=True)  # doctors only
    is_active = fields.BooleanField(default=True)
    # When the owner proved the address is theirs (a link sent to it); null: not yet.
    email_verified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"

    @classmethod
    def with_id_and_role(cls, user_id: uuid.UUID, role: Role) -> User:
        """A user with an id and a role and no other attribute (reading one raises): what
        rules written once per role are asked of (resolvers.visibility,
        graphql.execution.compiled)."""
        user = cls.__new__(cls)
        user.__dict__.update(id=user_id, role=role)
        return user

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_doctor(self) -> bool:
        return self.role == Role.DOCTOR
