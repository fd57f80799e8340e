"""Email for accounts, through the API and a real SMTP server: password reset, sign-up
and address confirmation, change of address, email preferences, the delivery list."""

import asyncio
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from healthcare import models
from healthcare.resolvers import auth as auth_resolvers
from healthcare.security.auth import preferences_link_token, utcnow
from tests.conftest import (
    TEST_APP_URL,
    TEST_PASSWORD,
    make_doctor,
    make_patient,
    make_schedule,
    sign_in,
)
from tests.smtp import body_of

NEW_PASSWORD = "a brand new passphrase"
ERROR_FIELDS = "... on Error { code message }"
FIELD_ERRORS = "... on ValidationFailed { fieldErrors { field message } }"
REQUEST_PASSWORD_RESET = f"""
mutation RequestPasswordReset($email: String!) {{
  requestPasswordReset(email: $email) {{
    __typename ... on EmailSent {{ message }} {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}"""
RESET_PASSWORD = f"""
mutation ResetPassword($token: String!, $newPassword: String!) {{
  resetPassword(token: $token, newPassword: $newPassword) {{
    __typename ... on PasswordReset {{ message }} {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}"""
REGISTER = f"""
mutation Register($input: RegisterInput!) {{
  register(input: $input) {{
    __typename ... on SignUpReceived {{ message }} {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}"""
VERIFY_EMAIL = f"""
mutation VerifyEmail($token: String!) {{
  verifyEmail(token: $token) {{
    __typename ... on EmailVerified {{ email }} {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}"""
RESEND_VERIFICATION_EMAIL = """
mutation ResendVerificationEmail { resendVerificationEmail { __typename message } }
"""
CHANGE_EMAIL = f"""
mutation ChangeEmail($newEmail: String!, $currentPassword: String!) {{
  changeEmail(newEmail: $newEmail, currentPassword: $currentPassword) {{
    __typename ... on EmailSent {{ message }} {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}"""
LOGIN = f"""
mutation Login($email: String!, $password: String!) {{
  login(email: $email, password: $password) {{
    __typename ... on AuthPayload {{ accessToken user {{ id email }} }} {ERROR_FIELDS}
  }}
}}"""
REFRESH_TOKEN = f"""
mutation RefreshToken($refreshToken: String!) {{
  refreshToken(refreshToken: $refreshToken) {{
    __typename ... on AuthPayload {{ accessToken }} {ERROR_FIELDS}
  }}
}}"""
ME = "query Me { me { id email emailVerified firstName lastName } }"
PREFERENCE_FIELDS = "appointmentChanges reminders chatMessages consultationUpdates"
EMAIL_PREFERENCES = f"""
query EmailPreferences($token: String) {{
  emailPreferences(token: $token) {{
    __typename ... on EmailPreferences {{ {PREFERENCE_FIELDS} }} {ERROR_FIELDS}
  }}
}}"""
UPDATE_EMAIL_PREFERENCES = f"""
mutation UpdateEmailPreferences($input: EmailPreferencesInput!, $token: String) {{
  updateEmailPreferences(input: $input, token: $token) {{
    __typename ... on EmailPreferences {{ {PREFERENCE_FIELDS} }} {ERROR_FIELDS}
  }}
}}"""
EMAIL_DELIVERIES = """
query EmailDeliveries(
  $status: EmailStatus, $kind: EmailKind, $toAddress: String, $first: Int! = 50
) {
  emailDeliveries(first: $first, status: $status, kind: $kind, toAddress: $toAddress) {
    nodes {
      id messageId kind toAddress status attempts lastError createdAt nextAttemptAt
      sentAt failedAt recipient { id }
    }
  }
}"""
TYPE_FIELDS = "query TypeFields($name: String!) { __type(name: $name) { fields { name } } }"
BOOK_APPOINTMENT = f"""
mutation BookAppointment($input: BookAppointmentInput!) {{
  bookAppointment(input: $input) {{
    __typename ... on AppointmentPayload {{ appointment {{ id }} }} {ERROR_FIELDS}
  }}
}}"""

TOKEN = r"([A-Za-z0-9_-]+)"
PREFERENCES_TOKEN = r"([0-9a-f]+\.[0-9a-f]+)"
Status = models.EmailStatus
Kind = models.EmailKind


# ---- helpers ---------------------------------------------------------------------------------


def an_address(name: str = "someone") -> str:
    """An address nobody has, different on every run (rate limit counts outlive a run in
    Redis)."""
    return f"{name}-{uuid.uuid4().hex[:10]}@example.org"


def link_token(message: EmailMessage, route: str, token: str = TOKEN) -> str:
    """The token of the `<app>/#/<route>/<token>` link in an email's text."""
    found = re.search(re.escape(f"{TEST_APP_URL}/#/{route}/") + token, body_of(message))
    assert found, f"no {route} link in: {body_of(message)}"
    return found[1]


