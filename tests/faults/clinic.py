"""The traffic every fault test runs and what each asserts afterwards.

Alice (patient) chats with Dr House, Bob (patient) with Dr Grey: the demo's appointments
let them. Each person holds a socket on every instance, subscribed to `messageAdded` of
their conversation and to `notificationAdded` (each chat message notifies the other
party), and sends messages through their own instance. After a fault: every subscription
must be live again, every acknowledged message must have reached every subscription once
(exactly the rows of `chat_messages` and `notifications`), `logout(everywhere: true)` must
close every socket with 4401, and `/readyz` and `/metrics` must say what is true.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import websockets

from tests.faults.harness import (
    CLOSE_SECONDS,
    DELIVERY_SECONDS,
    LOGOUT_EVERYWHERE,
    ME,
    MESSAGE_ADDED,
    NOTIFICATION_ADDED,
    RECOVERY_SECONDS,
    SESSION_ENDED,
    START_CONVERSATION,
    Api,
    Deployment,
    FaultSuiteError,
    LiveClient,
    ReadinessWatch,
    Sender,
    Stream,
    eventually,
)
from tests.servers import LoggedServer

# Readiness must not say 200 for longer than this while the instances are not all
# subscribed (the service notices a lost subscriber within about 3 s).
UNTRUTHFUL_READY_SECONDS = 10.0


@dataclass
class Person:
    name: str
    email: str
    token: str = ""
    id: str = ""
    notification_seq: int = 0  # the newest before the test's traffic
    conversation: str = ""
    clients: list[LiveClient] = field(default_factory=list)
    senders: list[Sender] = field(default_factory=list)
    witnesses: list[Any] = field(default_factory=list)  # raw sockets left open
    signed_out: bool = False

    @property
    def sender(self) -> Sender:
        return self.senders[0]


@dataclass
class Conversation:
    id: str
    first_seq: int  # the newest message before the test's traffic
    people: tuple[Person, Person]


class Clinic:
    def __init__(self, deployment: Deployment, api: Api) -> None:
        self.deployment = deployment
        self.api = api
        self.people = {
            "alice": Person("alice", "alice@demo.clinic"),
            "house": Person("house", "dr.house@demo.clinic"),
            "bob": Person("bob", "bob@demo.clinic"),
            "grey": Person("grey", "dr.grey@demo.clinic"),
        }
        self.conversations: list[Conversation] = []
        self.timeline: list[tuple[float, str]] = [(time.monotonic(), "start")]
        self.watches = [ReadinessWatch(api, instance.base_url) for instance in deployment.instances]

    # ---- setting up ---------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return [instance.base_url for instance in self.deployment.live]

    def _rotated(self, values: list[str], start: int) -> list[str]:
        return values[start:] + values[:start]

    async def start(self, sockets_on: Iterable[int] | None = None) -> None:
        """Sign everyone in, open the conversations and the sockets (one per person on each
        instance named, default all), and wait until each subscription delivers."""
        instances = self.deployment.instances
        first = instances[0].base_url
        for person in self.people.values():
            person.token = await self.api.login(first, person.email)
            me = await self.api.execute(first, ME, token=person.token)
            person.id = me["me"]["id"]
            person.notification_seq = me["lastNotificationSeq"]
        for patient, doctor in (("alice", "house"), ("bob", "grey")):
            a, b = self.people[patient], self.people[doctor]
            started = await self.api.execute(
                first, START_CONVERSATION, {"withUserId": b.id}, token=a.token
            )
            payload = started["startConversation"]
            assert payload["__typename"] == "ConversationPayload", payload
            conversation = Conversation(
                payload["conversation"]["id"], payload["conversation"]["lastSeq"], (a, b)
            )
            a.conversation = b.conversation = conversation.id
            self.conversations.append(conversation)
        ws_urls = [instance.ws_url for instance in instances]
        http_urls = [instance.base_url for instance in instances]
        for number, person in enumerate(self.people.values()):
            for index in sockets_on if sockets_on is not None else range(len(instances)):
                streams = [
                    Stream(
                        "messages",
                        "messageAdded",
                        MESSAGE_ADDED,
                        {"conversationId": person.conversation},
                        self.conversation_of(person).first_seq,
                    ),
                    Stream(
                        "notifications",
                        "notificationAdded",
                        NOTIFICATION_ADDED,
                        {},
                        person.notification_seq,
                    ),
                ]
                client = LiveClient(
                    f"{person.name}@{instances[index].name}",
                    person.token,
                    self._rotated(ws_urls, index),
                    streams,
                )
                person.clients.append(client)
                client.start()
            self.add_sender(person, self._rotated(http_urls, number % len(http_urls)))
        for watch in self.watches:
            watch.start()
        await eventually(
            lambda: all(c.connected for c in self.clients()),
            RECOVERY_SECONDS,
            lambda: "every socket open: " + self.describe_clients(),
        )
        self.mark("sockets open")
        await self.probe("before the fault")

    def add_sender(self, person: Person, urls: list[str]) -> Sender:
        name = f"{person.name}#{len(person.senders) + 1}"
        sender = Sender(self.api, name, person.token, person.conversation, urls)
        person.senders.append(sender)
        return sender

    def mark(self, what: str) -> None:
        """Note a step, for the report of a failed test."""
        self.timeline.append((time.monotonic(), what))

    def report(self) -> str:
        began = self.timeline[0][0]
        steps = ", ".join(f"{at - began:.1f}s {what}" for at, what in self.timeline)
        acked = {s.name: len(s.acked) for p in self.people.values() for s in p.senders}
        failed = {s.name: len(s.failed_attempts) for p in self.people.values() for s in p.senders}
        return f"timeline: {steps}\nacked {acked}, failed attempts {failed}\n" + (
            self.describe_clients().replace("; ", "\n")
        )

    def conversation_of(self, person: Person) -> Conversation:
        return next(c for c in self.conversations if c.id == person.conversation)

    def clients(self, include_signed_out: bool = False) -> list[LiveClient]:
        return [
            client
            for person in self.people.values()
            if include_signed_out or not person.signed_out
            for client in person.clients
        ]

    def senders(self) -> list[Sender]:
        return [
            sender
            for person in self.people.values()
            if not person.signed_out
            for sender in person.senders
        ]

    def describe_clients(self) -> str:
        return "; ".join(client.describe() for client in self.clients(include_signed_out=True))

    async def close(self) -> None:
        """Stop every client, sender and watch; each step bounded, so that a stuck one
        cannot hang the run (it is reported, with where every task was)."""
        steps: list[tuple[str, Any]] = [(f"watch {w.base_url}", w.stop) for w in self.watches]
        for person in self.people.values():
            steps += [(f"sender {s.name}", s.cancel) for s in person.senders]
            steps += [(f"client {c.name}", c.stop) for c in person.clients]
            steps += [(f"{person.name}'s socket", s.close) for s in person.witnesses]
        deadline = time.monotonic() + 30
        for name, stop in steps:
            try:
                async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                    await stop()
            except TimeoutError:
                print(f"closing {name} did not finish in time; tasks:")
                for task in asyncio.all_tasks():
                    task.print_stack(limit=6)

    # ---- traffic --------------------------------------------------------------------------

    def start_traffic(self) -> None:
        for sender in self.senders():
            sender.start()

    async def traffic_flowing(self, at_least: int = 3) -> None:
        """Wait until every sender has `at_least` more messages acknowledged."""
        marks = {sender.name: len(sender.acked) for sender in self.senders()}
        await eventually(
            lambda: all(len(s.acked) >= marks[s.name] + at_least for s in self.senders()),
            RECOVERY_SECONDS,
            lambda: (
                "messages acknowledged: "
                + ", ".join(
                    f"{s.name} {len(s.acked)} (from {marks[s.name]})" for s in self.senders()
                )
                + "; last failures: "
                + "; ".join(s.failed_attempts[-1] for s in self.senders() if s.failed_attempts)
            ),
        )

    async def stop_traffic(self) -> None:
        for sender in self.senders():
            await sender.stop()

    # ---- recovery and liveness ------------------------------------------------------------

    async def recovered(self, since: float, traffic: bool = True) -> None:
        """Every live instance ready, every socket open, each instance subscribed (with
        Redis, as Redis itself says), and (with `traffic`) messages acknowledged again."""
        live_urls = set(self.urls)
        watches = [w for w in self.watches if w.base_url in live_urls]
        subscribers: list[int | None] = [None]
        untruthful_since: list[float | None] = [None]

        async def check() -> bool:
            ready = all(w.ready_now() for w in watches)
            if self.deployment.broadcast == "redis":
                subscribers[0] = await self.deployment.redis_subscribers()
                subscribed = (subscribers[0] or 0) >= len(watches)
                if ready and not subscribed:
                    began = untruthful_since[0] = untruthful_since[0] or time.monotonic()
                    if time.monotonic() - began > UNTRUTHFUL_READY_SECONDS:
                        raise FaultSuiteError(
                            "/readyz says 200 on every instance, yet only "
                            f"{subscribers[0]} of {len(watches)} instances are subscribed to "
                            f"Redis, for over {UNTRUTHFUL_READY_SECONDS:.0f} s"
                        )
                else:
                    untruthful_since[0] = None
                ready = ready and subscribed
            return ready and all(c.connected for c in self.clients())

        def state() -> str:
            return (
                f"recovery after the fault: redis subscribers {subscribers[0]}; readyz "
                + "; ".join(f"{w.base_url}: {w.summary(since)}" for w in watches)
                + "; sockets: "
                + self.describe_clients()
            )

        await eventually(check, RECOVERY_SECONDS, state, interval=0.2)
        self.mark("ready, subscribed, sockets open")
        if traffic:
            await self.traffic_flowing(at_least=2)
            self.mark("traffic flowing again")

    async def probe(self, label: str) -> None:
        """Every person sends one message; every open subscription must receive each of
        them, and the other party's notifications about them. Twice: the second round
        goes out after every subscription has caught up, so it can only arrive live."""
        for round_ in (1, 2):
            for person in self.people.values():
                if not person.signed_out:
                    await person.sender.send(f"probe {label} {round_} from {person.name}")
            await self.delivered(f"probe {round_} {label}")
            self.mark(f"probe {round_} {label} delivered")

    async def newest(self) -> tuple[dict[str, int], dict[str, int]]:
        """The newest message seq of each conversation and notification seq of each person,
        as the database has them."""
        connection = await self.deployment.database()
        try:
            messages = {
                c.id: int(
                    await connection.fetchval(
                        "SELECT coalesce(max(seq), 0) FROM chat_messages"
                        " WHERE conversation_id = $1::uuid",
                        c.id,
                    )
                )
                for c in self.conversations
            }
            notifications = {
                p.name: int(
                    await connection.fetchval(
                        "SELECT coalesce(max(seq), 0) FROM notifications"
                        " WHERE recipient_id = $1::uuid",
                        p.id,
                    )
                )
                for p in self.people.values()
            }
        finally:
            await connection.close()
        return messages, notifications

    async def delivered(self, what: str) -> None:
        """Wait until every open subscription has reached what the database holds now."""
        messages, notifications = await self.newest()

        def behind() -> list[str]:
            lagging = []
            for person in self.people.values():
                if person.signed_out:
                    continue
                for client in person.clients:
                    m, n = client.stream("messages"), client.stream("notifications")
                    if m.after < messages[person.conversation]:
                        lagging.append(f"{client.name} messages at {m.after}")
                    if n.after < notifications[person.name]:
                        lagging.append(f"{client.name} notifications at {n.after}")
            return lagging

        await eventually(
            lambda: not behind(),
            DELIVERY_SECONDS,
            lambda: (
                f"{what} delivered to every subscription (database: messages {messages},"
                f" notifications {notifications}); behind: {behind()}; sockets: "
                + self.describe_clients()
            ),
        )

    # ---- the verdicts ----------------------------------------------------------------------

    async def assert_exactly_once(self) -> None:
        """Each subscription received exactly the rows the database has, in order: none
        lost, none twice. Every acknowledged message is stored once, with the seq its
        sender was told."""
        connection = await self.deployment.database()
        problems: list[str] = []
        try:
            for conversation in self.conversations:
                rows = await connection.fetch(
                    "SELECT seq, client_id::text AS client_id FROM chat_messages"
                    " WHERE conversation_id = $1::uuid AND seq > $2 ORDER BY seq",
                    conversation.id,
                    conversation.first_seq,
                )
                stored = {row["client_id"]: int(row["seq"]) for row in rows}
                twice = [k for k, n in Counter(r["client_id"] for r in rows).items() if n > 1]
                if twice:
                    problems.append(f"stored more than once: clientIds {twice}")
                seqs = [int(row["seq"]) for row in rows]
                for person in conversation.people:
                    for acked in (a for sender in person.senders for a in sender.acked):
                        if stored.get(acked.client_id) != acked.seq:
                            problems.append(
                                f"{person.name}'s acknowledged message {acked.client_id} "
                                f"(seq {acked.seq}) is stored as seq "
                                f"{stored.get(acked.client_id)}"
                            )
                    for client in person.clients:
                        problems += _compare(client, "messages", seqs)
            for person in self.people.values():
                notified = await connection.fetch(
                    "SELECT seq FROM notifications WHERE recipient_id = $1::uuid AND seq > $2"
                    " ORDER BY seq",
                    person.id,
                    person.notification_seq,
                )
                seqs = [int(row["seq"]) for row in notified]
                for client in person.clients:
                    problems += _compare(client, "notifications", seqs)
        finally:
            await connection.close()
        acknowledged = sum(len(s.acked) for p in self.people.values() for s in p.senders)
        assert not problems, f"{len(problems)} problem(s) over {acknowledged} acks: {problems}"

    async def assert_logout_closes_every_socket(self, people: Iterable[str] = ()) -> None:
        """`logout(everywhere: true)` by each person (default: everyone still signed in)
        closes each of their sockets with 4401."""
        chosen = [self.people[name] for name in people] or [
            p for p in self.people.values() if not p.signed_out
        ]
        for person in chosen:
            done = await self.api.execute(self.urls[0], LOGOUT_EVERYWHERE, token=person.token)
            assert done["logout"] is True, done
            person.signed_out = True
        clients = [client for person in chosen for client in person.clients]
        await eventually(
            lambda: all(client.ended is not None for client in clients),
            CLOSE_SECONDS,
            lambda: (
                "logout(everywhere) closed every socket of "
                + ", ".join(p.name for p in chosen)
                + ": "
                + "; ".join(c.describe() for c in clients)
            ),
        )
        wrong = [c.describe() for c in clients if c.ended != SESSION_ENDED]
        for person in chosen:
            for number, socket in enumerate(person.witnesses):
                code = await closed_with(socket, CLOSE_SECONDS)
                if code != SESSION_ENDED:
                    wrong.append(f"{person.name}'s socket {number} (opened beside): {code}")
        assert not wrong, f"closed otherwise than with 4401 (session ended): {wrong}"

    def assert_saw_pubsub_down(self, since: float, instances: Iterable[LoggedServer]) -> None:
        for instance in instances:
            watch = next(w for w in self.watches if w.base_url == instance.base_url)
            assert watch.saw_pubsub_down(since), (
                f"/readyz of {instance.name} never said 503 with checks.pubsub false while "
                f"pub/sub was down: {watch.summary(since)}"
            )

    async def metrics(self, instance: LoggedServer) -> dict[str, float]:
        return await self.api.metrics(instance.base_url, self.deployment.metrics_token)

    async def assert_metrics(self, reconnected: bool, resynced: bool = False) -> None:
        """On every live instance: subscribed; reconnected (and resynced) when the fault
        cut the subscriber; after the sockets closed, none counted as open."""
        for instance in self.deployment.live:
            values = await self.metrics(instance)
            assert values.get("healthcare_pubsub_subscribed") == 1, (
                instance.name,
                "healthcare_pubsub_subscribed",
                values.get("healthcare_pubsub_subscribed"),
            )
            if reconnected:
                assert values.get("healthcare_pubsub_reconnects_total", 0) >= 1, (
                    instance.name,
                    "healthcare_pubsub_reconnects_total",
                    values.get("healthcare_pubsub_reconnects_total"),
                )
            if resynced:
                assert values.get("healthcare_pubsub_resyncs_total", 0) >= 1, (
                    instance.name,
                    "healthcare_pubsub_resyncs_total",
                    values.get("healthcare_pubsub_resyncs_total"),
                )
        open_sockets = sum(1 for c in self.clients(include_signed_out=True) if c.connected)
        open_sockets += sum(
            1 for p in self.people.values() for s in p.witnesses if s.close_code is None
        )
        if open_sockets == 0:
            gauges: dict[str, float | None] = {}

            async def none_open() -> bool:
                for instance in self.deployment.live:
                    gauges[instance.name] = (await self.metrics(instance)).get(
                        "healthcare_websockets_open"
                    )
                return all(value == 0 for value in gauges.values())

            await eventually(
                none_open,
                CLOSE_SECONDS,
                lambda: f"healthcare_websockets_open back to 0 once every socket closed: {gauges}",
                interval=0.5,
            )

    async def finish(
        self, reconnected: bool, resynced: bool = False, logout: Iterable[str] = ()
    ) -> None:
        """What every fault test asserts once the fault is over and traffic flows again."""
        await self.stop_traffic()
        self.mark("traffic stopped")
        await self.probe("after the fault")
        await self.assert_exactly_once()
        self.mark("exactly once")
        await self.assert_logout_closes_every_socket(logout)
        self.mark("logout closed every socket")
        await self.assert_metrics(reconnected, resynced)
        self.mark("metrics")


def _compare(client: LiveClient, key: str, stored: list[int]) -> list[str]:
    """What a subscription received against the rows stored: the same list, or, for a
    client signed out meanwhile, the start of it."""
    received = client.stream(key).seqs
    expected = stored if client.ended is None else stored[: len(received)]
    if received == expected:
        return []
    twice = sorted(seq for seq, n in Counter(received).items() if n > 1)
    missing = sorted(set(expected) - set(received))
    return [
        f"{client.name} {key}: received {len(received)}, stored {len(expected)}; "
        f"twice {twice[:20]}; missing {missing[:20]}; errors {client.stream(key).errors[:3]}"
    ]


async def closed_with(socket: Any, seconds: float) -> int | None:
    """Read whatever comes until the server closes the socket; its close code (None if it
    stays open past `seconds`)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                await socket.recv()
    except websockets.ConnectionClosed:
        return int(socket.close_code) if socket.close_code is not None else None
    except TimeoutError:
        return None
