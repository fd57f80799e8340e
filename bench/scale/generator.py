"""One load-generator process of bench.scale: its share of the sockets, its share of the
chat schedule and of the booking loop, and what it saw.

The parent drives every generator through the same phases (connect, subscribe, run,
close) over a pipe. Sockets: graphql-transport-ws with `websockets` on uvloop, offering
permessage-deflate as browsers do (unless told not to), signed in by `connection_init`.
Pair p and listener l belong to generator `p % G` and `l % G`; all sends follow one
global schedule (message n at start + n / rate), so together the generators send at the
aggregate rate whatever their number. Times are `time.monotonic_ns()` (CLOCK_MONOTONIC,
the same clock in every process): latency is from just before the send (a sendMessage
frame, or the cancelAppointment POST) to the moment the other party's socket yields the
pushed message or notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.chat.clients import MESSAGE_ADDED
from bench.common import environment
from bench.common.seed import Pair
from bench.scale.clients import Ledger, Socket
from bench.scale.seed import Listener
from bench.soak.api import BOOK, CANCEL

NOTIFICATION_ADDED = """
subscription NotificationAdded { notificationAdded { id seq kind title body createdAt } }
"""
CONNECT_CONCURRENCY = 64  # handshakes in flight per generator
LAG_TICK = 0.01  # the event-loop lag probe's period, s
HTTP_CONNECTIONS = 32


@dataclass(frozen=True)
class Plan:
    """What one generator does: its pairs and listeners (every G-th, from `index`)."""

    base_url: str
    index: int
    generators: int
    pairs: Sequence[Pair]
    listeners: Sequence[Listener]
    pairs_total: int
    listeners_total: int
    compression: bool
    rate: float  # chat messages/s, all generators together
    notify_rate: float  # cancellations/s, all generators together
    seconds: float
    drain: float


class Generator:
    """This process's sockets, schedules and ledgers."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.chat, self.notices = Ledger(), Ledger()
        self.errors: Counter[str] = Counter()
        self.closing = False
        # Chat sockets first (pair j: 2j patient, 2j + 1 doctor), then the listeners.
        self.sockets = [Socket(self, i, i // 2) for i in range(2 * len(plan.pairs))]
        self.sockets += [
            Socket(self, len(self.sockets) + i, -1) for i in range(len(plan.listeners))
        ]
        self.visits = [listener.appointment_id for listener in plan.listeners]
        self.busy: set[int] = set()
        self.lags: list[float] = []
        self.http: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def token(self, socket: Socket) -> str:
        if socket.pair >= 0:
            return self.plan.pairs[socket.pair].token(socket.index % 2)
        return self.plan.listeners[socket.index - 2 * len(self.plan.pairs)].patient_token

    async def connect(self) -> dict[str, Any]:
        started, cpu = time.monotonic(), time.process_time()
        slots = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(socket: Socket) -> bool:
            async with slots:
                return await socket.open(self.token(socket))

        try:
            deflate = await asyncio.gather(*(one(s) for s in self.sockets))
        except (OSError, InvalidHandshake, TimeoutError, RuntimeError) as error:
            raise RuntimeError(f"generator {self.plan.index}: connect failed: {error!r}") from None
        return {
            "sockets": len(self.sockets),
            "seconds": round(time.monotonic() - started, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "deflate_negotiated": sum(deflate),
        }

    async def subscribe(self) -> dict[str, Any]:
        started = time.monotonic()
        work = []
        for socket in self.sockets:
            if socket.pair >= 0:
                conversation = self.plan.pairs[socket.pair].conversation_id
                work.append(socket.subscribe(MESSAGE_ADDED, {"conversationId": conversation}))
            else:
                work.append(socket.subscribe(NOTIFICATION_ADDED, {}))
        await asyncio.gather(*work)
        return {"seconds": round(time.monotonic() - started, 2)}

    def frame(self, socket: Socket, message: dict[str, Any], at: int) -> None:
        kind, operation = message.get("type"), message.get("id")
        if kind == "next" and operation == "sub":
            data = (message.get("payload") or {}).get("data")
            if not data:
                self.errors[f"subscription error: {str(message)[:100]}"] += 1
            elif socket.pair >= 0:
                self.chat.arrived(data["messageAdded"]["clientId"], socket.index, at)
            elif data["notificationAdded"]["kind"] == "APPOINTMENT_CANCELLED":
                self.notices.arrived(socket.index, socket.index, at)
        elif kind == "next" and operation in socket.in_flight:  # a sendMessage result
            client_id, sent_at = socket.in_flight.pop(str(operation))
            result = ((message.get("payload") or {}).get("data") or {}).get("sendMessage") or {}
            ok = result.get("__typename") == "MessagePayload"
            self.chat.acked(client_id, sent_at, at, ok)
            if not ok:
                self.errors[f"sendMessage: {str(message)[:100]}"] += 1
        elif kind == "error":
            self.errors[f"error frame: {str(message.get('payload'))[:100]}"] += 1
        elif kind == "ping" and socket.socket is not None:
            self.spawn(socket.socket.send(json.dumps({"type": "pong"})))

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, start_ns: int) -> dict[str, Any]:
        """Both schedules from `start_ns`, then wait for the deliveries (at most `drain`)."""
        plan = self.plan
        self.http = httpx.AsyncClient(
            base_url=plan.base_url,
            timeout=30,
            trust_env=False,
            limits=httpx.Limits(max_connections=HTTP_CONNECTIONS),
        )
        probe = asyncio.create_task(self._probe_lag())
        cpu = time.process_time()
        await asyncio.gather(self._chat(start_ns), self._bookings(start_ns))
        cpu_seconds, window = time.process_time() - cpu, time.monotonic() - start_ns / 1e9
        probe.cancel()
        for ledger in (self.chat, self.notices):
            if ledger.lost():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ledger.delivered.wait(), plan.drain)
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=plan.drain)
        await self.http.aclose()
        return {
            "chat": self.chat.result(),
            "notifications": self.notices.result(),
            "cpu_percent": round(cpu_seconds / window * 100, 1),
            "loop_lag": self.lags,
            "errors": dict(self.errors),
        }

    async def _probe_lag(self) -> None:
        """How late a LAG_TICK timer fires: a busy generator shows here first."""
        while True:  # perf_counter: uvloop's own clock counts whole milliseconds
            due = time.perf_counter() + LAG_TICK
            await asyncio.sleep(LAG_TICK)
            self.lags.append(time.perf_counter() - due)

    async def _at(self, due_ns: int) -> None:
        delay = (due_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)

    async def _chat(self, start_ns: int) -> None:
        plan = self.plan
        if not plan.rate or not plan.pairs_total:
            return
        for n in range(round(plan.rate * plan.seconds)):
            pair = n % plan.pairs_total
            if pair % plan.generators != plan.index:
                continue
            await self._at(start_ns + round(n / plan.rate * 1e9))
            local, side = pair // plan.generators, (n // plan.pairs_total) % 2
            socket = self.sockets[2 * local + side]
            conversation = plan.pairs[local].conversation_id
            self.spawn(self._send(socket, conversation))

    async def _send(self, socket: Socket, conversation: str) -> None:
        try:
            await socket.send_message(conversation, str(uuid.uuid4()))
        except (ConnectionClosed, OSError) as error:
            self.errors[f"send failed: {type(error).__name__}"] += 1

    async def _bookings(self, start_ns: int) -> None:
        plan = self.plan
        if not plan.notify_rate or not plan.listeners_total:
            return
        for k in range(round(plan.notify_rate * plan.seconds)):
            listener = k % plan.listeners_total
            if listener % plan.generators != plan.index:
                continue
            await self._at(start_ns + round(k / plan.notify_rate * 1e9))
            local = listener // plan.generators
            if local in self.busy:
                self.errors["listener still busy: step skipped"] += 1
                continue
            self.busy.add(local)
            self.spawn(self._cancel_and_rebook(local))

    async def _cancel_and_rebook(self, local: int) -> None:
        """The doctor cancels the visit (the patient is notified: measured), then the
        patient books the same slot again (the doctor is notified: load, not measured)."""
        listener, socket = (
            self.plan.listeners[local],
            self.sockets[2 * len(self.plan.pairs) + local],
        )
        try:
            variables = {"id": self.visits[local], "reason": "Something came up"}
            sent_at = time.monotonic_ns()
            self.notices.sent(socket.index, socket.index, sent_at)
            result = await self._call(CANCEL, variables, listener.doctor_token, "cancelAppointment")
            ok = result.get("__typename") == "AppointmentPayload"
            self.notices.acked(socket.index, sent_at, time.monotonic_ns(), ok)
            if not ok:
                self.errors[f"cancelAppointment: {str(result)[:100]}"] += 1
                return
            booking = {
                "doctorId": listener.doctor_id,
                "startsAt": listener.starts_at,
                "reason": "Booked again by the scale benchmark",
            }
            result = await self._call(
                BOOK, {"input": booking}, listener.patient_token, "bookAppointment"
            )
            if result.get("__typename") != "AppointmentPayload":
                self.errors[f"bookAppointment: {str(result)[:100]}"] += 1
                return
            self.visits[local] = result["appointment"]["id"]
        except (httpx.HTTPError, ValueError, KeyError) as error:
            self.errors[f"booking loop: {type(error).__name__}"] += 1
        finally:
            self.busy.discard(local)

    async def _call(self, query: str, variables: dict[str, Any], token: str, field: str) -> dict:
        assert self.http is not None
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        body = response.json()
        if body.get("errors"):
            return {"errors": body["errors"]}
        return (body.get("data") or {}).get(field) or {}

    async def close(self) -> None:
        self.closing = True
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)


def main(plan: Plan, pipe: Connection) -> None:
    """A generator process: obey the parent's commands until "close"."""
    environment.use_uvloop()
    asyncio.run(_serve(plan, pipe))


async def _serve(plan: Plan, pipe: Connection) -> None:
    generator = Generator(plan)
    while True:
        command, argument = await asyncio.to_thread(pipe.recv)
        try:
            if command == "connect":
                reply: Any = await generator.connect()
            elif command == "subscribe":
                reply = await generator.subscribe()
                # Thousands of long-lived sockets: keep the collector from walking them
                # all in a full collection mid-run (a pause would show as latency).
                gc.collect()
                gc.freeze()
            elif command == "run":
                reply = await generator.run(argument)
            else:
                await generator.close()
                pipe.send(("ok", None))
                return
        except Exception as error:  # reported to the parent, which stops the run
            pipe.send(("failed", f"{type(error).__name__}: {error}"))
            await generator.close()
            return
        pipe.send(("ok", reply))