def preferences_token(message: EmailMessage) -> str:
    return link_token(message, "email-preferences", PREFERENCES_TOKEN)


def shouting(address: str) -> str:
    """The same address as a person might type it: other case, spaces around."""
    return f"  {address.upper()} \t"


async def request_reset(client: Any, email: str) -> dict[str, Any]:
    data = await client.execute(REQUEST_PASSWORD_RESET, {"email": email})
    return data["requestPasswordReset"]


async def reset_password(client: Any, token: str, new_password: str) -> dict[str, Any]:
    variables = {"token": token, "newPassword": new_password}
    return (await client.execute(RESET_PASSWORD, variables))["resetPassword"]


async def reset_link_for(client: Any, inbox: Any, address: str) -> str:
    """Ask for a reset link for `address` and read it from the email."""
    await request_reset(client, address)
    return link_token(await inbox.wait_for_one_to(address, "new password"), "reset-password")


async def register(client: Any, **overrides: Any) -> dict[str, Any]:
    fields = {"email": an_address("new"), "password": "a long enough passphrase"}
    fields |= {"firstName": "New", "lastName": "Patient"} | overrides
    return (await client.execute(REGISTER, {"input": fields}))["register"]


async def verify_email(client: Any, token: str) -> dict[str, Any]:
    return (await client.execute(VERIFY_EMAIL, {"token": token}))["verifyEmail"]


async def change_email(client: Any, as_: Any, new_email: str, password: str) -> dict[str, Any]:
    variables = {"newEmail": new_email, "currentPassword": password}
    return (await client.execute(CHANGE_EMAIL, variables, as_=as_))["changeEmail"]


async def login(client: Any, email: str, password: str) -> dict[str, Any]:
    return (await client.execute(LOGIN, {"email": email, "password": password}))["login"]


async def me(client: Any, as_: Any) -> dict[str, Any]:
    return (await client.execute(ME, as_=as_))["me"]


async def preferences(client: Any, as_: Any = None, token: str | None = None) -> dict[str, Any]:
    data = await client.execute(EMAIL_PREFERENCES, {"token": token}, as_=as_)
    return data["emailPreferences"]


async def update_preferences(
    client: Any, changes: dict[str, bool], as_: Any = None, token: str | None = None
) -> dict[str, Any]:
    variables = {"input": changes, "token": token}
    data = await client.execute(UPDATE_EMAIL_PREFERENCES, variables, as_=as_)
    return data["updateEmailPreferences"]


async def deliveries(client: Any, as_: Any, **filters: Any) -> list[dict[str, Any]]:
    data = await client.execute(EMAIL_DELIVERIES, filters, as_=as_)
    return data["emailDeliveries"]["nodes"]


def field_names(result: dict[str, Any]) -> list[str]:
    return [error["field"] for error in result["fieldErrors"]]


def without_typename(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "__typename"}


async def emails_to(address: str) -> list[models.EmailMessage]:
    return await models.EmailMessage.filter(to_address=address).order_by("created_at")


async def background_work_done() -> None:
    """Password reset requests are handled after the answer: wait for them."""
    await auth_resolvers.settled()


async def all_emails_handled(seconds: float = 30) -> None:
    """Every email in the outbox sent, failed or skipped."""
    deadline = time.monotonic() + seconds
    while await models.EmailMessage.filter(status=Status.PENDING).exists():
        assert time.monotonic() < deadline, "emails still pending"
        await asyncio.sleep(0.05)


async def password_hash_of(user: models.User) -> str:
    return (await models.User.get(id=user.id)).password_hash


def a_future_slot() -> datetime:
    day: date = datetime.now(UTC).date() + timedelta(weeks=6)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)


async def book(client: Any, as_: Any, doctor: Any) -> dict[str, Any]:
    variables = {
        "input": {
            "doctorId": str(doctor.id),
            "startsAt": a_future_slot().isoformat(),
            "reason": "Check-up",
        }
    }
    return (await client.execute(BOOK_APPOINTMENT, variables, as_=as_))["bookAppointment"]


# ---- password reset ----------------------------------------------------------------------


async def test_a_reset_link_sets_a_new_password_and_ends_every_session_from_before(
    client, inbox, patient
):
    # given
    address = patient.user.email
    asked = await request_reset(client, shouting(address))
    email = await inbox.wait_for_one_to(address, "Choose a new password")
    token = link_token(email, "reset-password")
    # when
    result = await reset_password(client, token, NEW_PASSWORD)
    # then
    assert asked["__typename"] == "EmailSent"
    assert result["__typename"] == "PasswordReset"
    assert (await login(client, address, NEW_PASSWORD))["__typename"] == "AuthPayload"
    assert (await login(client, address, TEST_PASSWORD))["__typename"] == "InvalidCredentials"
    assert await client.error_codes(ME, as_=patient.access_token) == ["UNAUTHENTICATED"]
    refreshed = await client.execute(REFRESH_TOKEN, {"refreshToken": patient.refresh_token})
    assert refreshed["refreshToken"]["__typename"] == "InvalidRefreshToken"
    notice = await inbox.wait_for_one_to(address, "Your password was changed")
    assert token not in body_of(notice)


