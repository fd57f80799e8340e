"""The soak's side of the API over HTTP: the operations it sends, a small GraphQL client,
the accounts it signs in, and the seeding, done through the API as an operator would
(an administrator made by the CLI creates the doctors and patients; they sign in, the
doctors set their hours, each patient books a visit and opens a conversation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on AuthPayload { accessToken refreshToken accessTokenExpiresAt user { id role } }
    ... on Error { code message }
  }
}
"""
REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) {
    __typename
    ... on AuthPayload { accessToken refreshToken accessTokenExpiresAt }
    ... on Error { code message }
  }
}
"""
CREATE_USER = """
mutation CreateUser($input: CreateUserInput!) {
  createUser(input: $input) {
    __typename
    ... on UserPayload { user { id } }
    ... on Error { code message }
  }
}
"""
SET_SCHEDULE = """
mutation SetSchedule($input: SetDoctorScheduleInput!) {
  setDoctorSchedule(input: $input) {
    __typename
    ... on Error { code message }
  }
}
"""
SLOTS = """
query Slots($doctorId: ID!, $fromDate: Date!, $toDate: Date!) {
  availableSlots(doctorId: $doctorId, fromDate: $fromDate, toDate: $toDate) { startsAt }
}
"""
BOOK = """
mutation Book($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentPayload { appointment { id startsAt status } }
    ... on Error { code message }
  }
}
"""
CANCEL = """
mutation Cancel($id: ID!, $reason: String!) {
  cancelAppointment(id: $id, reason: $reason) {
    __typename
    ... on AppointmentPayload { appointment { id status } }
    ... on Error { code message }
  }
}
"""
START_CONVERSATION = """
mutation Start($withUserId: ID!) {
  startConversation(withUserId: $withUserId) {
    __typename
    ... on ConversationPayload { conversation { id } }
    ... on Error { code message }
  }
}
"""
SEND_MESSAGE = """
mutation Send($conversationId: ID!, $clientId: ID!, $text: String!) {
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
    __typename
    ... on MessagePayload { chatMessage { id seq clientId } }
    ... on Error { code message }
  }
}
"""
MESSAGE_ADDED = """
subscription Messages($conversationId: ID!, $afterSeq: Int) {
  messageAdded(conversationId: $conversationId, afterSeq: $afterSeq) {
    id seq clientId text createdAt sender { id fullName }
  }
}
"""
NOTIFICATION_ADDED = """
subscription Notifications($afterSeq: Int) {
  notificationAdded(afterSeq: $afterSeq) { id seq kind title body createdAt }
}
"""
# What a front end asks for now and then: who am I, my appointments, one of them, the
# doctors, my conversations, my notifications.
QUERIES = {
    "me": "query Me { me { id fullName email role } }",
    "appointments": """
query Mine { appointments(first: 20) {
  nodes { id startsAt endsAt status reason doctor { id fullName } patient { id fullName } }
  pageInfo { hasNextPage endCursor } } }
""",
    "appointment": """
query One($id: ID!) { appointment(id: $id) {
  id startsAt status reason doctor { fullName specialty } patient { fullName }
  history { createdAt kind toStatus actorRole } } }
""",
    "doctors": """
query Doctors { doctors(first: 10) { nodes { id fullName specialty } pageInfo { hasNextPage } } }
""",
    "conversations": """
query Conversations { conversations(first: 10) {
  nodes { id unreadCount lastSeq lastMessage { text createdAt } } } }
""",
    "notifications": """
