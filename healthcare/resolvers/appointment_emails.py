"""Appointment emails with calendar invites, and reminders before each visit.

`appointment_changed` runs in the transaction of every booking, move, cancellation and
status change (resolvers.appointments.record): it writes the emails (each with an
iCalendar invite under one UID per appointment, SEQUENCE up on every change,
METHOD:CANCEL when cancelled) and arms, moves or removes the appointment's reminders.

Reminders are rows due `minutes_before` the start (REMINDER_MINUTES_BEFORE). Each
instance looks for due ones every REMINDER_POLL_SECONDS; one conditional update per
appointment takes all of its due reminders, so each is sent by one instance once,
whatever the number of instances and restarts. A reminder that came due while no
instance ran is sent late only if the visit is still to come, and of several due at
once only the nearest (the "in 1 hour", not also the "in 24 hours").
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from healthcare import db, models
from healthcare.config import Settings
from healthcare.mail import calendar
from healthcare.mail import outbox as mail
from healthcare.realtime.outbox import atomic
from healthcare.resolvers import emails
from healthcare.resolvers.changes import Change, notify
from healthcare.security.auth import utcnow

logger = logging.getLogger(__name__)
Kind = models.AppointmentChangeKind
EmailKind = models.EmailKind
Status = models.AppointmentStatus

# The changes that update the event in people's calendars.
INVITE_CHANGES = {
    Kind.BOOKED: (EmailKind.APPOINTMENT_BOOKED, "Appointment booked"),
    Kind.RESCHEDULED: (EmailKind.APPOINTMENT_RESCHEDULED, "Appointment moved"),
    Kind.CANCELLED: (EmailKind.APPOINTMENT_CANCELLED, "Appointment cancelled"),
}


async def appointment_changed(
    appointment: models.Appointment,
    kind: models.AppointmentChangeKind,
    actor: models.User,
    previous_starts_at: datetime | None = None,
) -> None:
    """Emails and reminders for a change of `appointment`. Inside `atomic()`."""
    # A new booking has no reminders to replace, and its invite is the first (SEQUENCE 0):
    # two statements fewer on the path every booking takes.
    booked = kind == Kind.BOOKED
    if appointment.status == Status.SCHEDULED:
        await arm_reminders(appointment, replace=not booked)
    else:
        await models.AppointmentReminder.filter(appointment_id=appointment.id).delete()
    if kind not in INVITE_CHANGES:
        return
    visit = await Visit.of(appointment)
    email_kind, title = INVITE_CHANGES[kind]
    sequence = (
        1
        if booked
        else await models.AppointmentChange.filter(
            appointment_id=appointment.id, kind__in=list(INVITE_CHANGES)
        ).count()
    )
    wanting = await emails.wanting(visit.people, "appointment_changes")
    letters = []
    for person in visit.people:
        if person.id not in wanting:
            continue
        other = visit.other(person)
        text = {
            Kind.BOOKED: f"Your appointment with {other} is booked for {visit.when}.",
            Kind.RESCHEDULED: f"Your appointment with {other} has moved to {visit.when}"
            + (f" (it was {visit.at(previous_starts_at)})." if previous_starts_at else "."),
            Kind.CANCELLED: f"Your appointment with {other} on {visit.when} is cancelled"
            + (f" by {name_in_emails(actor)}." if actor.id != person.id else "."),
        }[kind]
        letters.append(
            emails.letter(
                person,
                email_kind,
                f"{title}: {visit.short_when}",
                [
                    text,
                    "The attached invite updates your calendar.",
                    f"See the appointment: {visit.link}",
                ],
                calendar=visit.invite(person, sequence - 1, cancelled=kind == Kind.CANCELLED),
            )
        )
    if letters:
        await mail.enqueue(letters)  # both people's in one statement


def name_in_emails(actor: models.User) -> str:
    """Who made a change, as emails say it: an administrator is "the clinic"."""
    if actor.is_admin:
        return "the clinic"
    return actor.full_name


async def arm_reminders(appointment: models.Appointment, replace: bool = True) -> None:
    """The appointment's reminders, due before its (new) start; those whose time has
    passed already are not made (a visit booked for in 30 minutes gets no "in 1 hour").
    `replace`: remove the ones it had (a moved visit); a new booking has none."""
    now = utcnow()
    offsets = mail.settings().reminder_minutes_before
    if replace:
        await models.AppointmentReminder.filter(appointment_id=appointment.id).delete()
    await models.AppointmentReminder.bulk_create(
        [
            models.AppointmentReminder(
                appointment_id=appointment.id, minutes_before=minutes, due_at=due_at
            )
            for minutes in offsets
            if (due_at := appointment.starts_at - timedelta(minutes=minutes)) > now
        ]
    )


# An appointment's patient ($1) and doctor ($2), the doctor's row with their schedule's
# time zone (null without a schedule): one statement for every email of a change.
PEOPLE_SQL = """
SELECT u.*, s.time_zone AS schedule_time_zone
FROM users u LEFT JOIN doctor_schedules s ON s.doctor_id = u.id
WHERE u.id IN ($1, $2)
"""


class Visit:
    """What the emails of one appointment say: names, time in the doctor's zone, link."""

    def __init__(
        self, appointment: models.Appointment, patient: models.User, doctor: models.User, zone: str
    ) -> None:
        self.appointment = appointment
        self.patient = patient
        self.doctor = doctor
        self.zone = zone
        self.people = (patient, doctor)
        self.when = emails.when(appointment.starts_at, zone)
        self.short_when = self.when.rsplit(" (", 1)[0]
        self.link = emails.app_link(f"appointments/{appointment.id}")

    @classmethod
    async def of(cls, appointment: models.Appointment) -> Visit:
        rows = await db.fetch_all(PEOPLE_SQL, appointment.patient_id, appointment.doctor_id)
        people = {}
        zone = "UTC"  # a doctor without a schedule
        for user, row in zip(db.models_from_rows(models.User, rows), rows, strict=True):
            people[user.id] = user
            if user.id == appointment.doctor_id and row["schedule_time_zone"] is not None:
                zone = row["schedule_time_zone"]
        return cls(appointment, people[appointment.patient_id], people[appointment.doctor_id], zone)

    def other(self, person: models.User) -> str:
        return (self.doctor if person.id == self.patient.id else self.patient).full_name

    def at(self, moment: datetime) -> str:
        return emails.when(moment, self.zone)

    def invite(self, recipient: models.User, sequence: int, cancelled: bool) -> str:
        """The invite in `recipient`'s email: the clinic organises, and the recipient is the
        one attendee named (the other party's address is not theirs to have)."""
        settings = mail.settings()
        name, address = settings.email_sender
        clinic = calendar.Attendee(name=name or "Clinic", email=address)
        return calendar.render(
            calendar.Invite(
                uid=f"appointment-{self.appointment.id}@{settings.email_domain}",
                sequence=sequence,
                cancelled=cancelled,
                starts_at=self.appointment.starts_at,
                ends_at=self.appointment.ends_at,
                time_zone=self.zone,
                summary=f"Appointment: {self.patient.full_name} with {self.doctor.full_name}",
                description=f"{self.when}. Details and changes: {self.link}",
                url=self.link,
                organizer=clinic,
                attendees=(calendar.Attendee(recipient.full_name, recipient.email),),
                stamp=utcnow(),
            )
        )