async def test_a_reset_link_works_only_once(client, inbox, patient):
    # given
    token = await reset_link_for(client, inbox, patient.user.email)
    assert (await reset_password(client, token, NEW_PASSWORD))["__typename"] == "PasswordReset"
    # when
    again = await reset_password(client, token, "yet another passphrase")
    # then
    assert again["__typename"] == "InvalidEmailToken"
    assert again["code"] == "INVALID_EMAIL_TOKEN"
    assert (await login(client, patient.user.email, NEW_PASSWORD))["__typename"] == "AuthPayload"


async def test_using_a_reset_link_makes_the_earlier_ones_stop_working(client, inbox, patient):
    # given: two links, the first one asked for first
    address = patient.user.email
    await request_reset(client, address)
    first = link_token(await inbox.wait_for_one_to(address, "new password"), "reset-password")
    await request_reset(client, address)
    emails = await inbox.wait_for(
        lambda m: str(m["To"]) == address and "new password" in str(m["Subject"]), count=2
    )
    second = next(
        token for token in (link_token(m, "reset-password") for m in emails) if token != first
    )
    # when
    used = await reset_password(client, second, NEW_PASSWORD)
    earlier = await reset_password(client, first, "yet another passphrase")
    # then
    assert used["__typename"] == "PasswordReset"
    assert earlier["__typename"] == "InvalidEmailToken"
    assert (await login(client, address, NEW_PASSWORD))["__typename"] == "AuthPayload"


async def test_an_expired_reset_link_is_refused_and_changes_nothing(client, inbox, patient):
    # given
    token = await reset_link_for(client, inbox, patient.user.email)
    hash_before = await password_hash_of(patient.user)
    await models.EmailToken.filter(user_id=patient.user.id).update(
        expires_at=utcnow() - timedelta(seconds=1)
    )
    # when
    result = await reset_password(client, token, NEW_PASSWORD)
    # then
    assert result["__typename"] == "InvalidEmailToken"
    assert await password_hash_of(patient.user) == hash_before
    assert (await me(client, patient))["id"] == patient.id  # still signed in


async def test_a_weak_new_password_is_refused_naming_it_and_the_link_still_works(
    client, inbox, patient
):
    # given
    token = await reset_link_for(client, inbox, patient.user.email)
    hash_before = await password_hash_of(patient.user)
    # when
    refused = await reset_password(client, token, "short")
    # then: nothing written
    assert refused["__typename"] == "ValidationFailed"
    assert field_names(refused) == ["newPassword"]
    assert await password_hash_of(patient.user) == hash_before
    assert (await me(client, patient))["id"] == patient.id
    assert not await models.EmailMessage.filter(kind=Kind.PASSWORD_CHANGED).exists()
    # and the same link then sets a good password
    assert (await reset_password(client, token, NEW_PASSWORD))["__typename"] == "PasswordReset"
    assert await password_hash_of(patient.user) != hash_before


async def test_a_reset_link_confirms_an_address_that_was_not_confirmed_yet(client, inbox):
    # given
    user = await make_patient(email_verified_at=None)
    token = await reset_link_for(client, inbox, user.email)
    # when
    await reset_password(client, token, NEW_PASSWORD)
    # then
    signed_in = await login(client, user.email, NEW_PASSWORD)
    assert (await me(client, signed_in["accessToken"]))["emailVerified"] is True


async def test_an_unknown_address_gets_the_same_answer_and_no_email(client, inbox, patient):
    # given
    unknown = an_address("nobody")
    # when
    for_unknown = await client.post(REQUEST_PASSWORD_RESET, {"email": unknown})
    for_known = await client.post(REQUEST_PASSWORD_RESET, {"email": patient.user.email})
    # then
    assert for_unknown.status_code == for_known.status_code == 200
    assert for_unknown.json() == for_known.json()
    assert for_unknown.content == for_known.content
    assert for_known.json()["data"]["requestPasswordReset"]["__typename"] == "EmailSent"
    await inbox.wait_for_one_to(patient.user.email, "Choose a new password")
    await background_work_done()
    await all_emails_handled()
    assert inbox.to(unknown) == []
    assert [row.to_address for row in await models.EmailMessage.all()] == [patient.user.email]
    assert not await models.EmailToken.filter(email=unknown).exists()


