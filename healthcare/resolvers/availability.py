"""Doctors' weekly hours, time off, and the free slots that follow from them.

Hours are wall-clock times in the doctor's IANA time zone; slots are computed per local
date and converted to UTC one by one, so daylight-saving changes fall out right: a 09:00
slot stays at 09:00 local time, its UTC time moves. Local times that do not exist (the
spring-forward gap) are skipped; ambiguous ones (fall-back) take their first occurrence.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from healthcare import models
from healthcare.failures import InputError, NotFoundError
from healthcare.resolvers.users import active_doctors, visible_users
from healthcare.security.auth import utcnow
from healthcare.validators import MAX_SPECIALTY_LENGTH, clean_text, parse_id

MIN_SLOT_MINUTES = 10
MAX_SLOT_MINUTES = 120
# An appointment lasts one slot of its doctor's schedule when it is booked or moved, so
# at most this long: a query for what overlaps a window need only look this far before it.
LONGEST_APPOINTMENT = timedelta(minutes=MAX_SLOT_MINUTES)
MAX_RANGE_DAYS = 31
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class HoursBlock:
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    local_starts_at: datetime  # in the doctor's zone


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str, field: str = "timeZone") -> ZoneInfo:
    if name not in _zone_names():
        raise InputError(field, f"'{name}' is not an IANA time zone, like Europe/London.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(field, f"'{name}' is not an IANA time zone.") from None


def local_datetime(day: date, minute: int, tz: ZoneInfo) -> datetime | None:
    """The aware local datetime `minute` minutes after midnight, or None in a DST gap."""
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    local = naive.replace(tzinfo=tz, fold=0)
    round_trip = local.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != naive:
        return None  # skipped by a spring-forward change
    return local


def slots_on(day: date, hours: Iterable[HoursBlock], slot_minutes: int, tz: ZoneInfo) -> list[Slot]:
    """Every slot of the doctor's hours on local date `day`, booked or not."""
    slots: list[Slot] = []
    for block in sorted(hours, key=lambda b: b.start_minute):
        if block.weekday != day.weekday():
            continue
        minute = block.start_minute
        while minute + slot_minutes <= block.end_minute:
            local = local_datetime(day, minute, tz)
            start = local.astimezone(UTC) if local is not None else None
            # After a spring-forward gap a grid time can fall inside the previous slot.
            if (
                local is not None
                and start is not None
                and (not slots or start >= slots[-1].ends_at)
            ):
                slots.append(Slot(start, start + timedelta(minutes=slot_minutes), local))
            minute += slot_minutes
    return slots


def overlaps(slot: Slot, spans: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(start < slot.ends_at and slot.starts_at < end for start, end in spans)


def check_range(first_day: date, last_day: date) -> None:
    today = utcnow().date()
    if not today - timedelta(days=366) <= first_day <= today + timedelta(days=3 * 366):
        raise InputError("fromDate", "Ask about dates within a year back and three ahead.")
    if last_day < first_day:
        raise InputError("to", "The range ends before it starts.")
    if (last_day - first_day).days >= MAX_RANGE_DAYS:
        raise InputError("to", f"Ask for at most {MAX_RANGE_DAYS} days at a time.")


@dataclass(frozen=True)
class DoctorCalendar:
    """What decides a doctor's free slots, loaded once."""

    schedule: models.DoctorSchedule
    hours: list[HoursBlock]
    busy: list[tuple[datetime, datetime]]  # time off and non-cancelled appointments

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.schedule.time_zone)

    def free_slots(self, first_day: date, last_day: date, now: datetime) -> list[Slot]:
        slots: list[Slot] = []
        day = first_day
        while day <= last_day:
            slots += [
                slot
                for slot in slots_on(day, self.hours, self.schedule.slot_minutes, self.tz)
                if slot.starts_at > now and not overlaps(slot, self.busy)
            ]
            day += timedelta(days=1)
        return slots


