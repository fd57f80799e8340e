"""Brute force: sign-in, sign-up and token refresh are limited per account and per client
address, counting GraphQL operations (aliases and WebSocket operations included), and the
refusal says when to retry. The live server runs with the default limits; its own address
(127.0.0.1) is exempt from the per-address limits, so each test here comes from addresses
of its own, sent in X-Forwarded-For as a proxy would (the test server's TRUSTED_PROXIES
is 127.0.0.1).
"""

import asyncio
import json
import logging
import os
import random
import uuid
from collections.abc import Awaitable
from typing import Any, cast

import pytest
import websockets
from redis import asyncio as aioredis
from websockets.typing import Subprotocol

from healthcare import models
from healthcare.config import ConfigurationError, Rate, Settings
from healthcare.security.auth import verify_password
from healthcare.security.ratelimit import (
    KEY_PREFIX,
    SIGN_IN,
    SIGN_UP,
    MemoryStore,
    RateLimiter,
    RateLimitExceeded,
    in_words,
)
from tests.conftest import TEST_PASSWORD, make_patient
from tests.servers import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
TRANSPORT_WS = Subprotocol("graphql-transport-ws")
WRONG_PASSWORD = "not the password at all"
LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { __typename }
}"""
REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { __typename }
}"""
CHANGE_PASSWORD = """
mutation ChangePassword($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { __typename }
}"""
REFRESH_TOKEN = """
mutation RefreshToken($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { __typename }
}"""
LOGIN_FIELD = "attempt{n}: login(email: $email, password: $password) {{ __typename }}"


def new_address() -> str:
    """A client address no other test uses: IPv6 clients are counted per /64."""
    return f"2001:db8:{random.getrandbits(16):x}:{random.getrandbits(16):x}::1"


def new_email() -> str:
    return f"guess-{uuid.uuid4().hex[:12]}@example.org"