async def test_a_deactivated_account_gets_no_reset_link(client, inbox, patient):
    # given
    gone = await make_patient(is_active=False)
    # when
    result = await request_reset(client, gone.email)
    await request_reset(client, patient.user.email)
    # then
    assert result["__typename"] == "EmailSent"
    await inbox.wait_for_one_to(patient.user.email, "Choose a new password")
    await background_work_done()
    assert await emails_to(gone.email) == []
    assert inbox.to(gone.email) == []


async def test_the_sixth_reset_request_for_one_address_in_an_hour_is_rate_limited(client, inbox):
    # given: five requests, however the address is spelled
    user = await make_patient()
    spellings = [user.email, user.email.upper(), f" {user.email} ", user.email.title()]
    for attempt in range(5):
        result = await request_reset(client, spellings[attempt % len(spellings)])
        assert result["__typename"] == "EmailSent"
    # when
    response = await client.post(REQUEST_PASSWORD_RESET, {"email": user.email})
    # then
    errors = response.json()["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["RATE_LIMITED"]
    assert errors[0]["extensions"]["retryAfterSeconds"] > 0
    assert int(response.headers["retry-after"]) > 0
    await background_work_done()
    assert len(await emails_to(user.email)) == 5
    # another address is not held back by this one's limit
    other = await make_patient()
    assert (await request_reset(client, other.email))["__typename"] == "EmailSent"


# ---- sign-up and address confirmation ----------------------------------------------------


async def test_signing_up_sends_a_link_that_confirms_the_address_once(client, inbox):
    # given
    address = an_address("sam")
    signed_up = await register(client, email=shouting(address))
    email = await inbox.wait_for_one_to(address, "Confirm your email address")
    token = link_token(email, "verify-email")
    signed_in = await login(client, address, "a long enough passphrase")
    assert (await me(client, signed_in["accessToken"]))["emailVerified"] is False
    # when
    verified = await verify_email(client, token)
    again = await verify_email(client, token)
    # then
    assert signed_up["__typename"] == "SignUpReceived"
    assert verified == {"__typename": "EmailVerified", "email": address}
    assert (await me(client, signed_in["accessToken"]))["emailVerified"] is True
    assert again["__typename"] == "InvalidEmailToken"


async def test_signing_up_with_a_taken_address_answers_the_same_and_tells_its_owner(client, inbox):
    # given
    owner = await make_patient(first_name="Owner", last_name="Original")
    before = await models.User.get(id=owner.id)
    new_one = {"password": "someone else's pass", "firstName": "Mallory", "lastName": "X"}
    # when
    for_new = await client.post(REGISTER, {"input": {"email": an_address("fresh"), **new_one}})
    for_taken = await client.post(REGISTER, {"input": {"email": shouting(owner.email), **new_one}})
    # then: the same answer
    assert for_new.json() == for_taken.json()
    assert for_taken.json()["data"]["register"]["__typename"] == "SignUpReceived"
    # the account is as it was, and nobody else has the address
    after = await models.User.get(id=owner.id)
    assert (after.first_name, after.last_name, after.password_hash, after.role) == (
        before.first_name,
        before.last_name,
        before.password_hash,
        before.role,
    )
    assert await models.User.filter(email=owner.email).count() == 1
    assert [row.kind for row in await emails_to(owner.email)] == [Kind.SIGN_UP_ATTEMPT]
    assert (await login(client, owner.email, "someone else's pass"))["__typename"] == (
        "InvalidCredentials"
    )
    # and the owner is told, with a reset link that works
    email = await inbox.wait_for_one_to(owner.email, "Someone tried to sign up with your address")
    token = link_token(email, "reset-password")
    assert (await reset_password(client, token, NEW_PASSWORD))["__typename"] == "PasswordReset"
    assert (await login(client, owner.email, NEW_PASSWORD))["__typename"] == "AuthPayload"


async def test_sign_ups_with_a_taken_address_tell_its_owner_once_an_hour(client, inbox):
    # given: an owner already told of one sign-up with their address
    owner = await make_patient()
    attempt = {"email": owner.email, "password": "someone else's pass"}
    attempt |= {"firstName": "Mallory", "lastName": "X"}
    first = await client.post(REGISTER, {"input": attempt})
    await inbox.wait_for_one_to(owner.email, "Someone tried to sign up")
    # when: someone tries again and again
    again = [await client.post(REGISTER, {"input": attempt}) for _ in range(3)]
    # then: the same answer each time, and no more emails (nor reset links) within the hour
    assert all(response.json() == first.json() for response in again)
    await all_emails_handled()
    assert [row.kind for row in await emails_to(owner.email)] == [Kind.SIGN_UP_ATTEMPT]
    assert await models.EmailToken.filter(user_id=owner.id).count() == 1
    # ... and an hour later, the owner hears of the next one
    await models.EmailMessage.filter(recipient_id=owner.id).update(
        created_at=utcnow() - timedelta(minutes=61)
    )
    await client.post(REGISTER, {"input": attempt})
    assert [row.kind for row in await emails_to(owner.email)] == [Kind.SIGN_UP_ATTEMPT] * 2


async def test_an_unverified_patient_cannot_book_until_the_address_is_confirmed(
    client, inbox, live_server
):
    # given
    user = await make_patient(email_verified_at=None)
    unverified = await sign_in(user, live_server.settings)
    doctor = await make_doctor()
    await make_schedule(doctor)
    # when
    refused = await book(client, unverified, doctor)
    # then: nothing written
    assert refused["__typename"] == "EmailNotVerified"
    assert refused["code"] == "EMAIL_NOT_VERIFIED"
    assert await models.Appointment.all().count() == 0
    # when the address is confirmed
    sent = (await client.execute(RESEND_VERIFICATION_EMAIL, as_=unverified))[
        "resendVerificationEmail"
    ]
    email = await inbox.wait_for_one_to(user.email, "Confirm your email address")
    assert (await verify_email(client, link_token(email, "verify-email")))["__typename"] == (
        "EmailVerified"
    )
    booked = await book(client, unverified, doctor)
    # then
    assert sent["__typename"] == "EmailSent"
    assert booked["__typename"] == "AppointmentPayload"
    assert await models.Appointment.filter(patient_id=user.id).count() == 1


async def test_asking_for_the_confirmation_again_sends_another_link_that_works(
    client, inbox, live_server
):
    # given: signed up, first link received
    address = an_address("again")
    await register(client, email=address)
    first = link_token(await inbox.wait_for_one_to(address, "Confirm"), "verify-email")
    signed_in = await login(client, address, "a long enough passphrase")
    # when
    await client.execute(RESEND_VERIFICATION_EMAIL, as_=signed_in["accessToken"])
    emails = await inbox.wait_for(lambda m: str(m["To"]) == address, count=2)
    second = next(
        token for token in (link_token(m, "verify-email") for m in emails) if token != first
    )
    # then
    assert (await verify_email(client, second))["__typename"] == "EmailVerified"
    assert (await me(client, signed_in["accessToken"]))["emailVerified"] is True


async def test_asking_for_the_confirmation_of_a_confirmed_address_sends_nothing(client, patient):
    # when
    result = await client.execute(RESEND_VERIFICATION_EMAIL, as_=patient)
    # then
    assert result["resendVerificationEmail"]["__typename"] == "EmailSent"
    assert await models.EmailMessage.all().count() == 0
    assert await models.EmailToken.all().count() == 0


async def test_asking_for_the_confirmation_signed_out_needs_a_sign_in(client):
    # when
    codes = await client.error_codes(RESEND_VERIFICATION_EMAIL)
    # then
    assert codes == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 300])