query Notes { myNotifications(first: 10, unreadOnly: true) { nodes { id kind title } } }
""",
}

HTTP_TIMEOUT = 30.0
SEED_CONCURRENCY = 4  # argon2 hashes: two per core at most
REFRESH_BEFORE_SECONDS = 180.0  # refresh an access token this long before it expires


class ApiError(RuntimeError):
    """A transport failure, a top-level GraphQL error, or an unexpected result member."""


class Http:
    """One keep-alive client per instance."""

    def __init__(self, base_urls: Sequence[str]) -> None:
        self.clients = [
            httpx.AsyncClient(base_url=url, timeout=HTTP_TIMEOUT, headers={"user-agent": "soak"})
            for url in base_urls
        ]

    async def call(
        self,
        instance: int,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """The operation's `data`; ApiError on a transport failure or top-level errors."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.clients[instance].post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ApiError(f"HTTP: {type(error).__name__}") from error
        if body.get("errors") or not body.get("data"):
            codes = {
                str((error.get("extensions") or {}).get("code", error.get("message", "?")))
                for error in body.get("errors") or [{}]
            }
            raise ApiError(f"errors: {', '.join(sorted(codes))} (HTTP {response.status_code})")
        data: dict[str, Any] = body["data"]
        return data

    async def result(
        self,
        instance: int,
        field: str,
        expected: str,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A mutation's result union, which must be the `expected` member."""
        member: dict[str, Any] = (await self.call(instance, query, variables, token))[field]
        if member.get("__typename") != expected:
            raise ApiError(f"{field}: {member.get('__typename')} {member.get('message', '')}")
        return member

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


@dataclass
class Account:
    """A signed-in user; the tokens are replaced when refreshed."""

    name: str
    email: str
    role: str
    user_id: str = ""
    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: float = 0.0  # time.monotonic() when the access token expires
    refreshes: int = 0

    def signed_in(self, payload: dict[str, Any]) -> None:
        self.access_token = payload["accessToken"]
        self.refresh_token = payload["refreshToken"]
        expires = datetime.fromisoformat(payload["accessTokenExpiresAt"])
        self.expires_at = time.monotonic() + (expires - datetime.now(UTC)).total_seconds()
        if "user" in payload:
            self.user_id = payload["user"]["id"]


@dataclass
class Pair:
    """A patient and a doctor who share an appointment and a conversation."""

    patient: Account
    doctor: Account
    conversation_id: str = ""
    appointment_ids: list[str] = field(default_factory=list)


async def bounded(steps: Sequence[Awaitable[None]], concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)

    async def one(step: Awaitable[None]) -> None:
        async with slots:
            await step

    await asyncio.gather(*(one(step) for step in steps))


async def sign_in(http: Http, instance: int, account: Account, password: str) -> None:
    variables = {"email": account.email, "password": password}
    account.signed_in(await http.result(instance, "login", "AuthPayload", LOGIN, variables))


async def refresh(http: Http, instance: int, account: Account) -> None:
    payload = await http.result(
        instance, "refreshToken", "AuthPayload", REFRESH, {"refreshToken": account.refresh_token}
    )
    account.signed_in(payload)
    account.refreshes += 1


def week_ahead() -> dict[str, str]:
    today = date.today()
    return {"fromDate": today.isoformat(), "toDate": (today + timedelta(days=6)).isoformat()}


async def seed(
    http: Http, admin_email: str, admin_password: str, pairs: int, password: str
) -> tuple[Account, list[Pair]]:
    """`pairs` doctors and patients created through the API by the administrator, signed
    in; each doctor's hours set (every day, all day, UTC, 30-minute slots); each patient
    with one booked visit and a conversation with their doctor."""
    admin = Account("admin", admin_email, "ADMIN")
    await sign_in(http, 0, admin, admin_password)
    made = [
        Pair(
            Account(f"patient-{i}", f"soak-patient-{i}@soak.clinic", "PATIENT"),
            Account(f"doctor-{i}", f"soak-doctor-{i}@soak.clinic", "DOCTOR"),
        )
        for i in range(pairs)
    ]
    accounts = [account for pair in made for account in (pair.patient, pair.doctor)]

    async def create(n: int, account: Account) -> None:
        first, _, number = account.name.partition("-")
        user = {
            "email": account.email,
            "firstName": first.capitalize(),
            "lastName": f"No. {number}",
            "password": password,
            "role": account.role,
            "specialty": "General practice" if account.role == "DOCTOR" else None,
        }
        await http.result(
            n % 2, "createUser", "UserPayload", CREATE_USER, {"input": user}, admin.access_token
        )
        await sign_in(http, n % 2, account, password)

    await bounded([create(n, a) for n, a in enumerate(accounts)], SEED_CONCURRENCY)

    async def open_practice(n: int, pair: Pair) -> None:
        hours = [{"weekday": day, "start": "00:00", "end": "24:00"} for day in range(7)]
        schedule = {"hours": hours, "slotMinutes": 30, "timeZone": "UTC"}
        await http.result(
            n % 2,
            "setDoctorSchedule",
            "SchedulePayload",
            SET_SCHEDULE,
            {"input": schedule},
            pair.doctor.access_token,
        )
        slots = await http.call(
            n % 2,
            SLOTS,
            {"doctorId": pair.doctor.user_id, **week_ahead()},
            pair.patient.access_token,
        )
        # Spread over the week, so that the first visits leave the bookings room.
        starts_at = slots["availableSlots"][(n * 7) % len(slots["availableSlots"])]["startsAt"]
        booking = {"doctorId": pair.doctor.user_id, "reason": "Check-up", "startsAt": starts_at}
        booked = await http.result(
            n % 2,
            "bookAppointment",
            "AppointmentPayload",
            BOOK,
            {"input": booking},
            pair.patient.access_token,
        )
        pair.appointment_ids.append(booked["appointment"]["id"])
        started = await http.result(
            n % 2,
            "startConversation",
            "ConversationPayload",
            START_CONVERSATION,
            {"withUserId": pair.doctor.user_id},
            pair.patient.access_token,
        )
        pair.conversation_id = started["conversation"]["id"]

    await bounded([open_practice(n, pair) for n, pair in enumerate(made)], SEED_CONCURRENCY)
    return admin, made
