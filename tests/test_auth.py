"""Sign-up, sign-in, access and refresh tokens, sign-out, passwords and deactivation."""

import asyncio
import base64
import json
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest

from healthcare import models
from healthcare.config import Settings
from healthcare.security import auth
from tests.conftest import TEST_JWT_SECRET, TEST_PASSWORD, make_patient

NEW_PASSWORD = "a brand new passphrase"
SESSION = """
fragment Session on AuthPayload {
  accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt
  user { id email role }
}
"""
ERROR_FIELDS = "... on Error { code message }"
FIELD_ERRORS = "... on ValidationFailed { fieldErrors { field } }"
REGISTER = f"""
mutation Register($input: RegisterInput!) {{
  register(input: $input) {{
    __typename ... on SignUpReceived {{ message }} {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}"""
REGISTER_LITERAL = """
mutation RegisterWithExtra($email: String!) {
  register(input: {email: $email, password: "a long enough passphrase",
                   firstName: "Eve", lastName: "Admin", EXTRA}) { __typename }
}"""
LOGIN = f"""
mutation Login($email: String!, $password: String!) {{
  login(email: $email, password: $password) {{ __typename ...Session {ERROR_FIELDS} }}
}}
{SESSION}"""
REFRESH_TOKEN = f"""
mutation RefreshToken($refreshToken: String!) {{
  refreshToken(refreshToken: $refreshToken) {{ __typename ...Session {ERROR_FIELDS} }}
}}
{SESSION}"""
LOGOUT = "mutation Logout($everywhere: Boolean!) { logout(everywhere: $everywhere) }"
CHANGE_PASSWORD = f"""
mutation ChangePassword($currentPassword: String!, $newPassword: String!) {{
  changePassword(currentPassword: $currentPassword, newPassword: $newPassword) {{
    __typename ...Session {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}
{SESSION}"""
SET_USER_ACTIVE = f"""
mutation SetUserActive($userId: ID!, $active: Boolean!) {{
  setUserActive(userId: $userId, active: $active) {{
    __typename ... on UserPayload {{ user {{ id isActive }} }} {ERROR_FIELDS} {FIELD_ERRORS}
  }}
}}"""
ME = "query Me { me { id email role } }"


def registration(**overrides: Any) -> dict[str, Any]:
    fields = {"email": "new.patient@example.org", "password": "a long enough passphrase"}
    return fields | {"firstName": "New", "lastName": "Patient"} | overrides


async def register(client, **overrides: Any) -> dict[str, Any]:
    data = await client.execute(REGISTER, {"input": registration(**overrides)})
    return data["register"]


async def login(client, email: str, password: str) -> dict[str, Any]:
    return (await client.execute(LOGIN, {"email": email, "password": password}))["login"]


async def refresh(client, refresh_token: str) -> dict[str, Any]:
    data = await client.execute(REFRESH_TOKEN, {"refreshToken": refresh_token})
    return data["refreshToken"]


async def login_kind(client, email: str, password: str) -> str:
    return (await login(client, email, password))["__typename"]


async def refresh_kind(client, refresh_token: str) -> str:
    return (await refresh(client, refresh_token))["__typename"]


async def change_password(client, persona, current: str, new: str) -> dict[str, Any]:
    variables = {"currentPassword": current, "newPassword": new}
    return (await client.execute(CHANGE_PASSWORD, variables, as_=persona))["changePassword"]


async def me_id(client, token: str) -> str:
    return (await client.execute(ME, as_=token))["me"]["id"]


def codes_of(errors: list[dict[str, Any]]) -> list[str | None]:
    return [error.get("extensions", {}).get("code") for error in errors]


