"""Faults injected into a running deployment (issue 16): two production instances sharing
a PostgreSQL cluster and a redis-server of the suite's own, serving chat and notifications
to clients that reconnect and resume as real ones do.

After each fault: no acknowledged message lost or delivered twice, every open subscription
live again, `logout(everywhere: true)` closing every socket of its user with 4401, and
`/readyz` and `/metrics` saying what is true. Run with `make faults`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from tests.faults.clinic import Clinic, Person
from tests.faults.harness import (
    LOGOUT_EVERYWHERE,
    MESSAGE_ADDED,
    NOTIFICATION_ADDED,
    PUBSUB_LOST,
    RECOVERY_SECONDS,
    REFUSED,
    RESTARTING,
    SESSION_ENDED,
    Api,
    Deployment,
    FaultSuiteError,
    eventually,
)
from tests.servers import freeze, thaw
from tests.wsclient import TRANSPORT_WS

pytestmark = pytest.mark.faults

REDIS = pytest.mark.parametrize("deployment", ["redis"], indirect=True)
BOTH_BROADCASTERS = pytest.mark.parametrize("deployment", ["redis", "postgres"], indirect=True)
POSTGRES = pytest.mark.parametrize("deployment", ["postgres"], indirect=True)

OUTAGE_SECONDS = 10.0
# Once a publish to a frozen Redis has failed, a mutation may take this much longer than
# normal; the first may wait for the publish timeout (2 s).
FAIL_FAST_MARGIN_SECONDS = 0.3
FIRST_FAILURE_MARGIN_SECONDS = 3.0


@pytest.fixture
async def clinic(deployment: Deployment) -> AsyncIterator[Clinic]:
    api = Api()
    clinic = Clinic(deployment, api)
    try:
        yield clinic
    finally:
        print(clinic.report())  # shown with a failure
        await clinic.close()
        await api.close()


async def start_with_traffic(clinic: Clinic) -> float:
    await clinic.start()
    clinic.start_traffic()
    await clinic.traffic_flowing()
    clinic.mark("traffic flowing: the fault")
    return time.monotonic()


# ---- Redis -------------------------------------------------------------------------------


@REDIS
async def test_a_redis_blip_heals(deployment: Deployment, clinic: Clinic) -> None:
    """Redis stopped and started again at once on the same port (a gap of ~50 ms)."""
    since = await start_with_traffic(clinic)

    def blip() -> float:
        stopped = time.monotonic()
        deployment.redis.stop()
        deployment.redis.start()  # returns as soon as it takes connections
        return time.monotonic() - stopped

    gap = await asyncio.to_thread(blip)
    await clinic.recovered(since)
    await clinic.finish(reconnected=True, resynced=True)
    assert gap < 5, gap  # the fault was a blip, not an outage


@REDIS
async def test_killed_pubsub_clients_heal(deployment: Deployment, clinic: Clinic) -> None:
    """`CLIENT KILL TYPE pubsub` while Redis stays up: each instance's subscriber cut."""
    since = await start_with_traffic(clinic)
    killed = await deployment.redis_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert int(killed) >= len(deployment.instances), f"only {killed} pub/sub client(s) killed"
    await clinic.recovered(since)
    await clinic.finish(reconnected=True, resynced=True)


@REDIS
async def test_a_ten_second_redis_outage_heals(deployment: Deployment, clinic: Clinic) -> None:
    """Redis stopped for 10 s: readiness 503 meanwhile, sockets closed with 1013, and
    clients that reconnect and resume lose nothing."""
    since = await start_with_traffic(clinic)
    await asyncio.to_thread(deployment.redis.stop)
    stopped = time.monotonic()
    await eventually(
        lambda: (
            all(w.saw_pubsub_down(stopped) for w in clinic.watches)
            and all(PUBSUB_LOST in c.closes for c in clinic.clients())
        ),
        RECOVERY_SECONDS,
        lambda: (
            "readiness 503 and every socket closed with 1013 while Redis is down: "
            + "; ".join(f"{w.base_url}: {w.summary(stopped)}" for w in clinic.watches)
            + "; "
            + clinic.describe_clients()
        ),
    )
    await eventually(
        lambda: time.monotonic() - stopped >= OUTAGE_SECONDS,
        OUTAGE_SECONDS + 1,
        "the outage's length",
        interval=0.2,
    )
    await asyncio.to_thread(deployment.redis.start)
    await clinic.recovered(since)
    clinic.assert_saw_pubsub_down(stopped, deployment.instances)
    await clinic.finish(reconnected=True)