def code_of(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or [{}]
    return errors[0].get("extensions", {}).get("code")


async def login(client, email: str, password: str, address: str) -> dict[str, Any]:
    variables = {"email": email, "password": password}
    response = await client.post(LOGIN, variables, headers={"x-forwarded-for": address})
    assert response.status_code == 200, response.text
    return response.json()


def outcome(body: dict[str, Any]) -> str:
    """The answer's typename, or the code of its top-level error."""
    if body.get("errors"):
        return code_of(body) or "ERROR"
    return next(iter(body["data"].values()))["__typename"]


async def wrong_passwords(client, email: str, times: int, address: str | None = None) -> None:
    for _ in range(times):
        body = await login(client, email, WRONG_PASSWORD, address or new_address())
        assert outcome(body) == "InvalidCredentials"


def limiter(**settings: Any) -> RateLimiter:
    return RateLimiter.from_settings(Settings(jwt_secret="limiter-test-secret", **settings))


async def redis_reachable() -> bool:
    redis = aioredis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        # redis-py types ping() for its sync and async clients at once
        return bool(await cast(Awaitable[bool], redis.ping()))
    except (OSError, aioredis.RedisError):
        return False
    finally:
        await redis.aclose()


@pytest.fixture
async def redis_url() -> str:
    if not await redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: Redis is required at {REDIS_URL}")
        pytest.skip(f"needs Redis at {REDIS_URL}")
    return REDIS_URL


# ---- per account ------------------------------------------------------------------------


async def test_after_too_many_failures_from_one_address_even_the_right_password_from_there_fails(
    client, live_server
):
    # given
    user = await make_patient()
    address = new_address()
    limit = live_server.settings.login_rate_per_account_and_address
    await wrong_passwords(client, user.email, limit.count, address)
    # when
    response = await client.post(
        LOGIN,
        {"email": user.email, "password": TEST_PASSWORD},
        headers={"x-forwarded-for": address},
    )
    # then
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfterSeconds"] <= limit.seconds
    assert error["message"] == "Too many sign-in attempts; try again in 15 minutes."
    assert response.headers["retry-after"] == str(error["extensions"]["retryAfterSeconds"])


async def test_a_stranger_failing_on_purpose_does_not_lock_the_owner_out_from_elsewhere(
    client, live_server
):
    # given: someone fails on a doctor's account from their own address until refused
    doctor = await make_patient()
    attacker = new_address()
    limit = live_server.settings.login_rate_per_account_and_address.count
    await wrong_passwords(client, doctor.email, limit, attacker)
    assert outcome(await login(client, doctor.email, WRONG_PASSWORD, attacker)) == "RATE_LIMITED"
    # when: the owner signs in from their own address
    body = await login(client, doctor.email, TEST_PASSWORD, new_address())
    # then
    assert outcome(body) == "AuthPayload"


async def test_guesses_spread_over_many_addresses_meet_the_accounts_ceiling(client, live_server):
    # given: wrong passwords, each from an address of its own, up to the ceiling
    user = await make_patient()
    ceiling = live_server.settings.login_rate_per_account.count
    await wrong_passwords(client, user.email, ceiling)
    # when
    body = await login(client, user.email, TEST_PASSWORD, new_address())
    # then
    assert outcome(body) == "RATE_LIMITED"


async def change_password(
    client, persona, current: str, new: str, address: str | None = None
) -> dict[str, Any]:
    """From `address` (by default one of its own), as `persona`."""
    variables = {"current": current, "new": new}
    headers = {"x-forwarded-for": address or new_address()}
    response = await client.post(CHANGE_PASSWORD, variables, as_=persona, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


NEW_PASSWORD = "a brand new passphrase 42"


async def test_guesses_through_change_password_count_with_sign_ins_for_the_account(
    client, live_server, patient
):
    # given: a stolen session guessing the current password, and wrong sign-ins
    limit = live_server.settings.login_rate_per_account_and_address.count
    address = new_address()
    for _ in range(2):
        guess = await change_password(client, patient, WRONG_PASSWORD, NEW_PASSWORD, address)
        assert outcome(guess) == "InvalidCredentials"
    await wrong_passwords(client, patient.user.email, limit - 2, address)
    # when: the right password, through either door
    changed = await change_password(client, patient, TEST_PASSWORD, NEW_PASSWORD, address)
    signed_in = await login(client, patient.user.email, TEST_PASSWORD, address)
    # then: both refused, and the password is unchanged
    [error] = changed["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["message"] == "Too many password attempts; try again in 15 minutes."
    assert code_of(signed_in) == "RATE_LIMITED"
    stored = await models.User.get(id=patient.user.id)
    assert await verify_password(TEST_PASSWORD, stored.password_hash)


@pytest.mark.parametrize(
    ("current", "new", "answer", "password_after"),
    [
        (TEST_PASSWORD, NEW_PASSWORD, "AuthPayload", NEW_PASSWORD),
        # a new password the rules refuse is checked before the current one: no guess
        (WRONG_PASSWORD, "short", "ValidationFailed", TEST_PASSWORD),
    ],
    ids=["right-current-password", "refused-new-password"],
)
async def test_a_change_that_guessed_nothing_wrong_gives_the_accounts_attempt_back(
    client, live_server, patient, current, new, answer, password_after
):
    # given: one attempt short of the account's limit from one address
    limit = live_server.settings.login_rate_per_account_and_address.count
    address = new_address()
    await wrong_passwords(client, patient.user.email, limit - 1, address)
    # when
    changed = await change_password(client, patient, current, new, address)
    # then: the account may still try once more from there
    assert outcome(changed) == answer
    body = await login(client, patient.user.email, password_after, address)
    assert outcome(body) == "AuthPayload"


async def test_an_unknown_email_is_refused_in_the_same_words_as_a_known_one(client, live_server):
    # given
    known = await make_patient()
    unknown = new_email()
    address = new_address()
    times = live_server.settings.login_rate_per_account_and_address.count
    await wrong_passwords(client, known.email, times, address)
    await wrong_passwords(client, unknown, times, address)
    # when
    refusals = [
        (await login(client, email, WRONG_PASSWORD, address))["errors"]
        for email in (known.email, unknown)
    ]
    # then
    [[for_known], [for_unknown]] = refusals
    assert for_known["message"] == for_unknown["message"]
    assert for_known["extensions"]["code"] == for_unknown["extensions"]["code"] == "RATE_LIMITED"


async def test_spelling_the_email_differently_does_not_reset_the_count(client, live_server):
    # given
    user = await make_patient(email=f"pat-{uuid.uuid4().hex[:8]}@example.org")
    spellings = [user.email.upper(), f"  {user.email}  ", user.email.title()]
    limit = live_server.settings.login_rate_per_account_and_address.count
    address = new_address()
    # when
    for number in range(limit):
        body = await login(client, spellings[number % 3], WRONG_PASSWORD, address)
        assert outcome(body) == "InvalidCredentials"
    # then
    body = await login(client, user.email, TEST_PASSWORD, address)
    assert outcome(body) == "RATE_LIMITED"


async def test_another_account_is_not_affected_by_one_accounts_limit(client, live_server):
    # given: one account locked from this address
    locked, other = await make_patient(), await make_patient()
    address = new_address()
    limit = live_server.settings.login_rate_per_account_and_address.count
    await wrong_passwords(client, locked.email, limit, address)
    assert outcome(await login(client, locked.email, TEST_PASSWORD, address)) == "RATE_LIMITED"
    # when
    body = await login(client, other.email, TEST_PASSWORD, address)
    # then
    assert outcome(body) == "AuthPayload"


async def test_successful_sign_ins_do_not_use_up_the_account_limit(client, live_server):
    # given
    user = await make_patient()
    times = live_server.settings.login_rate_per_account_and_address.count + 3
    # when
    outcomes = [
        outcome(await login(client, user.email, TEST_PASSWORD, new_address())) for _ in range(times)
    ]
    # then
    assert outcomes == ["AuthPayload"] * times


async def test_aliased_sign_ins_in_one_request_count_one_by_one(client, live_server):
    # given
    user = await make_patient()
    limit = live_server.settings.login_rate_per_account_and_address.count
    address = new_address()
    fields = "\n".join(LOGIN_FIELD.format(n=n) for n in range(1, limit + 3))
    query = f"mutation Guesses($email: String!, $password: String!) {{ {fields} }}"
    # when
    response = await client.post(
        query,
        {"email": user.email, "password": WRONG_PASSWORD},
        headers={"x-forwarded-for": address},
    )
    # then: the first over the limit is refused, and the operation stops there
    body = response.json()
    assert [error["path"] for error in body["errors"]] == [[f"attempt{limit + 1}"]]
    assert code_of(body) == "RATE_LIMITED"
    assert outcome(await login(client, user.email, TEST_PASSWORD, address)) == "RATE_LIMITED"


async def test_sign_ins_over_the_websocket_count_with_those_over_http(client, live_server):
    # given
    user = await make_patient()
    limit = live_server.settings.login_rate_per_account_and_address.count
    # the socket comes from the server's own address, with no X-Forwarded-For
    await wrong_passwords(client, user.email, limit - 1, "127.0.0.1")
    variables = {"email": user.email, "password": WRONG_PASSWORD}
    async with websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        # when
        results = []
        for number in range(2):
            payload = {"query": LOGIN, "variables": variables}
            await socket.send(
                json.dumps({"id": str(number), "type": "subscribe", "payload": payload})
            )
            results.append(json.loads(await socket.recv()))
            assert json.loads(await socket.recv())["type"] == "complete"
    # then
    assert [result["type"] for result in results] == ["next", "next"]
    assert outcome(results[0]["payload"]) == "InvalidCredentials"
    assert outcome(results[1]["payload"]) == "RATE_LIMITED"
    assert results[1]["payload"]["errors"][0]["extensions"]["retryAfterSeconds"] > 0


# ---- per client address -----------------------------------------------------------------


async def test_guessing_many_accounts_from_one_address_is_cut_off_even_when_sent_at_once(
    client, live_server
):
    # given
    address = new_address()
    limit = live_server.settings.login_rate_per_address.count
    # when: more than the limit, all at once, each for a different account
    bodies = await asyncio.gather(
        *(login(client, new_email(), WRONG_PASSWORD, address) for _ in range(limit + 4))
    )
    # then: exactly the limit got through to the password check
    outcomes = [outcome(body) for body in bodies]
    assert outcomes.count("InvalidCredentials") == limit
    assert outcomes.count("RATE_LIMITED") == 4
    # and another address is not affected
    assert outcome(await login(client, new_email(), WRONG_PASSWORD, new_address())) == (
        "InvalidCredentials"
    )


async def test_a_made_up_address_in_front_of_x_forwarded_for_does_not_escape_the_limit(
    client, live_server
):
    # given: an address over its limit
    address = new_address()
    limit = live_server.settings.login_rate_per_address.count
    await asyncio.gather(
        *(login(client, new_email(), WRONG_PASSWORD, address) for _ in range(limit))
    )
    # when: the client prepends a fresh address of its own, as if it came through proxies
    body = await login(client, new_email(), WRONG_PASSWORD, f"{new_address()}, {address}")
    # then: the address the trusted proxy saw is the one counted
    assert outcome(body) == "RATE_LIMITED"


async def test_sign_ups_from_one_address_are_limited(client, live_server):
    # given: attempts count whether or not they succeed (here: too short a password)
    address = new_address()
    headers = {"x-forwarded-for": address}
    limit = live_server.settings.register_rate_per_address
    for _ in range(limit.count):
        invalid = {"email": new_email(), "password": "short", "firstName": "A", "lastName": "B"}
        response = await client.post(REGISTER, {"input": invalid}, headers=headers)
        assert outcome(response.json()) == "ValidationFailed"
    # when
    valid = {"email": new_email(), "password": "a long enough passphrase"}
    valid |= {"firstName": "New", "lastName": "Patient"}
    response = await client.post(REGISTER, {"input": valid}, headers=headers)
    # then
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfterSeconds"] <= limit.seconds
    assert error["message"].startswith("Too many sign-ups from your network; try again in ")
    assert outcome((await client.post(REGISTER, {"input": valid})).json()) == "SignUpReceived"


async def test_token_refreshes_from_one_address_are_limited(client, live_server, patient):
    # given
    address = new_address()
    headers = {"x-forwarded-for": address}
    limit = live_server.settings.refresh_rate_per_address.count
    bodies = await asyncio.gather(
        *(
            client.post(REFRESH_TOKEN, {"refreshToken": uuid.uuid4().hex}, headers=headers)
            for _ in range(limit)
        )
    )
    assert {outcome(body.json()) for body in bodies} == {"InvalidRefreshToken"}
    # when: even a good token, from that address
    variables = {"refreshToken": patient.refresh_token}
    refused = await client.post(REFRESH_TOKEN, variables, headers=headers)
    # then
    assert code_of(refused.json()) == "RATE_LIMITED"
    assert refused.json()["errors"][0]["extensions"]["retryAfterSeconds"] > 0
    # and the token was not spent: it still works from elsewhere
    elsewhere = {"x-forwarded-for": new_address()}
    accepted = await client.post(REFRESH_TOKEN, variables, headers=elsewhere)
    assert outcome(accepted.json()) == "AuthPayload"


# ---- the limiter on its own --------------------------------------------------------------


async def test_addresses_in_one_ipv6_64_share_a_count_and_ipv4_mapped_ones_count_as_ipv4():
    # given
    rates = limiter(register_rate_per_address=Rate(2, 3600))
    # when
    for host in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        await rates.attempt(SIGN_UP, host)
    await rates.attempt(SIGN_UP, "2001:db8:1:3::1")  # another /64
    for host in ("192.0.2.7", "::ffff:192.0.2.7"):
        await rates.attempt(SIGN_UP, host)
    # then
    with pytest.raises(RateLimitExceeded):
        await rates.attempt(SIGN_UP, "2001:db8:1:2:abcd::1")
    with pytest.raises(RateLimitExceeded):
        await rates.attempt(SIGN_UP, "192.0.2.7")
    await rates.attempt(SIGN_UP, "2001:db8:1:3::2")


async def test_a_window_ends_and_the_count_starts_again():
    # given
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    rates = RateLimiter(store, Settings(login_rate_per_account=Rate(1, 60)))
    await rates.attempt(SIGN_IN, None, "a@example.org")
    now[0] += 45
    with pytest.raises(RateLimitExceeded) as refused:
        await rates.attempt(SIGN_IN, None, "a@example.org")
    assert refused.value.retry_after_seconds == 15
    # when
    now[0] += 15
    # then
    await rates.attempt(SIGN_IN, None, "a@example.org")


async def test_a_made_up_email_that_is_not_valid_unicode_is_counted_like_any_other():
    rates = limiter(login_rate_per_account=Rate(1, 60))
    await rates.attempt(SIGN_IN, "192.0.2.1", "\ud800@example.org")
    with pytest.raises(RateLimitExceeded):
        await rates.attempt(SIGN_IN, "192.0.2.2", "\ud800@EXAMPLE.org ")


async def test_limits_can_be_turned_off():
    rates = limiter(rate_limits_enabled=False, login_rate_per_account=Rate(1, 60))
    for _ in range(3):
        await rates.attempt(SIGN_IN, "192.0.2.1", "a@example.org")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (841, "15 minutes"),
        (5400, "90 minutes"),
        (5401, "2 hours"),
    ],
)
def test_the_wait_is_said_in_words(seconds, words):
    assert in_words(seconds) == words


async def test_two_limiters_on_one_redis_share_counts_and_keep_no_email_in_it(redis_url):
    # given: two instances' limiters
    settings = {"rate_limit_url": redis_url, "login_rate_per_account": Rate(3, 900)}
    first, second = limiter(**settings), limiter(**settings)
    email = new_email()
    redis = aioredis.from_url(redis_url)
    try:
        # when
        for rates in (first, second, first):
            await rates.attempt(SIGN_IN, None, email)
        # then
        with pytest.raises(RateLimitExceeded) as refused:
            await second.attempt(SIGN_IN, None, email.upper())
        assert 0 < refused.value.retry_after_seconds <= 900
        key = first.key(SIGN_IN, "account", email)
        assert int(await redis.get(key)) == 4
        assert 0 < await redis.ttl(key) <= 900
        assert key.startswith(f"{KEY_PREFIX}:login:account:")
        assert email.split("@")[0] not in key and "example" not in key
    finally:
        await redis.delete(first.key(SIGN_IN, "account", email))
        await redis.aclose()
        await first.close()
        await second.close()


async def test_a_success_gives_the_account_attempt_back_in_redis(redis_url):
    rates = limiter(rate_limit_url=redis_url, login_rate_per_account=Rate(1, 900))
    email = new_email()
    try:
        for _ in range(3):
            attempt = await rates.attempt(SIGN_IN, None, email)
            await attempt.succeeded()
        await rates.attempt(SIGN_IN, None, email)
        with pytest.raises(RateLimitExceeded):
            await rates.attempt(SIGN_IN, None, email)
    finally:
        redis = aioredis.from_url(redis_url)
        await redis.delete(rates.key(SIGN_IN, "account", email))
        await redis.aclose()
        await rates.close()


async def test_without_redis_sign_in_stays_available_and_limited_per_instance(caplog):
    # given: Redis is configured but nothing answers there
    rates = limiter(
        rate_limit_url=f"redis://127.0.0.1:{free_port()}/0", login_rate_per_account=Rate(2, 900)
    )
    caplog.set_level(logging.WARNING, logger="healthcare.security.ratelimit")
    try:
        # when
        await rates.attempt(SIGN_IN, None, "a@example.org")
        await rates.attempt(SIGN_IN, None, "a@example.org")
        # then: still counted, in this process
        with pytest.raises(RateLimitExceeded):
            await rates.attempt(SIGN_IN, None, "a@example.org")
    finally:
        await rates.close()
    warnings = [record for record in caplog.records if "unreachable" in record.getMessage()]
    assert len(warnings) == 1
    assert "a@example.org" not in caplog.text


# ---- settings -------------------------------------------------------------------------------


def test_rates_are_read_as_attempts_per_period(tmp_path):
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "LOGIN_RATE_PER_ACCOUNT": "3/10m",
            "REGISTER_RATE_PER_ADDRESS": "20/h",
            "REFRESH_RATE_PER_ADDRESS": "100 / 1d",
            "RATE_LIMIT_EXEMPT_NETWORKS": "10.0.0.0/8, 2001:db8::/32",
        }
    )
    assert settings.login_rate_per_account == Rate(3, 600)
    assert settings.login_rate_per_account_and_address == Rate(5, 900)
    assert settings.login_rate_per_address == Rate(30, 900)
    assert settings.register_rate_per_address == Rate(20, 3600)
    assert settings.refresh_rate_per_address == Rate(100, 86400)
    assert settings.rate_limit_exempt_networks == ("10.0.0.0/8", "2001:db8::/32")
    assert settings.rate_limits_enabled


