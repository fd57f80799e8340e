from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.user import User


class DoctorSchedule(Model):
    """A doctor's time zone and slot length; their weekly hours hang off it."""

    id = fields.UUIDField(primary_key=True)
    doctor: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="schedule", on_delete=fields.CASCADE
    )
    doctor_id: uuid.UUID
    time_zone = fields.CharField(max_length=64)  # IANA name, e.g. Europe/London
    slot_minutes = fields.SmallIntField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "doctor_schedules"


class WorkingHours(Model):
    """One block of a doctor's week: wall-clock times in the schedule's time zone.

    Times are minutes after local midnight (540 = 09:00): a wall-clock time has no zone,
    and Tortoise's TimeField would store one (TIMETZ on PostgreSQL).
    """

    id = fields.UUIDField(primary_key=True)
    schedule: fields.ForeignKeyRelation[DoctorSchedule] = fields.ForeignKeyField(
        "models.DoctorSchedule", related_name="hours", on_delete=fields.CASCADE, db_index=True
    )
    schedule_id: uuid.UUID
    weekday = fields.SmallIntField()  # 0 = Monday ... 6 = Sunday (ISO weekday - 1)
    start_minute = fields.SmallIntField()
    end_minute = fields.SmallIntField()  # may be 1440: until midnight

    class Meta:
        table = "working_hours"


class TimeOff(Model):
    """A span when a doctor takes no appointments (holiday, conference...)."""

    id = fields.UUIDField(primary_key=True)
    doctor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="time_off", on_delete=fields.CASCADE, db_index=True
    )
    doctor_id: uuid.UUID
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    reason = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "time_off"
