"""Pub/sub that heals itself: a lost listening connection is found, established again,
every channel subscribed again, and every open subscription catches up from the database
by itself, exactly once; a guard that fails closes its socket; a frozen Redis does not
slow every mutation down. The multi-instance faults are in tests/faults."""

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from healthcare.demo import DEMO_PASSWORD
from healthcare.realtime.pubsub import PubSub
from tests.servers import graphql, login, redis_process, redis_server_available, server_process
from tests.test_connection_lifecycle import (
    NOTIFICATION_ADDED,
    SLOTS,
    book_first_free_slot,
    demo_doctor_id,
)
from tests.test_instances import POSTGRES_URL, postgres_reachable
from tests.wsclient import TRANSPORT_WS, Subscriber

BOOK_RETURNING_ID = """
mutation Book($input: BookAppointmentInput!) {
  bookAppointment(input: $input) { ... on AppointmentPayload { appointment { id } } }
}
"""
LOGOUT_EVERYWHERE = "mutation LogoutEverywhere { logout(everywhere: true) }"

needs_redis_server = pytest.mark.skipif(
    not redis_server_available() and os.environ.get("CI") != "true",
    reason="needs the redis-server program (under CI=true its absence fails)",
)


async def next_within(subscriber: Subscriber, seconds: float = 30) -> dict:
    """The subscription's next event, waiting through the recovery (generous deadline)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await subscriber.next()
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


def redis_cli(port: int, *args: str) -> str:
    command = [shutil.which("redis-cli") or "redis-cli", "-p", str(port), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def subscribers_of(port: int, channel: str) -> int:
    """PUBSUB NUMSUB: how many connections Redis has subscribed to `channel`."""
    lines = redis_cli(port, "PUBSUB", "NUMSUB", channel).split()
    return int(lines[1])


def scrape(base_url: str) -> dict[str, float]:
    """The server's metrics by name, summed over their labels."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def wait_for(check, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        time.sleep(0.1)


