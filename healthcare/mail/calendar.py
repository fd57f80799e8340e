"""Calendar invites (RFC 5545, made with icalendar) that calendar apps update in place.

One UID per appointment; SEQUENCE goes up on every change, so Google, Outlook and Apple
replace the event they have instead of adding another; a cancellation is METHOD:CANCEL
with STATUS:CANCELLED under the same UID. Times are UTC (no VTIMEZONE needed); the
doctor's zone is named in the calendar (X-WR-TIMEZONE) and the description. Only names,
times and a link: never the reason for the visit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

PRODUCT_ID = "-//Healthcare//Appointments//EN"


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str


@dataclass(frozen=True)
class Invite:
    uid: str
    sequence: int
    cancelled: bool
    starts_at: datetime
    ends_at: datetime
    time_zone: str  # the doctor's, named for people; the times themselves are UTC
    summary: str
    description: str
    url: str
    organizer: Attendee
    attendees: tuple[Attendee, ...]
    stamp: datetime


def _address(person: Attendee, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(person.name)
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def render(invite: Invite) -> str:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if invite.cancelled else "REQUEST")
    calendar.add("x-wr-timezone", invite.time_zone)
    event = Event()
    event.add("uid", invite.uid)
    event.add("sequence", invite.sequence)
    event.add("dtstamp", invite.stamp.astimezone(UTC))
    event.add("dtstart", invite.starts_at.astimezone(UTC))
    event.add("dtend", invite.ends_at.astimezone(UTC))
    event.add("summary", invite.summary)
    event.add("description", invite.description)
    event.add("url", invite.url)
    event.add("status", "CANCELLED" if invite.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event["organizer"] = _address(invite.organizer)
    for person in invite.attendees:
        event.add("attendee", _address(person, ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED"))
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical.decode()