@REDIS
async def test_a_frozen_redis_fails_fast(deployment: Deployment, clinic: Clinic) -> None:
    """Redis frozen (SIGSTOP): after the first failed publish a mutation takes at most
    0.3 s more than normal; the messages are committed, a logout meanwhile takes effect,
    and everything reaches the subscribers once Redis runs again (SIGCONT)."""
    await clinic.start()
    alice = clinic.people["alice"]
    instance_a = deployment.instances[0]
    timed = clinic.add_sender(alice, [instance_a.base_url])  # one instance: one publisher
    normal = max([(await timed.send(f"normal {n}")).seconds for n in range(5)])

    redis = deployment.redis.process
    assert redis is not None
    frozen = time.monotonic()
    freeze(redis)
    try:
        first = await timed.send("frozen 1", retry_for=0)
        later = [(await timed.send(f"frozen {n}", retry_for=0)).seconds for n in range(2, 6)]
        # A session revoked while pub/sub cannot carry the news.
        bob = clinic.people["bob"]
        done = await clinic.api.execute(instance_a.base_url, LOGOUT_EVERYWHERE, token=bob.token)
        assert done["logout"] is True, done
        bob.signed_out = True
        await eventually(
            lambda: all(w.saw_pubsub_down(frozen) for w in clinic.watches),
            RECOVERY_SECONDS,
            lambda: (
                "readiness 503 (checks.pubsub false) while Redis is frozen: "
                + "; ".join(f"{w.base_url}: {w.summary(frozen)}" for w in clinic.watches)
            ),
        )
    finally:
        thaw(redis)
    assert first.seconds <= normal + FIRST_FAILURE_MARGIN_SECONDS, (first.seconds, normal)
    slow = [s for s in later if s > normal + FAIL_FAST_MARGIN_SECONDS]
    assert not slow, (
        f"mutations after the first failed publish took {later} s; normal is {normal:.3f} s"
    )
    await clinic.recovered(frozen, traffic=False)
    await eventually(
        lambda: all(c.ended in (SESSION_ENDED, REFUSED) for c in bob.clients),
        RECOVERY_SECONDS,
        lambda: (
            "bob's sockets closed after his logout while Redis was frozen: "
            + "; ".join(c.describe() for c in bob.clients)
        ),
    )
    await clinic.finish(reconnected=False)


# ---- PostgreSQL ----------------------------------------------------------------------------


@BOTH_BROADCASTERS
async def test_a_postgres_restart_heals(deployment: Deployment, clinic: Clinic) -> None:
    """`pg_ctl restart -m fast` of the database (and, with postgres://, of pub/sub)."""
    since = await start_with_traffic(clinic)
    await asyncio.to_thread(deployment.cluster.restart)
    await clinic.recovered(since)
    cut = deployment.broadcast == "postgres"
    await clinic.finish(reconnected=cut, resynced=cut)


# ---- an instance dies ----------------------------------------------------------------------


@BOTH_BROADCASTERS
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_an_instance_dying_mid_traffic_loses_nothing(
    deployment: Deployment, clinic: Clinic, how: signal.Signals
) -> None:
    """One instance killed (kill -9) or stopped (SIGTERM) while messages flow: its clients
    reconnect to the other and resume; senders retry on the same clientId."""
    since = await start_with_traffic(clinic)
    dying, survivor = deployment.instances
    on_dying = [c for c in clinic.clients() if c.connected_url == dying.ws_url]
    assert on_dying, clinic.describe_clients()
    dying.process.send_signal(how)
    code = await asyncio.to_thread(dying.process.wait, 60)  # SIGTERM: it stops by itself
    clinic.mark(f"instance {dying.name} exited with {code}")
    if how == signal.SIGTERM:
        # uvicorn shuts down gracefully, then re-raises the signal: killed by SIGTERM.
        assert code in (0, -signal.SIGTERM), (code, dying.log()[-3000:])
    await clinic.recovered(since)
    moved = [c.describe() for c in on_dying if c.connected_url != survivor.ws_url]
    assert not moved, f"clients of the stopped instance not on the other: {moved}"
    if how == signal.SIGTERM:
        not_told = [c.describe() for c in on_dying if RESTARTING not in c.closes]
        assert not not_told, f"sockets not closed with 1012 on SIGTERM: {not_told}"
    await clinic.finish(reconnected=False)


# ---- the postgres broadcaster under concurrency ---------------------------------------------