async def test_a_made_up_confirmation_link_is_refused(client, token):
    # when
    result = await verify_email(client, token)
    # then
    assert result["__typename"] == "InvalidEmailToken"


# ---- change of address -------------------------------------------------------------------


async def test_changing_the_address_with_a_wrong_password_is_refused_and_sends_nothing(
    client, patient
):
    # when
    result = await change_email(client, patient, an_address("new"), "not my password")
    # then
    assert result["__typename"] == "InvalidCredentials"
    assert await models.EmailMessage.all().count() == 0
    assert await models.EmailToken.all().count() == 0


@pytest.mark.parametrize("new_email", ["not-an-email", "two@@example.org", ""])
async def test_a_malformed_new_address_is_refused_naming_new_email(client, patient, new_email):
    # when
    result = await change_email(client, patient, new_email, TEST_PASSWORD)
    # then
    assert result["__typename"] == "ValidationFailed"
    assert field_names(result) == ["newEmail"]
    assert await models.EmailMessage.all().count() == 0
    assert await models.EmailToken.all().count() == 0


async def test_a_new_address_becomes_the_accounts_only_once_its_link_is_opened(
    client, inbox, patient
):
    # given
    old = patient.user.email
    new = an_address("moved")
    asked = await change_email(client, patient, shouting(new), TEST_PASSWORD)
    link = await inbox.wait_for_one_to(new, "Confirm your new email address")
    notice = await inbox.wait_for_one_to(old, "A change of your email address was asked for")
    token = link_token(link, "verify-email")
    assert token not in body_of(notice)
    assert (await me(client, patient))["email"] == old
    assert (await login(client, old, TEST_PASSWORD))["__typename"] == "AuthPayload"
    # when
    verified = await verify_email(client, token)
    # then
    assert asked["__typename"] == "EmailSent"
    assert verified == {"__typename": "EmailVerified", "email": new}
    assert (await me(client, patient))["email"] == new
    await inbox.wait_for_one_to(old, "Your email address was changed")
    assert (await login(client, new, TEST_PASSWORD))["__typename"] == "AuthPayload"
    assert (await login(client, old, TEST_PASSWORD))["__typename"] == "InvalidCredentials"
    assert (await verify_email(client, token))["__typename"] == "InvalidEmailToken"