def test_counts_are_shared_through_the_broadcast_redis_unless_told_otherwise(tmp_path):
    def store_url(**env: str) -> str:
        return Settings.from_env({"DATA_DIR": str(tmp_path), **env}).rate_limit_store_url

    assert store_url() == "memory://"
    assert store_url(BROADCAST_URL="postgres://db/x") == "memory://"
    assert store_url(BROADCAST_URL="redis://cache:6379/0") == "redis://cache:6379/0"
    assert store_url(BROADCAST_URL="redis://a/0", RATE_LIMIT_URL="redis://b/1") == "redis://b/1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOGIN_RATE_PER_ACCOUNT", "five"),
        ("LOGIN_RATE_PER_ADDRESS", "0/15m"),
        ("REGISTER_RATE_PER_ADDRESS", "10/0h"),
        ("REFRESH_RATE_PER_ADDRESS", "10/fortnight"),
        ("RATE_LIMITS_ENABLED", "sometimes"),
        ("RATE_LIMIT_URL", "memcached://cache"),
        ("RATE_LIMIT_EXEMPT_NETWORKS", "the office"),
    ],
)
def test_a_bad_rate_limit_setting_is_refused_naming_the_variable(tmp_path, variable, value):
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({"DATA_DIR": str(tmp_path), variable: value})