async def load_calendars(
    doctor_ids: Sequence[uuid.UUID], first_day: date, last_day: date
) -> dict[uuid.UUID, DoctorCalendar]:
    """Calendars of the doctors who have a schedule, in four queries whatever their number."""
    schedules = await models.DoctorSchedule.filter(doctor_id__in=list(doctor_ids))
    if not schedules:
        return {}
    # A generous UTC window: local dates can be up to 14 hours either side of UTC.
    window_start = datetime.combine(first_day, time(), UTC) - timedelta(days=1)
    window_end = datetime.combine(last_day, time(), UTC) + timedelta(days=2)
    hours = await models.WorkingHours.filter(schedule_id__in=[s.id for s in schedules])
    time_off = await models.TimeOff.filter(
        doctor_id__in=list(doctor_ids), starts_at__lt=window_end, ends_at__gt=window_start
    )
    appointments = await models.Appointment.filter(
        doctor_id__in=list(doctor_ids),
        starts_at__lt=window_end,
        starts_at__gt=window_start - LONGEST_APPOINTMENT,
        ends_at__gt=window_start,
    ).exclude(status=models.AppointmentStatus.CANCELLED)
    calendars = {}
    for schedule in schedules:
        doctor_id = schedule.doctor_id
        calendars[doctor_id] = DoctorCalendar(
            schedule=schedule,
            hours=[
                HoursBlock(h.weekday, h.start_minute, h.end_minute)
                for h in hours
                if h.schedule_id == schedule.id
            ],
            busy=[
                (row.starts_at, row.ends_at)
                for rows in (time_off, appointments)
                for row in rows
                if row.doctor_id == doctor_id
            ],
        )
    return calendars


async def doctors_with_free_slots(
    doctor_ids: Sequence[uuid.UUID], first_day: date, last_day: date
) -> set[uuid.UUID]:
    check_range(first_day, last_day)
    calendars = await load_calendars(doctor_ids, first_day, last_day)
    now = utcnow()
    return {
        doctor_id
        for doctor_id, calendar in calendars.items()
        if calendar.free_slots(first_day, last_day, now)
    }


async def find_doctors(
    viewer: models.User, specialty: str | None, free_from: date | None, free_to: date | None
) -> QuerySet[models.User]:
    """Active doctors, of one specialty (any case) if given, and only those with a free
    slot between two of their local dates if given. InputError names the argument."""
    doctors = visible_users(viewer).filter(id__in=Subquery(active_doctors().values("id")))
    if specialty:
        doctors = doctors.filter(
            specialty__iexact=clean_text(specialty, "specialty", MAX_SPECIALTY_LENGTH)
        )
    if free_from is None and free_to is None:
        return doctors
    if free_from is None or free_to is None:
        raise InputError("freeTo", "give both freeFrom and freeTo.")
    candidates = cast(list[uuid.UUID], await doctors.values_list("id", flat=True))
    free = await doctors_with_free_slots(candidates, free_from, free_to)
    return doctors.filter(id__in=list(free))


async def free_slots(doctor_id: str | uuid.UUID, first_day: date, last_day: date) -> list[Slot]:
    """An active doctor's free slots; none for anyone else."""
    parsed = parse_id(doctor_id)
    doctor = await active_doctors().filter(id=parsed).first() if parsed else None
    if doctor is None:
        return []
    check_range(first_day, last_day)
    calendar = (await load_calendars([doctor.id], first_day, last_day)).get(doctor.id)
    return calendar.free_slots(first_day, last_day, utcnow()) if calendar else []


async def schedule_of(doctor_id: str) -> tuple[models.DoctorSchedule, list[models.WorkingHours]]:
    """An active doctor's weekly hours, by weekday and start; NotFoundError when they
    have none (or are no active doctor: the same answer)."""
    parsed = parse_id(doctor_id)
    doctor = await active_doctors().filter(id=parsed).first() if parsed else None
    schedule = await models.DoctorSchedule.filter(doctor_id=doctor.id).first() if doctor else None
    if schedule is None:
        raise NotFoundError("schedule", doctor_id)
    hours = await models.WorkingHours.filter(schedule_id=schedule.id).order_by(
        "weekday", "start_minute"
    )
    return schedule, hours


# ---- changing hours and time off -------------------------------------------------------


def visible_time_off(viewer: models.User) -> QuerySet[models.TimeOff]:
    """Every span of time off `viewer` may see: a doctor's own; any, for administrators."""
    if viewer.is_admin:
        return models.TimeOff.all()
    if viewer.is_doctor:
        return models.TimeOff.filter(doctor_id=viewer.id)
    return models.TimeOff.filter(id__in=[])