async def test_asking_for_an_address_another_account_has_answers_the_same_and_sends_it_nothing(
    client, inbox, patient, other_patient
):
    # given
    taken = other_patient.user.email
    free = an_address("free")
    # when
    for_free = await change_email(client, patient, free, TEST_PASSWORD)
    for_taken = await change_email(client, patient, shouting(taken), TEST_PASSWORD)
    # then
    assert for_taken == for_free
    assert for_taken["__typename"] == "EmailSent"
    await inbox.wait_for_one_to(free, "Confirm your new email address")
    await all_emails_handled()
    assert [row.kind for row in await emails_to(taken)] == []
    assert inbox.to(taken) == []
    assert not await models.EmailToken.filter(email=taken).exists()
    assert (await me(client, patient))["email"] == patient.user.email


async def test_asking_for_a_taken_address_tells_the_current_address_as_a_free_one_would(
    client, inbox, live_server, patient, other_patient
):
    """What the requester's own inbox gets must not differ either: otherwise a user learns
    from their own mail which addresses have an account."""
    # given
    another = await sign_in(await make_patient(), live_server.settings)
    # when: one asks for a free address, the other for a taken one
    await change_email(client, another, an_address("free"), TEST_PASSWORD)
    await change_email(client, patient, other_patient.user.email, TEST_PASSWORD)
    # then: both current addresses hear of it alike
    await inbox.wait_for_one_to(another.user.email, "A change of your email address")
    await all_emails_handled()
    assert [row.kind for row in await emails_to(patient.user.email)] == [Kind.EMAIL_CHANGE_NOTICE]


async def test_a_password_reset_voids_a_change_of_address_asked_for_before_it(
    client, inbox, patient
):
    """Whoever phished the password asks to move the account to their address; its owner,
    warned by the notice, resets the password: the intruder's link must die with it."""
    # given: a change asked for, its link at the new address
    intruder = an_address("intruder")
    await change_email(client, patient, intruder, TEST_PASSWORD)
    token = link_token(await inbox.wait_for_one_to(intruder, "Confirm your new"), "verify-email")
    # when: the owner resets the password
    reset = await reset_password(
        client, await reset_link_for(client, inbox, patient.user.email), NEW_PASSWORD
    )
    # then: the change's link no longer works, and the account keeps its address
    assert reset["__typename"] == "PasswordReset"
    assert (await verify_email(client, token))["__typename"] == "InvalidEmailToken"
    assert (await login(client, patient.user.email, NEW_PASSWORD))["__typename"] == "AuthPayload"
    assert (await login(client, intruder, NEW_PASSWORD))["__typename"] == "InvalidCredentials"


async def test_a_password_change_voids_a_change_of_address_asked_for_before_it(
    client, inbox, patient
):
    # given: a change asked for, its link at the new address
    intruder = an_address("intruder")
    await change_email(client, patient, intruder, TEST_PASSWORD)
    token = link_token(await inbox.wait_for_one_to(intruder, "Confirm your new"), "verify-email")
    # when: the owner changes the password, signed in
    changed = await client.execute(
        "mutation Change($current: String!, $new: String!) {"
        " changePassword(currentPassword: $current, newPassword: $new) { __typename } }",
        {"current": TEST_PASSWORD, "new": NEW_PASSWORD},
        as_=patient,
    )
    # then
    assert changed["changePassword"]["__typename"] == "AuthPayload"
    assert (await verify_email(client, token))["__typename"] == "InvalidEmailToken"
    assert await models.User.filter(id=patient.user.id, email=patient.user.email).exists()


async def test_a_sign_up_link_opened_after_the_address_changed_does_not_bring_it_back(
    client, inbox, live_server
):
    # given: a new account's confirmation link to its first address, then the account
    # moved to another address by that address's link
    first, second = an_address("first"), an_address("second")
    await register(client, email=first, password=NEW_PASSWORD)
    sign_up_token = link_token(await inbox.wait_for_one_to(first, "Confirm"), "verify-email")
    user = await models.User.get(email=first)
    person = await sign_in(user, live_server.settings)
    await change_email(client, person, second, NEW_PASSWORD)
    move_token = link_token(await inbox.wait_for_one_to(second, "Confirm your new"), "verify-email")
    assert (await verify_email(client, move_token))["__typename"] == "EmailVerified"
    # when: the first link is opened
    late = await verify_email(client, sign_up_token)
    # then: refused; the account keeps its new address
    assert late["__typename"] == "InvalidEmailToken"
    assert (await models.User.get(id=user.id)).email == second