CHURN_WORKERS = 12
CHURN_ROUNDS = 6
TYPING_CHANGED = """
subscription Typing($conversationId: ID!) {
  typingChanged(conversationId: $conversationId) { typing }
}
"""
RECEIPTS = """
subscription Receipts($conversationId: ID!) {
  readReceiptChanged(conversationId: $conversationId) { lastReadSeq }
}
"""


async def churn(clinic: Clinic, person: Person, url: str, problems: list[str]) -> None:
    """Subscriptions starting and ending on one instance while others start: each round
    subscribes to the person's messages, notifications, typing and read receipts, waits
    for the first message and notification (the catch-up read), then completes them all;
    every other round on a new socket. The last socket stays open, for the logout."""
    socket: Any = None
    try:
        for round_ in range(CHURN_ROUNDS):
            if socket is None or round_ % 2 == 0:
                if socket is not None:
                    await socket.close()
                socket = await websockets.connect(url, subprotocols=[TRANSPORT_WS])
                init = {"authorization": f"Bearer {person.token}"}
                await socket.send(json.dumps({"type": "connection_init", "payload": init}))
                ack = json.loads(await asyncio.wait_for(socket.recv(), 20))
                if ack.get("type") != "connection_ack":
                    problems.append(f"{person.name}: no connection_ack: {ack}")
                    return
            newest_message = person.clients[0].stream("messages").after
            newest_notification = person.clients[0].stream("notifications").after
            operations = {
                f"m{round_}": (
                    MESSAGE_ADDED,
                    {"conversationId": person.conversation, "afterSeq": newest_message - 1},
                ),
                f"n{round_}": (NOTIFICATION_ADDED, {"afterSeq": newest_notification - 1}),
                f"t{round_}": (TYPING_CHANGED, {"conversationId": person.conversation}),
                f"r{round_}": (RECEIPTS, {"conversationId": person.conversation}),
            }
            for key, (query, variables) in operations.items():
                payload = {"query": query, "variables": variables}
                await socket.send(json.dumps({"id": key, "type": "subscribe", "payload": payload}))
            waiting = {f"m{round_}", f"n{round_}"}
            try:
                async with asyncio.timeout(RECOVERY_SECONDS):
                    while waiting:
                        message = json.loads(await socket.recv())
                        if message.get("type") == "ping":
                            await socket.send('{"type": "pong"}')
                        elif message.get("type") == "next" and not message["payload"].get("errors"):
                            waiting.discard(message["id"])
                        elif message.get("type") in {"next", "error", "complete"}:
                            problems.append(f"{person.name} round {round_}: {message}")
                            waiting.discard(message.get("id"))
            except TimeoutError:
                problems.append(f"{person.name} round {round_}: nothing on {sorted(waiting)}")
            except websockets.ConnectionClosed:
                problems.append(
                    f"{person.name} round {round_}: socket closed ({socket.close_code})"
                )
                socket = None
                continue
            for key in operations:
                await socket.send(json.dumps({"id": key, "type": "complete"}))
        if socket is not None:
            person.witnesses.append(socket)
            socket = None
    finally:
        if socket is not None:
            await socket.close()


@POSTGRES
async def test_the_postgres_broadcaster_under_concurrency(
    deployment: Deployment, clinic: Clinic
) -> None:
    """Many concurrent publishes, and subscriptions starting and ending while others
    start, on one instance: no "another operation is in progress", no error sent to a
    subscription, no failed publish, and every socket's guard alive (logout closes all)."""
    await clinic.start()
    busy = deployment.instances[0]
    for person in clinic.people.values():  # a second sender each, on the busy instance
        clinic.add_sender(person, [busy.base_url])
    clinic.start_traffic()
    problems: list[str] = []
    people = list(clinic.people.values())
    await asyncio.gather(
        *(
            churn(clinic, people[n % len(people)], busy.ws_url, problems)
            for n in range(CHURN_WORKERS)
        )
    )
    await clinic.traffic_flowing()
    assert not problems, problems
    in_progress = [i.name for i in deployment.instances if "another operation" in i.log()]
    assert not in_progress, f"'another operation is in progress' logged by {in_progress}"
    for instance in deployment.instances:
        failures = (await clinic.metrics(instance)).get(
            "healthcare_pubsub_publish_failures_total", 0
        )
        assert failures == 0, f"{instance.name}: {failures} publishes failed"
    await clinic.finish(reconnected=False)


async def test_the_fault_suite_fails_when_a_condition_never_holds() -> None:
    """The waits this suite relies on fail, naming what did not hold."""
    with pytest.raises(FaultSuiteError, match="something that never holds"):
        await eventually(lambda: False, 0.2, "something that never holds")