@needs_redis_server
@pytest.mark.parametrize("fault", ["client kill", "blip"])
async def test_open_subscriptions_hear_again_after_redis_drops_the_listener(tmp_path, fault):
    with (
        redis_process(tmp_path) as redis,
        server_process(tmp_path, BROADCAST_URL=redis.url) as server,
    ):
        doctor_token = login(server.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
        patient_token = login(server.base_url, "alice@demo.clinic", DEMO_PASSWORD)
        doctor_id = demo_doctor_id(server.base_url, patient_token)
        doctor_user_id = _user_id(server.base_url, doctor_token)
        channel = f"notifications.{doctor_user_id}"
        subscriber = await Subscriber.open(server.ws_url, doctor_token)
        await subscriber.subscribe(NOTIFICATION_ADDED)
        await asyncio.to_thread(book_first_free_slot, server.base_url, patient_token, doctor_id)
        seen = (await next_within(subscriber))["notificationAdded"]["seq"]
        before = scrape(server.base_url)
        # when: Redis drops the server's listening connection
        if fault == "client kill":
            redis_cli(redis.port, "CLIENT", "KILL", "TYPE", "pubsub")
        else:
            redis.stop()
            redis.start()
        # and: a change is made at once, while the server may not listen yet
        await asyncio.to_thread(book_first_free_slot, server.base_url, patient_token, doctor_id)
        # then: the open subscription gets it, with no reconnection by the client
        during = (await next_within(subscriber))["notificationAdded"]["seq"]
        # and: Redis has the server subscribed again, and live delivery goes on
        await asyncio.to_thread(wait_for, lambda: subscribers_of(redis.port, channel) == 1)
        await asyncio.to_thread(book_first_free_slot, server.base_url, patient_token, doctor_id)
        after = (await next_within(subscriber))["notificationAdded"]["seq"]
        # and: nothing twice
        assert await subscriber.nothing_within(1.0)
        await subscriber.close()
        # and: the metrics tell: one reconnection, every subscription caught up, listening
        now = scrape(server.base_url)
    assert (during, after) == (seen + 1, seen + 2)
    reconnects, resyncs = "healthcare_pubsub_reconnects_total", "healthcare_pubsub_resyncs_total"
    assert now[reconnects] - before[reconnects] == 1
    # the notifications subscription and the guard's sessions channel at least
    assert now[resyncs] - before[resyncs] >= 2
    assert now["healthcare_pubsub_subscribed"] == 1
    # and: publishing went on through the reconnection (its connection was not cut)
    failures = "healthcare_pubsub_publish_failures_total"
    assert now.get(failures, 0) == before.get(failures, 0)


@needs_redis_server
async def test_logout_still_closes_sockets_after_the_listener_was_killed(tmp_path):
    with (
        redis_process(tmp_path) as redis,
        server_process(tmp_path, BROADCAST_URL=redis.url) as server,
    ):
        token = login(server.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
        subscriber = await Subscriber.open(server.ws_url, token)
        await subscriber.subscribe(NOTIFICATION_ADDED)
        redis_cli(redis.port, "CLIENT", "KILL", "TYPE", "pubsub")
        await asyncio.to_thread(
            wait_for, lambda: subscribers_of(redis.port, "sessions.revoked") == 1
        )
        # when
        await asyncio.to_thread(graphql, server.base_url, token, LOGOUT_EVERYWHERE)
        # then
        assert await subscriber.close_code() == 4401


@needs_redis_server
async def test_a_frozen_redis_slows_only_the_first_mutation_down(tmp_path):
    with (
        redis_process(tmp_path) as redis,
        server_process(tmp_path, BROADCAST_URL=redis.url) as server,
    ):
        patient_token = login(server.base_url, "alice@demo.clinic", DEMO_PASSWORD)
        doctor_id = demo_doctor_id(server.base_url, patient_token)
        assert redis.process is not None
        redis.process.send_signal(signal.SIGSTOP)
        try:
            # given: the first mutation waits for its publish to time out (2 s)
            first = await asyncio.to_thread(
                _timed_booking, server.base_url, patient_token, doctor_id
            )
            # when: more mutations while Redis is still frozen
            then = [
                await asyncio.to_thread(_timed_booking, server.base_url, patient_token, doctor_id)
                for _ in range(3)
            ]
        finally:
            redis.process.send_signal(signal.SIGCONT)
    # then: they no longer wait for it (a deadline far below the 2 s each took before)
    assert first >= 1.5
    assert max(then) < 1.0, then


def _timed_booking(base_url: str, token: str, doctor_id: str) -> float:
    started = time.monotonic()
    book_first_free_slot(base_url, token, doctor_id)
    return time.monotonic() - started


def _user_id(base_url: str, token: str) -> str:
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": "{ me { id } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    return response.json()["data"]["me"]["id"]


async def test_the_postgres_broadcaster_publishes_while_subscriptions_come_and_go():
    """LISTEN and NOTIFY on one connection failed with 'another operation is in progress'
    as soon as they overlapped; now they never share one."""
    if not await postgres_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: PostgreSQL is required")
        pytest.skip("needs PostgreSQL (TEST_POSTGRES_URL)")
    url = POSTGRES_URL
    pubsub = PubSub(url)
    await pubsub.connect()
    try:
        steady = f"steady.{uuid.uuid4().hex}"
        async with pubsub.subscribe(steady) as heard:

            async def come_and_go(n: int) -> None:
                async with pubsub.subscribe(f"churn.{uuid.uuid4().hex}"):
                    await asyncio.sleep(0)

            # when: 100 publishes and 100 subscriptions that start and end, all at once
            await asyncio.gather(
                *(pubsub.publish(steady, {"n": n}) for n in range(100)),
                *(come_and_go(n) for n in range(100)),
            )
            # then: every publish is heard, and nothing failed
            received: list[dict] = []
            async with asyncio.timeout(30):
                async for event in heard:
                    assert isinstance(event, dict), event  # no RESYNC: never lost
                    received.append(event)
                    if len(received) == 100:
                        break
        assert sorted(e["n"] for e in received) == list(range(100))
        assert await pubsub.is_live()
    finally:
        await pubsub.disconnect()


async def test_a_guard_that_fails_closes_its_socket(live_server, patient):
    def guards() -> set[asyncio.Task]:
        return {
            task
            for task in asyncio.all_tasks()
            if getattr(task.get_coro(), "__qualname__", "") == "ConnectionGuard.watch"
        }

    before = guards()
    subscriber = await Subscriber.open(live_server, patient, TRANSPORT_WS)
    await subscriber.subscribe(NOTIFICATION_ADDED)
    (guard,) = guards() - before
    # when: the guard dies
    guard.cancel()
    # then: the socket is closed, not left signed in with nobody watching
    assert await subscriber.close_code() == 1011


@needs_redis_server
async def test_appointment_changes_made_while_the_listener_was_lost_arrive(tmp_path):
    with (
        redis_process(tmp_path) as redis,
        server_process(tmp_path, BROADCAST_URL=redis.url) as server,
    ):
        doctor_token = login(server.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
        patient_token = login(server.base_url, "alice@demo.clinic", DEMO_PASSWORD)
        doctor_id = demo_doctor_id(server.base_url, patient_token)
        subscriber = await Subscriber.open(server.ws_url, doctor_token)
        await subscriber.subscribe("subscription { appointmentChanged { id status } }")
        # when: the listener is dropped and an appointment booked at once
        redis_cli(redis.port, "CLIENT", "KILL", "TYPE", "pubsub")
        booked = await asyncio.to_thread(_book, server.base_url, patient_token, doctor_id)
        # then: the open subscription gets it, though its doorbell may have rung unheard
        # (a catch-up may also bring changes made just before it subscribed: skip those)
        async with asyncio.timeout(30):
            while (await next_within(subscriber))["appointmentChanged"]["id"] != booked:
                pass
        await subscriber.close()


def _book(base_url: str, token: str, doctor_id: str) -> str:
    today = datetime.now(UTC).date()
    slots = graphql(
        base_url,
        token,
        SLOTS,
        {"doctorId": doctor_id, "fromDate": str(today), "toDate": str(today + timedelta(14))},
    )["availableSlots"]
    variables = {
        "input": {"doctorId": doctor_id, "startsAt": slots[0]["startsAt"], "reason": "Visit"}
    }
    booked = graphql(base_url, token, BOOK_RETURNING_ID, variables)["bookAppointment"]
    return booked["appointment"]["id"]


@needs_redis_server
async def test_a_doorbell_that_could_not_be_rung_is_made_up_for(tmp_path):
    with (
        redis_process(tmp_path) as redis,
        server_process(tmp_path, BROADCAST_URL=redis.url) as server,
    ):
        doctor_token = login(server.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
        patient_token = login(server.base_url, "alice@demo.clinic", DEMO_PASSWORD)
        doctor_id = demo_doctor_id(server.base_url, patient_token)
        subscriber = await Subscriber.open(server.ws_url, doctor_token)
        await subscriber.subscribe(NOTIFICATION_ADDED)
        # given: Redis takes no writes (PUBLISH) for a while, but answers pings: the
        # listener stays up, only publishing fails
        redis_cli(redis.port, "CLIENT", "PAUSE", "3000", "WRITE")
        # when: a change whose doorbell times out
        await asyncio.to_thread(book_first_free_slot, server.base_url, patient_token, doctor_id)
        # then: once Redis takes writes again, the open subscription gets it anyway
        assert (await next_within(subscriber))["notificationAdded"]["seq"] >= 1
        await subscriber.close()