def field_names(result: dict[str, Any]) -> list[str]:
    return [error["field"] for error in result["fieldErrors"]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def forge(token: str, key: str = TEST_JWT_SECRET, algorithm: str = "HS256", **changes) -> str:
    """A signed token with a real token's claims (same user, live session), changed as asked;
    a claim changed to None is left out."""
    claims = {
        name: value for name, value in (claims_of(token) | changes).items() if value is not None
    }
    return jwt.encode(claims, key, algorithm=algorithm)


async def test_register_creates_a_patient_who_then_signs_in(client):
    # when
    result = await register(client, email="sam@example.org")
    signed_in = await login(client, "sam@example.org", registration()["password"])
    # then
    assert result["__typename"] == "SignUpReceived"
    assert signed_in["__typename"] == "AuthPayload"
    assert signed_in["user"]["role"] == "PATIENT"
    assert signed_in["user"]["email"] == "sam@example.org"
    assert await me_id(client, signed_in["accessToken"]) == signed_in["user"]["id"]
    stored = await models.User.get(email="sam@example.org")
    assert stored.role == models.Role.PATIENT


@pytest.mark.parametrize("extra", [{"role": "ADMIN"}, {"isAdmin": True}], ids=["role", "isAdmin"])
async def test_register_refuses_any_attempt_to_choose_a_role_and_creates_nobody(client, extra):
    # given
    variables = {"input": registration(email="climber@example.org", **extra)}
    # when
    response = await client.post(REGISTER, variables)
    # then
    body = response.json()
    assert body.get("data") is None
    assert "INTERNAL_SERVER_ERROR" not in codes_of(body["errors"])  # a validation error, not a bug
    assert next(iter(extra)) in body["errors"][0]["message"]
    assert not await models.User.filter(email="climber@example.org").exists()


@pytest.mark.parametrize(
    ("field", "literal"), [("role", "role: ADMIN"), ("isAdmin", "isAdmin: true")]
)
async def test_register_refuses_a_role_written_into_the_query_itself(client, field, literal):
    # given
    query = REGISTER_LITERAL.replace("EXTRA", literal)
    # when
    errors = await client.errors(query, {"email": "eve@example.org"})
    # then
    assert "INTERNAL_SERVER_ERROR" not in codes_of(errors)  # a validation error, not a bug
    assert field in errors[0]["message"]
    assert not await models.User.filter(email="eve@example.org").exists()


async def test_register_answers_the_same_for_a_new_and_a_taken_address(client):
    # given
    first = await register(client, email="alice@example.org")
    # when: the same address, spelled another way, with another password
    again = await register(client, email="Alice@Example.org", password="someone else's pass")
    # then: the same answer, and the account is untouched
    assert again == first
    assert again["__typename"] == "SignUpReceived"
    assert await models.User.filter(email__iexact="alice@example.org").count() == 1
    assert await models.User.all().count() == 1
    assert await login_kind(client, "alice@example.org", "someone else's pass") == (
        "InvalidCredentials"
    )
    assert await login_kind(client, "alice@example.org", registration()["password"]) == (
        "AuthPayload"
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.org"}, "email"),
        ({"password": "short1!"}, "password"),
    ],
)
async def test_a_bad_email_or_weak_password_is_refused_naming_the_field_and_creates_nobody(
    client, overrides, field
):
    # when
    result = await register(client, **overrides)
    # then
    assert result["__typename"] == "ValidationFailed"
    assert result["code"] == "VALIDATION_FAILED"
    assert field_names(result) == [field]
    assert await models.User.all().count() == 0


async def test_a_wrong_password_and_an_unknown_email_give_exactly_the_same_answer(client):
    # given
    user = await make_patient(email="known@example.org")
    # when
    wrong_password = await login(client, user.email, "not the right password")
    unknown_email = await login(client, "nobody@example.org", TEST_PASSWORD)
    # then
    assert wrong_password["__typename"] == "InvalidCredentials"
    assert wrong_password["code"] == "INVALID_CREDENTIALS"
    assert wrong_password == unknown_email


async def test_a_deactivated_user_with_the_right_password_is_told_so(client):
    # given
    user = await make_patient(is_active=False)
    # when
    result = await login(client, user.email, TEST_PASSWORD)
    # then
    assert result["__typename"] == "AccountDeactivated"
    assert result["code"] == "ACCOUNT_DEACTIVATED"