async def test_verifying_a_new_address_someone_took_meanwhile_changes_nothing(
    client, inbox, patient
):
    # given: a link to an address that an account is then made with
    new = an_address("raced")
    await change_email(client, patient, new, TEST_PASSWORD)
    token = link_token(await inbox.wait_for_one_to(new, "Confirm your new"), "verify-email")
    await make_patient(email=new)
    # when
    response = await client.post(VERIFY_EMAIL, {"token": token})
    # then
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["verifyEmail"]["__typename"] in {"InvalidEmailToken", "ValidationFailed"}
    assert (await me(client, patient))["email"] == patient.user.email
    assert await models.User.filter(email=new).count() == 1


# ---- email preferences -------------------------------------------------------------------


async def test_each_role_starts_with_its_own_email_preferences(client, patient, doctor, admin):
    # when
    of_patient = await preferences(client, patient)
    of_doctor = await preferences(client, doctor)
    of_admin = await preferences(client, admin)
    # then
    assert without_typename(of_patient) == {
        "appointmentChanges": True,
        "reminders": True,
        "chatMessages": True,
        "consultationUpdates": True,
    }
    assert without_typename(of_doctor) == {
        "appointmentChanges": True,
        "reminders": False,
        "chatMessages": True,
        "consultationUpdates": False,
    }
    assert without_typename(of_admin) == {
        "appointmentChanges": False,
        "reminders": False,
        "chatMessages": True,
        "consultationUpdates": False,
    }


async def test_preferences_change_again_and_again(client, patient):
    # when: a second and a third change, to the row the first one wrote
    await update_preferences(client, {"reminders": False}, patient)
    await update_preferences(client, {"chatMessages": False}, patient)
    last = await update_preferences(client, {"reminders": True}, patient)
    # then
    expected = {
        "appointmentChanges": True,
        "reminders": True,
        "chatMessages": False,
        "consultationUpdates": True,
    }
    assert without_typename(last) == expected
    assert without_typename(await preferences(client, patient)) == expected


async def test_a_signed_in_user_changes_some_topics_and_keeps_the_others(client, doctor):
    # when
    changed = await update_preferences(client, {"reminders": True, "chatMessages": False}, doctor)
    # then
    expected = {
        "appointmentChanges": True,
        "reminders": True,
        "chatMessages": False,
        "consultationUpdates": False,
    }
    assert without_typename(changed) == expected
    assert without_typename(await preferences(client, doctor)) == expected


async def test_the_link_at_the_end_of_an_email_opens_the_preferences_signed_out(
    client, inbox, patient
):
    # given
    await request_reset(client, patient.user.email)
    token = preferences_token(await inbox.wait_for_one_to(patient.user.email, "new password"))
    # when
    seen = await preferences(client, token=token)
    changed = await update_preferences(client, {"reminders": False}, token=token)
    # then
    assert seen["__typename"] == "EmailPreferences"
    assert seen["reminders"] is True
    assert changed["reminders"] is False
    assert changed["appointmentChanges"] is True
    assert (await preferences(client, patient))["reminders"] is False


