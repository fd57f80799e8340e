"""Users: who may see whom, profile changes, and administration of accounts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from healthcare import models
from healthcare.failures import InputError
from healthcare.realtime.outbox import atomic
from healthcare.resolvers import pictures
from healthcare.resolvers.auth import create_user, revoke_all_sessions
from healthcare.security import audit
from healthcare.validators import (
    MAX_BIO_LENGTH,
    MAX_SPECIALTY_LENGTH,
    clean_name,
    clean_text,
    normalize_phone,
)

# How an administrator who acted is named to patients and doctors: as the clinic.
STAFF_NAME = "Clinic staff"


def visible_users(viewer: models.User) -> QuerySet[models.User]:
    """Every user `viewer` may look up: the one rule for lists, lookups and nested fields.

    Administrators see everyone. Everyone else sees themselves and active doctors'
    public profiles; doctors also see the patients they have appointments with.
    """
    if viewer.is_admin:
        return models.User.all()
    rule = Q(id=viewer.id) | Q(role=models.Role.DOCTOR, is_active=True)  # active_doctors()
    if viewer.is_doctor:
        my_patients = models.Appointment.filter(doctor_id=viewer.id).values("patient_id")
        rule |= Q(id__in=Subquery(my_patients))
    return models.User.filter(rule)


SEARCH_MAX_LENGTH = 100


def matching(users: QuerySet[models.User], search: str) -> QuerySet[models.User]:
    """Users whose first name, last name or email contains every word of `search`
    (any case, any order): "grey meredith" finds Meredith Grey."""
    if len(search) > SEARCH_MAX_LENGTH:
        raise InputError("search", f"At most {SEARCH_MAX_LENGTH} characters.")
    for word in search.split():
        users = users.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        )
    return users


def active_doctors() -> QuerySet[models.User]:
    """Doctors who take appointments: the one rule for the list of doctors, their slots
    and schedules, and booking (whose SQL says the same: resolvers.appointments)."""
    return models.User.filter(role=models.Role.DOCTOR, is_active=True)


@dataclass(frozen=True)
class ProfileChanges:
    """Only the fields a client sent; None means 'leave as it is'."""

    first_name: str | None = None
    last_name: str | None = None
    bio: str | None = None
    phone_number: str | None = None


async def update_profile(
    user: models.User, changes: ProfileChanges, default_phone_region: str | None
) -> models.User:
    """Validate every field before writing any. Raises InputError naming the field."""
    values: dict[str, object] = {}
    if changes.first_name is not None:
        values["first_name"] = clean_name(changes.first_name, "firstName")
    if changes.last_name is not None:
        values["last_name"] = clean_name(changes.last_name, "lastName")
    if changes.bio is not None:
        values["bio"] = clean_text(changes.bio, "bio", MAX_BIO_LENGTH, required=False)
    if changes.phone_number is not None:
        values["phone_number"] = normalize_phone(changes.phone_number, default_phone_region)
    if values:
        user.update_from_dict(values)
        await user.save(update_fields=[*values, "updated_at"])
    return user


async def set_profile_picture(
    user: models.User, upload: object, media_dir: Path, max_bytes: int
) -> models.User:
    data = await pictures.read_upload(upload, max_bytes, "file")
    name = await pictures.store_picture(data, media_dir, "file")
    previous = user.profile_picture
    user.profile_picture = name
    try:
        await user.save(update_fields=["profile_picture", "updated_at"])
    except BaseException:
        pictures.remove_picture(name, media_dir)
        raise
    pictures.remove_picture(previous, media_dir)
    return user


async def remove_profile_picture(user: models.User, media_dir: Path) -> models.User:
    previous = user.profile_picture
    user.profile_picture = None
    await user.save(update_fields=["profile_picture", "updated_at"])
    pictures.remove_picture(previous, media_dir)
    return user


def clean_specialty(role: models.Role, specialty: str | None) -> str | None:
    if role != models.Role.DOCTOR:
        if specialty:
            raise InputError("specialty", "Only doctors have a specialty.")
        return None
    if specialty is None or not specialty.strip():
        raise InputError("specialty", "A doctor needs a specialty.")
    return clean_text(specialty, "specialty", MAX_SPECIALTY_LENGTH)


async def create_account(
    admin: models.User,
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    role: models.Role,
    specialty: str | None,
    phone_number: str | None,
    bio: str,
    default_phone_region: str | None,
) -> models.User:
    """An administrator creates an account of any role, and its owner gets the link that
    confirms their address (an administrator typed it: only its owner can vouch for it).
    Raises InputError. On the audit trail as the administrator's."""
    async with atomic():
        user = await create_user(
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            role=role,
            specialty=clean_specialty(role, specialty),
            phone_number=normalize_phone(phone_number, default_phone_region),
            bio=clean_text(bio, "bio", MAX_BIO_LENGTH, required=False),
        )
        await record_account_change(admin, user, models.AuditAction.CREATE, ("role",))
    return user


async def record_account_change(
    admin: models.User,
    target: models.User,
    action: models.AuditAction,
    fields: tuple[str, ...],
    was_patient: bool = False,
) -> None:
    """An administrator's change to an account, on the audit trail (inside the change's
    transaction). A patient's account, or one that was a patient's, is their record too."""
    is_patient = was_patient or target.role == models.Role.PATIENT
    patient_id = target.id if is_patient else None
    await audit.record_write(admin, models.AuditEntity.USER, action, target.id, patient_id, fields)


async def set_active(admin: models.User, target: models.User, active: bool) -> models.User:
    if target.id == admin.id and not active:
        raise InputError("userId", "You cannot deactivate your own account.")
    async with atomic():
        target.is_active = active
        await target.save(update_fields=["is_active", "updated_at"])
        if not active:
            await revoke_all_sessions(target.id, "deactivated")
        await record_account_change(admin, target, models.AuditAction.UPDATE, ("isActive",))
    return target


async def change_role(
    admin: models.User, target: models.User, role: models.Role, specialty: str | None
) -> models.User:
    if target.id == admin.id and role != models.Role.ADMIN:
        raise InputError("role", "You cannot remove your own administrator role.")
    specialty = clean_specialty(role, specialty)
    was_patient = target.role == models.Role.PATIENT
    async with atomic():
        target.role = role
        target.specialty = specialty
        await target.save(update_fields=["role", "specialty", "updated_at"])
        # Tokens carry no role, but a role change still ends every session so that no
        # client keeps acting on what it believed the user could do.
        await revoke_all_sessions(target.id, "role_changed")
        await record_account_change(
            admin, target, models.AuditAction.UPDATE, ("role", "specialty"), was_patient
        )
    return target
