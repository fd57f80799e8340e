"""The rest of the mixed traffic: chat sends on a schedule, queries, bookings (each one
cancelled a little later), socket churn, and token refreshes.

Each kind is an open loop: a step is started every `interval` seconds (jittered) as a
task of its own, whatever the previous one is doing, with a cap on how many run at once
(a slow server shows as latency and failures, not as a quietly lighter load). The sleeps
here only pace the load; nothing waits on a sleep for something to have happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.soak import api
from bench.soak.api import Account, ApiError, Http, Pair
from bench.soak.chat import OPEN_TIMEOUT, TRANSPORT_WS, ChatClient

MAX_IN_FLIGHT = 20  # of each kind
TEXT = "Running ten minutes late, the traffic on the ring road is terrible. See you soon!"


@dataclass
class Load:
    """Steps per second of each kind (the chat clients are set up apart)."""

    messages_per_second: float = 3.0
    queries_per_second: float = 3.0
    bookings_per_second: float = 0.3
    sockets_per_second: float = 1.0


@dataclass
class Counts:
    """What the traffic did, per instance, this minute and in all."""

    instances: int
    minute: list[Counter[str]] = field(default_factory=list)
    total: list[Counter[str]] = field(default_factory=list)
    latencies: list[list[float]] = field(default_factory=list)  # query seconds, this minute
    errors: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.minute = [Counter() for _ in range(self.instances)]
        self.total = [Counter() for _ in range(self.instances)]
        self.latencies = [[] for _ in range(self.instances)]

    def add(self, instance: int, what: str) -> None:
        self.minute[instance][what] += 1
        self.total[instance][what] += 1

    def failed(self, instance: int, what: str, error: BaseException) -> None:
        self.add(instance, f"{what} failed")
        self.errors[f"{what}: {str(error)[:100] or type(error).__name__}"] += 1

    def next_minute(self) -> tuple[list[Counter[str]], list[list[float]]]:
        minute, latencies = self.minute, self.latencies
        self.minute = [Counter() for _ in range(self.instances)]
        self.latencies = [[] for _ in range(self.instances)]
        return minute, latencies


class Traffic:
    def __init__(
        self,
        http: Http,
        ws_urls: Sequence[str],
        pairs: Sequence[Pair],
        chat: Sequence[ChatClient],
        load: Load,
        seed: int,
    ) -> None:
        self.http, self.ws_urls, self.pairs, self.chat, self.load = http, ws_urls, pairs, chat, load
        self.instances = len(ws_urls)
        self.counts = Counts(self.instances)
        self.random = random.Random(seed)  # noqa: S311 (load choices, not secrets)
        self.tasks: set[asyncio.Task[None]] = set()
        self.loops: list[asyncio.Task[None]] = []
        self.appointments: dict[str, list[str]] = {}  # user id -> appointment ids seen
        for pair in pairs:
            for account in (pair.patient, pair.doctor):
                self.appointments.setdefault(account.user_id, []).extend(pair.appointment_ids)

    # The loops.

    def start(self) -> None:
        schedule: list[tuple[str, float, Callable[[int], Awaitable[None]]]] = [
            ("message", self.load.messages_per_second, self.message),
            ("query", self.load.queries_per_second, self.query),
            ("booking", self.load.bookings_per_second, self.booking),
            ("socket", self.load.sockets_per_second, self.socket_churn),
        ]
        for name, rate, step in schedule:
            if rate > 0:
                self.loops.append(asyncio.create_task(self._every(name, 1 / rate, step)))

    async def _every(
        self, name: str, interval: float, step: Callable[[int], Awaitable[None]]
    ) -> None:
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        n = 0
        next_at = time.monotonic()
        while True:
            next_at += interval * self.random.uniform(0.5, 1.5)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if in_flight.locked():
                self.counts.errors[f"{name}: skipped, {MAX_IN_FLIGHT} still in flight"] += 1
                continue
            n += 1
            self._spawn(self._bounded(in_flight, step(n)))

    @staticmethod
    async def _bounded(slots: asyncio.Semaphore, step: Awaitable[None]) -> None:
        async with slots:
            await step

    def _spawn(self, step: Awaitable[None]) -> None:
        async def run() -> None:
            await step

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self, wait_seconds: float) -> None:
        """Stop starting steps; let those under way finish (at most `wait_seconds`)."""
        for loop in self.loops:
            loop.cancel()
        for loop in self.loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if self.tasks and wait_seconds > 0:
            await asyncio.wait(list(self.tasks), timeout=wait_seconds)
        left = list(self.tasks)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    # The steps.

    async def message(self, n: int) -> None:
        await self.random.choice(self.chat).send(f"{TEXT} ({n})")

    def _someone(self) -> tuple[Account, int]:
        pair = self.random.choice(self.pairs)
        return self.random.choice((pair.patient, pair.doctor)), self.random.randrange(
            self.instances
        )

    async def query(self, n: int) -> None:
        account, instance = self._someone()
        name = self.random.choice(list(api.QUERIES))
        variables: dict[str, Any] = {}
        if name == "appointment":
            variables["id"] = self.random.choice(self.appointments[account.user_id])
        started = time.perf_counter()
        try:
            data = await self.http.call(
                instance, api.QUERIES[name], variables, account.access_token
            )
            if name == "appointment" and data["appointment"] is None:
                raise ApiError("appointment: null for a participant")
        except (ApiError, KeyError) as error:
            self.counts.failed(instance, "query", error)
            return
        self.counts.latencies[instance].append(time.perf_counter() - started)
        self.counts.add(instance, "query")

    async def booking(self, n: int) -> None:
        """A patient books a free slot with some doctor this week, and cancels it later."""
        patient = self.random.choice(self.pairs).patient
        doctor = self.random.choice(self.pairs).doctor
        instance = self.random.randrange(self.instances)
        try:
            slots = (
                await self.http.call(
                    instance,
                    api.SLOTS,
                    {"doctorId": doctor.user_id, **api.week_ahead()},
                    patient.access_token,
                )
            )["availableSlots"]
            if not slots:
                raise ApiError("no free slot this week")
            starts_at = self.random.choice(slots[:100])["startsAt"]
            booking = {"doctorId": doctor.user_id, "reason": "Soak visit", "startsAt": starts_at}
            result = (
                await self.http.call(instance, api.BOOK, {"input": booking}, patient.access_token)
            )["bookAppointment"]
        except (ApiError, KeyError) as error:
            self.counts.failed(instance, "booking", error)
            return
        if result["__typename"] != "AppointmentPayload":
            # SlotUnavailable: the patient has a visit then, or another booking took it.
            self.counts.add(instance, f"booking: {result['__typename']}")
            return
        self.counts.add(instance, "booked")
        appointment_id = result["appointment"]["id"]
        for account in (patient, doctor):
            self.appointments[account.user_id].append(appointment_id)
        await asyncio.sleep(self.random.uniform(5, 40))  # the patient changes their mind
        who = self.random.choice((patient, doctor))
        instance = self.random.randrange(self.instances)
        try:
            await self.http.result(
                instance,
                "cancelAppointment",
                "AppointmentPayload",
                api.CANCEL,
                {"id": appointment_id, "reason": "Something came up"},
                who.access_token,
            )
        except (ApiError, KeyError) as error:
            self.counts.failed(instance, "cancel", error)
            return
        self.counts.add(instance, "cancelled")

    async def socket_churn(self, n: int) -> None:
        """A socket that signs in, subscribes (to a conversation from a few messages back,
        or to notifications), reads for a moment and goes: a tab opened and closed."""
        client = self.random.choice(self.chat)
        instance = n % self.instances
        if self.random.random() < 0.5:
            after = max(0, client.last_seq - 3)
            query = api.MESSAGE_ADDED
            variables: dict[str, Any] = {
                "conversationId": client.conversation_id,
                "afterSeq": after,
            }
        else:
            query, variables = api.NOTIFICATION_ADDED, {"afterSeq": None}
        try:
            async with connect(
                self.ws_urls[instance],
                subprotocols=[TRANSPORT_WS],
                open_timeout=OPEN_TIMEOUT,
                close_timeout=2,
                ping_interval=None,
            ) as socket:
                self.counts.add(instance, "socket opened")
                token = client.account.access_token
                init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                await socket.send(json.dumps(init))
                reply = json.loads(await asyncio.wait_for(socket.recv(), OPEN_TIMEOUT))
                if reply.get("type") != "connection_ack":
                    raise ApiError(f"connection_init answered {reply.get('type')}")
                payload = {"query": query, "variables": variables}
                await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
                deadline = time.monotonic() + self.random.uniform(0.5, 4.0)  # how long it stays
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        frame = json.loads(await asyncio.wait_for(socket.recv(), left))
                    except TimeoutError:
                        break
                    if frame.get("type") == "next":
                        if (frame.get("payload") or {}).get("errors"):
                            raise ApiError(f"subscription error: {str(frame)[:100]}")
                        self.counts.add(instance, "socket event")
                    elif frame.get("type") in ("error", "complete"):
                        raise ApiError(f"subscription ended: {str(frame)[:100]}")
                    elif frame.get("type") == "ping":
                        await socket.send(json.dumps({"type": "pong"}))
                await socket.send(json.dumps({"id": "1", "type": "complete"}))
            self.counts.add(instance, "socket closed")
        except (ApiError, OSError, TimeoutError, ConnectionClosed) as error:
            self.counts.failed(instance, "socket", error)


async def keep_signed_in(http: Http, accounts: Sequence[Account], counts: Counts) -> None:
    """Refresh each access token a few minutes before it expires (runs longer than the
    15-minute tokens). A socket signed in with the old token is closed by the server when
    that token expires (4401); its client opens another with the new one and resumes."""
    while True:
        now = time.monotonic()
        due = [a for a in accounts if a.expires_at - now < api.REFRESH_BEFORE_SECONDS]
        for n, account in enumerate(due):
            try:
                await api.refresh(http, n % counts.instances, account)
                counts.add(n % counts.instances, "token refreshed")
            except ApiError as error:
                counts.failed(n % counts.instances, "refresh", error)
        await asyncio.sleep(10)  # pacing: look again in a while