async def test_a_tampered_preferences_link_is_refused_and_changes_nothing(
    client, live_server, patient, other_patient
):
    # given
    token = preferences_link_token(patient.user.id, live_server.settings)
    other_token = preferences_link_token(other_patient.user.id, live_server.settings)
    user_part, _, mac = token.partition(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    tampered = [
        f"{user_part}.{flipped}",
        f"{other_token.partition('.')[0]}.{mac}",  # another user's id with this mac
        user_part,
        f"{user_part}.",
        "not-a-token",
    ]
    for bad in tampered:
        # when
        seen = await preferences(client, token=bad)
        changed = await update_preferences(client, {"chatMessages": False}, token=bad)
        # then
        assert seen["__typename"] == "InvalidEmailToken", bad
        assert changed["__typename"] == "InvalidEmailToken", bad
        assert changed["code"] == "INVALID_EMAIL_TOKEN"
    assert await models.EmailPreferences.all().count() == 0


async def test_preferences_signed_out_without_a_link_need_a_sign_in(client):
    # when
    reading = await client.error_codes(EMAIL_PREFERENCES, {"token": None})
    changing = await client.error_codes(
        UPDATE_EMAIL_PREFERENCES, {"input": {"reminders": False}, "token": None}
    )
    # then
    assert reading == ["UNAUTHENTICATED"]
    assert changing == ["UNAUTHENTICATED"]
    assert await models.EmailPreferences.all().count() == 0


async def test_a_patient_who_turned_appointment_emails_off_gets_none_while_the_doctor_does(
    client, inbox, patient, doctor
):
    # given
    await update_preferences(client, {"appointmentChanges": False}, patient)
    await make_schedule(doctor.user)
    # when
    booked = await book(client, patient, doctor.user)
    # then
    assert booked["__typename"] == "AppointmentPayload"
    await inbox.wait_for_one_to(doctor.user.email, "Appointment booked")
    await all_emails_handled()
    assert await emails_to(patient.user.email) == []
    assert inbox.to(patient.user.email) == []


# ---- the delivery list -----------------------------------------------------------------------


async def test_only_administrators_see_email_deliveries(client, patient, doctor):
    # when
    as_patient = await client.error_codes(EMAIL_DELIVERIES, as_=patient)
    as_doctor = await client.error_codes(EMAIL_DELIVERIES, as_=doctor)
    anonymous = await client.error_codes(EMAIL_DELIVERIES)
    # then
    assert as_patient == ["FORBIDDEN"]
    assert as_doctor == ["FORBIDDEN"]
    assert anonymous == ["UNAUTHENTICATED"]


async def test_email_deliveries_filter_by_status_kind_and_address(
    client, inbox, live_server, admin
):
    # given: a reset link sent, one refused by the server, a confirmation link sent
    sent_to = await make_patient()
    refused_to = await make_patient()
    unverified = await sign_in(await make_patient(email_verified_at=None), live_server.settings)
    inbox.refused.add(refused_to.email)
    await request_reset(client, sent_to.email)
    await request_reset(client, refused_to.email)
    await client.execute(RESEND_VERIFICATION_EMAIL, as_=unverified)
    await background_work_done()
    await all_emails_handled()
    # when
    everything = await deliveries(client, admin)
    failed = await deliveries(client, admin, status="FAILED")
    confirmations = await deliveries(client, admin, kind="VERIFY_EMAIL")
    to_one = await deliveries(client, admin, toAddress=shouting(sent_to.email))
    sent_resets = await deliveries(client, admin, status="SENT", kind="PASSWORD_RESET")
    # then
    assert len(everything) == 3
    assert [(row["toAddress"], row["kind"]) for row in failed] == [
        (refused_to.email, "PASSWORD_RESET")
    ]
    assert [row["toAddress"] for row in confirmations] == [unverified.user.email]
    assert [(row["toAddress"], row["status"]) for row in to_one] == [(sent_to.email, "SENT")]
    assert [row["toAddress"] for row in sent_resets] == [sent_to.email]
    assert to_one[0]["recipient"] == {"id": str(sent_to.id)}
    assert to_one[0]["sentAt"] is not None
    assert to_one[0]["nextAttemptAt"] is None


async def test_a_failed_email_shows_the_servers_answer_and_no_content(client, inbox, admin):
    # given
    user = await make_patient()
    inbox.refused.add(user.email)
    await request_reset(client, user.email)
    await background_work_done()
    await all_emails_handled()
    row = (await emails_to(user.email))[0]
    # when
    response = await client.post(EMAIL_DELIVERIES, {"status": "FAILED"}, as_=admin)
    # then
    [failed] = response.json()["data"]["emailDeliveries"]["nodes"]
    assert failed["status"] == "FAILED"
    assert failed["toAddress"] == user.email
    assert "550" in failed["lastError"]
    assert failed["failedAt"] is not None
    assert failed["attempts"] >= 1
    assert row.subject not in response.text
    assert "reset-password" not in response.text


async def test_the_delivery_type_has_no_field_that_could_hold_an_emails_content(client, admin):
    # when
    data = await client.execute(TYPE_FIELDS, {"name": "EmailDelivery"}, as_=admin)
    # then
    names = [field["name"] for field in data["__type"]["fields"]]
    assert "toAddress" in names  # the right type was read
    content_like = ("body", "subject", "calendar", "content", "text", "html", "link", "token")
    assert [name for name in names if any(word in name.lower() for word in content_like)] == []


# ---- malformed addresses -----------------------------------------------------------------


MALFORMED = ["not-an-email", "two@@example.org", "", "   ", "no-domain@", "a b@example.org"]


@pytest.mark.parametrize("email", MALFORMED)
async def test_a_malformed_address_asking_for_a_reset_is_refused_naming_it(client, email):
    # when
    result = await request_reset(client, email)
    # then
    assert result["__typename"] == "ValidationFailed"
    assert field_names(result) == ["email"]
    await background_work_done()
    assert await models.EmailMessage.all().count() == 0
    assert await models.EmailToken.all().count() == 0


@pytest.mark.parametrize("email", MALFORMED)
async def test_a_malformed_address_signing_up_is_refused_naming_it(client, email):
    # when
    result = await register(client, email=email)
    # then
    assert result["__typename"] == "ValidationFailed"
    assert field_names(result) == ["email"]
    assert await models.User.all().count() == 0
    assert await models.EmailMessage.all().count() == 0
    assert await models.EmailToken.all().count() == 0