async def doctor_to_manage(viewer: models.User, doctor_id: str | None) -> models.User:
    """The doctor whose calendar `viewer` changes: doctors their own, administrators any
    doctor's (`doctor_id`)."""
    if viewer.is_admin:
        return await find_doctor(parse_id(doctor_id) if doctor_id else None)
    if doctor_id is not None and parse_id(doctor_id) != viewer.id:
        raise InputError("doctorId", "Doctors manage only their own calendar.")
    return viewer


async def find_doctor(doctor_id: uuid.UUID | None) -> models.User:
    doctor = (
        await models.User.filter(id=doctor_id, role=models.Role.DOCTOR).first()
        if doctor_id
        else None
    )
    if doctor is None:
        raise NotFoundError("doctor", doctor_id)
    return doctor


async def time_off_of(viewer: models.User, doctor_id: str | None) -> list[models.TimeOff]:
    """A doctor's time off, soonest first; none for anyone else's calendar."""
    try:
        doctor = await doctor_to_manage(viewer, doctor_id)
    except (InputError, NotFoundError):
        return []
    return await visible_time_off(viewer).filter(doctor_id=doctor.id).order_by("starts_at")


async def remove_time_off(viewer: models.User, time_off_id: str) -> bool:
    """Remove one span of time off `viewer` may see; False when there is none."""
    parsed = parse_id(time_off_id)
    return bool(parsed and await visible_time_off(viewer).filter(id=parsed).delete())


def check_hours(blocks: Sequence[HoursBlock], slot_minutes: int) -> None:
    if not MIN_SLOT_MINUTES <= slot_minutes <= MAX_SLOT_MINUTES:
        raise InputError("slotMinutes", f"Use {MIN_SLOT_MINUTES} to {MAX_SLOT_MINUTES} minutes.")
    for index, block in enumerate(blocks):
        if not 0 <= block.weekday <= 6:
            raise InputError(f"hours[{index}].weekday", "Use 0 (Monday) to 6 (Sunday).")
        if not 0 <= block.start_minute < block.end_minute <= MINUTES_PER_DAY:
            raise InputError(f"hours[{index}].end", "The end must come after the start.")
        if block.end_minute - block.start_minute < slot_minutes:
            raise InputError(f"hours[{index}].end", "The block is shorter than one slot.")
    by_day = sorted(blocks, key=lambda b: (b.weekday, b.start_minute))
    for earlier, later in pairwise(by_day):
        if earlier.weekday == later.weekday and later.start_minute < earlier.end_minute:
            raise InputError("hours", "Two blocks overlap on the same day.")


async def set_schedule(
    doctor: models.User, time_zone: str, slot_minutes: int, blocks: Sequence[HoursBlock]
) -> models.DoctorSchedule:
    """Replace the doctor's weekly hours at once. Booked appointments are kept."""
    zone(time_zone)
    check_hours(blocks, slot_minutes)
    async with in_transaction():
        # Orders concurrent replacements on PostgreSQL (SQLite serialises writers).
        await models.User.filter(id=doctor.id).select_for_update().first()
        schedule = await models.DoctorSchedule.filter(doctor_id=doctor.id).first()
        if schedule is None:
            schedule = models.DoctorSchedule(doctor_id=doctor.id)
        schedule.time_zone = time_zone
        schedule.slot_minutes = slot_minutes
        await schedule.save()
        await models.WorkingHours.filter(schedule_id=schedule.id).delete()
        await models.WorkingHours.bulk_create(
            [
                models.WorkingHours(
                    schedule_id=schedule.id,
                    weekday=b.weekday,
                    start_minute=b.start_minute,
                    end_minute=b.end_minute,
                )
                for b in blocks
            ]
        )
    return schedule


async def add_time_off(
    doctor: models.User, starts_at: datetime, ends_at: datetime, reason: str
) -> models.TimeOff:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InputError("startsAt", "Give times with a UTC offset, like 2026-12-24T00:00:00Z.")
    for field, moment in (("startsAt", starts_at), ("endsAt", ends_at)):
        if not 2000 < moment.year < 9000:
            raise InputError(field, "Give a date between the years 2000 and 9000.")
    if ends_at <= starts_at:
        raise InputError("endsAt", "The end must come after the start.")
    return await models.TimeOff.create(
        doctor_id=doctor.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=clean_text(reason, "reason", 200, required=False),
    )