async def test_login_matches_the_email_without_regard_to_case(client):
    # given
    user = await make_patient(email="dana@example.org")
    # when
    result = await login(client, "DANA@Example.ORG", TEST_PASSWORD)
    # then
    assert result["__typename"] == "AuthPayload"
    assert result["user"]["id"] == str(user.id)
    assert await me_id(client, result["accessToken"]) == str(user.id)


async def test_the_access_token_is_a_short_lived_hs256_jwt_with_every_claim(client):
    # given
    user = await make_patient()
    # when
    result = await login(client, user.email, TEST_PASSWORD)
    # then
    token = result["accessToken"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    assert {"sub", "sid", "exp", "iat", "jti", "typ"} <= set(claims)
    assert claims["typ"] == "access"
    assert claims["sub"] == str(user.id)
    assert 0 < claims["exp"] - claims["iat"] <= 900
    assert claims["exp"] > time.time()


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload changed and its original signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url(json.dumps(claims_of(token) | changes).encode())}.{signature}"


def unsigned(token: str) -> str:
    """The token's payload under an `alg: none` header, with no signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{token.split('.')[1]}."


# Each takes the signed-in patient and another user, and spoils the patient's token.
SPOILERS = {
    "expired": lambda me, _: forge(
        me.access_token, iat=int(time.time()) - 4500, exp=int(time.time()) - 3600
    ),
    "malformed": lambda me, _: "this.is-not-a.jwt",
    "alg none": lambda me, _: unsigned(me.access_token),
    "another key": lambda me, _: forge(me.access_token, key="another-secret-" + "y" * 40),
    "HS512": lambda me, _: forge(me.access_token, algorithm="HS512"),
    "sub swapped": lambda me, other: tampered(me.access_token, sub=other.id),
    "refresh token": lambda me, _: me.refresh_token,
    "no exp": lambda me, _: forge(me.access_token, exp=None),
}


async def test_a_token_forged_with_the_right_key_and_claims_works_as_control(client, patient):
    # when
    me = await me_id(client, forge(patient.access_token))
    # then
    assert me == patient.id


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("flaw", SPOILERS)
async def test_a_bad_access_token_is_unauthenticated(client, patient, other_patient, flaw):
    # given
    token = SPOILERS[flaw](patient, other_patient)
    # when
    codes = await client.error_codes(ME, as_=token)
    # then
    assert codes == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("scheme", ["Token {}", "Basic {}", "{}", "Bearer"])
async def test_an_authorization_header_that_is_not_bearer_is_unauthenticated(
    client, patient, scheme
):
    # given
    headers = {"authorization": scheme.format(patient.access_token)}
    # when
    response = await client.post(ME, headers=headers)
    # then
    assert codes_of(response.json()["errors"]) == ["UNAUTHENTICATED"]


async def test_refreshing_gives_a_working_new_pair_and_spends_the_old_refresh_token(
    client, patient
):
    # when
    rotated = await refresh(client, patient.refresh_token)
    # then
    assert rotated["__typename"] == "AuthPayload"
    assert rotated["refreshToken"] != patient.refresh_token
    assert rotated["accessToken"] != patient.access_token
    assert await me_id(client, rotated["accessToken"]) == patient.id
    again = await refresh(client, patient.refresh_token)
    assert again["__typename"] == "InvalidRefreshToken"
    assert again["code"] == "INVALID_REFRESH_TOKEN"


async def test_a_spent_refresh_token_revokes_the_whole_family(client, patient):
    # given
    rotated = await refresh(client, patient.refresh_token)
    assert await me_id(client, rotated["accessToken"]) == patient.id
    # when
    replayed = await refresh(client, patient.refresh_token)
    # then
    assert replayed["__typename"] == "InvalidRefreshToken"
    assert await client.error_codes(ME, as_=rotated["accessToken"]) == ["UNAUTHENTICATED"]
    assert await refresh_kind(client, rotated["refreshToken"]) == "InvalidRefreshToken"


async def test_an_unknown_refresh_token_is_invalid(client):
    # when
    result = await refresh(client, secrets.token_urlsafe(32))
    # then
    assert result["__typename"] == "InvalidRefreshToken"
    assert result["code"] == "INVALID_REFRESH_TOKEN"


async def test_ten_concurrent_refreshes_with_one_token_yield_exactly_one_new_pair(client, patient):
    # when
    results = await asyncio.gather(*(refresh(client, patient.refresh_token) for _ in range(10)))
    # then
    kinds = sorted(result["__typename"] for result in results)
    assert kinds == ["AuthPayload"] + ["InvalidRefreshToken"] * 9


async def test_logout_ends_this_session_but_not_the_users_other_sessions(client, patient):
    # given
    other_session = await login(client, patient.user.email, TEST_PASSWORD)
    # when
    data = await client.execute(LOGOUT, {"everywhere": False}, as_=patient)
    # then
    assert data["logout"] is True
    assert await client.error_codes(ME, as_=patient.access_token) == ["UNAUTHENTICATED"]
    assert await refresh_kind(client, patient.refresh_token) == "InvalidRefreshToken"
    assert await me_id(client, other_session["accessToken"]) == patient.id
    assert await refresh_kind(client, other_session["refreshToken"]) == "AuthPayload"


async def test_logout_everywhere_ends_every_session_of_the_user(client, patient, other_patient):
    # given
    other_session = await login(client, patient.user.email, TEST_PASSWORD)
    # when
    await client.execute(LOGOUT, {"everywhere": True}, as_=patient)
    # then
    assert await client.error_codes(ME, as_=patient.access_token) == ["UNAUTHENTICATED"]
    assert await client.error_codes(ME, as_=other_session["accessToken"]) == ["UNAUTHENTICATED"]
    assert await refresh_kind(client, other_session["refreshToken"]) == "InvalidRefreshToken"
    assert await me_id(client, other_patient.access_token) == other_patient.id


async def test_logout_without_a_token_is_unauthenticated(client):
    # when
    codes = await client.error_codes(LOGOUT, {"everywhere": False})
    # then
    assert codes == ["UNAUTHENTICATED"]


async def test_a_wrong_current_password_is_refused_and_nothing_changes(client, patient):
    # when
    result = await change_password(client, patient, "not my password", NEW_PASSWORD)
    # then
    assert result["__typename"] == "InvalidCredentials"
    assert result["code"] == "INVALID_CREDENTIALS"
    assert await me_id(client, patient.access_token) == patient.id
    assert await login_kind(client, patient.user.email, NEW_PASSWORD) == "InvalidCredentials"


async def test_a_weak_new_password_is_refused_naming_new_password(client, patient):
    # when
    result = await change_password(client, patient, TEST_PASSWORD, "short")
    # then
    assert result["__typename"] == "ValidationFailed"
    assert result["code"] == "VALIDATION_FAILED"
    assert field_names(result) == ["newPassword"]
    assert await login_kind(client, patient.user.email, TEST_PASSWORD) == "AuthPayload"


async def test_a_weak_new_password_is_refused_before_the_current_one_is_checked(client, patient):
    # when: a wrong current password and a weak new one, then the right one and a weak one
    with_wrong = await change_password(client, patient, "not my password", "short")
    with_right = await change_password(client, patient, TEST_PASSWORD, "short")
    # then: the same answer, which tells nothing of the current password
    assert with_wrong == with_right
    assert with_wrong["__typename"] == "ValidationFailed"


async def test_changing_the_password_ends_old_sessions_and_only_the_new_password_works(
    client, patient
):
    # given
    other_session = await login(client, patient.user.email, TEST_PASSWORD)
    # when
    fresh = await change_password(client, patient, TEST_PASSWORD, NEW_PASSWORD)
    # then
    assert fresh["__typename"] == "AuthPayload"
    assert await me_id(client, fresh["accessToken"]) == patient.id
    for old in (patient.access_token, other_session["accessToken"]):
        assert await client.error_codes(ME, as_=old) == ["UNAUTHENTICATED"]
    for old in (patient.refresh_token, other_session["refreshToken"]):
        assert await refresh_kind(client, old) == "InvalidRefreshToken"
    assert await login_kind(client, patient.user.email, NEW_PASSWORD) == "AuthPayload"
    assert await login_kind(client, patient.user.email, TEST_PASSWORD) == "InvalidCredentials"


async def test_deactivation_cuts_off_a_live_access_token_and_reactivation_allows_login(
    client, admin, patient
):
    # given
    assert await me_id(client, patient.access_token) == patient.id
    # when
    data = await client.execute(SET_USER_ACTIVE, {"userId": patient.id, "active": False}, as_=admin)
    # then
    assert data["setUserActive"]["user"] == {"id": patient.id, "isActive": False}
    assert await client.error_codes(ME, as_=patient.access_token) == ["UNAUTHENTICATED"]
    assert await login_kind(client, patient.user.email, TEST_PASSWORD) == "AccountDeactivated"
    # when
    await client.execute(SET_USER_ACTIVE, {"userId": patient.id, "active": True}, as_=admin)
    # then
    again = await login(client, patient.user.email, TEST_PASSWORD)
    assert again["__typename"] == "AuthPayload"
    assert await me_id(client, again["accessToken"]) == patient.id


@pytest.mark.parametrize(
    ("caller", "code"),
    [("patient", "FORBIDDEN"), ("doctor", "FORBIDDEN"), (None, "UNAUTHENTICATED")],
)
async def test_only_admins_may_deactivate_accounts(
    client, patient, doctor, other_patient, caller, code
):
    # given
    as_ = {"patient": patient, "doctor": doctor, None: None}[caller]
    # when
    codes = await client.error_codes(
        SET_USER_ACTIVE, {"userId": other_patient.id, "active": False}, as_=as_
    )
    # then
    assert codes == [code]
    assert (await models.User.get(id=other_patient.user.id)).is_active is True


async def test_passwords_are_stored_as_argon2_hashes(client):
    # given
    password = "my very own passphrase"
    # when
    await register(client, email="hashed@example.org", password=password)
    # then
    stored = await models.User.get(email="hashed@example.org")
    assert stored.password_hash.startswith("$argon2")
    assert password not in stored.password_hash


# ---- verified tokens kept (auth._verified) ----------------------------------------------------


def test_a_token_verified_before_is_still_refused_once_it_expires(monkeypatch):
    # given: a token of 60 s, verified (and kept) now
    settings = Settings(jwt_secret=TEST_JWT_SECRET, access_token_ttl_seconds=60)
    token, expires_at = auth.create_access_token(uuid.uuid4(), uuid.uuid4(), settings)
    assert auth.decode_access_token(token, settings).expires_at == expires_at.replace(microsecond=0)
    # when: the clock passes its expiry and the leeway
    later = expires_at + timedelta(seconds=auth.EXPIRY_LEEWAY_SECONDS + 1)
    monkeypatch.setattr(auth, "utcnow", lambda: later)
    # then
    with pytest.raises(auth.InvalidAccessToken, match="expired"):
        auth.decode_access_token(token, settings)


def test_a_kept_token_is_refused_under_another_secret_and_a_refusal_is_not_kept():
    # given: a token verified (and kept) under its own secret
    settings = Settings(jwt_secret=TEST_JWT_SECRET)
    token, _ = auth.create_access_token(uuid.uuid4(), uuid.uuid4(), settings)
    auth.decode_access_token(token, settings)
    rotated = Settings(jwt_secret=secrets.token_urlsafe(48))
    # when / then: under a rotated secret it does not verify, every time
    for _ in range(2):
        with pytest.raises(auth.InvalidAccessToken, match="invalid"):
            auth.decode_access_token(token, rotated)
    # and: a tampered copy is refused, every time, while the original still works
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for _ in range(2):
        with pytest.raises(auth.InvalidAccessToken, match="invalid"):
            auth.decode_access_token(tampered, settings)
    assert auth.decode_access_token(token, settings).session_id is not None