# ---- reminders --------------------------------------------------------------------------


async def send_due_reminders(now: datetime | None = None) -> int:
    """Send the reminders due at `now` (default: the clock's now); how many visits."""
    now = now or utcnow()
    due = await models.AppointmentReminder.filter(
        sent_at__isnull=True,
        due_at__lte=now,
        appointment__status=Status.SCHEDULED,
        appointment__starts_at__gt=now,
    ).values_list("appointment_id", flat=True)
    sent = 0
    # One reminder per visit, however many came due (the subject says the time left).
    for appointment_id in dict.fromkeys(due):
        async with atomic():
            taken = await models.AppointmentReminder.filter(
                appointment_id=appointment_id, sent_at__isnull=True, due_at__lte=now
            ).update(sent_at=now)
            if not taken:
                continue  # another instance sent it
            appointment = await models.Appointment.get(id=appointment_id)
            await remind(await Visit.of(appointment), now)
            sent += 1
    return sent


def ahead(left: timedelta) -> str:
    """How long until the visit, as a reminder's subject says it: the time actually left
    when it is sent (a reminder sent late says so), to the nearest day, hour or minute."""
    minutes = round(left.total_seconds() / 60)
    if minutes >= 22 * 60:
        days = round(minutes / (24 * 60))
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes >= 90:
        return f"in {round(minutes / 60)} hours"
    if minutes >= 55:
        return "in 1 hour"
    return f"in {minutes} minutes"


async def remind(visit: Visit, now: datetime) -> None:
    """The patient (and the doctor, if they chose reminders): in the app and by email."""
    wanting = await emails.wanting(visit.people, "reminders")
    for person in visit.people:
        wants_email = person.id in wanting
        if person.id == visit.doctor.id and not wants_email:
            continue
        other = visit.doctor if person.id == visit.patient.id else visit.patient
        await notify(
            Change(
                kind=models.NotificationKind.APPOINTMENT_REMINDER,
                actor=other,
                recipient_ids=(person.id,),
                appointment_id=visit.appointment.id,
            )
        )
        if wants_email:
            await emails.send(
                person,
                EmailKind.APPOINTMENT_REMINDER,
                f"Reminder: your appointment {ahead(visit.appointment.starts_at - now)}",
                [
                    f"Your appointment with {other.full_name} is on {visit.when}.",
                    f"See it, or change it if you cannot come: {visit.link}",
                ],
            )


async def keep_sending_reminders(settings: Settings) -> None:
    """Every REMINDER_POLL_SECONDS, for as long as the app runs (its lifespan's task)."""
    while True:
        try:
            await send_due_reminders()
        except Exception as error:  # the database is away: the next round tries again
            logger.warning("could not send due reminders (%s)", type(error).__name__)
        await asyncio.sleep(settings.reminder_poll_seconds)
