"""Video calls (issue 17) with real WebRTC peers: two aiortc RTCPeerConnections, the
patient's and the doctor's, find each other only through the API (sendCallSignal and
callSignals) and talk over a data channel; on one server, and on two instances that share
PostgreSQL and Redis. Each run prints the signalling latency it measured.

aiortc gathers every candidate before setLocalDescription returns (it does not trickle),
so the caller sends its whole offer, candidates included, and then each candidate again as
ICE_CANDIDATE. The callee answers as a trickling browser does: the answer without its
candidates, then each one as ICE_CANDIDATE, then the end of candidates (""). The caller can
only learn the callee's candidates through that path, and the test checks that it did.

The call's rules and checks: tests/test_video_calls.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription, candidate_from_sdp, candidate_to_sdp
from websockets.typing import Subprotocol

from healthcare.demo import DEMO_PASSWORD
from tests.conftest import GraphQLClient, LiveServer, Persona, make_appointment
from tests.servers import graphql, login, redis_process, server_process
from tests.test_instances import shared_database  # noqa: F401 (a fixture: skips as it does)
from tests.test_video_calls import ICE, SEND, SIGNALS
from tests.wsclient import TRANSPORT_WS, Subscriber

LEGACY_WS = Subprotocol("graphql-ws")
# Generous: a loaded machine may take seconds to gather, connect ICE and DTLS, and open SCTP.
DEADLINE_SECONDS = 30
TIMED_SIGNALS = 20
PATIENT_SAYS = "Hello doctor, can you hear me?"
DOCTOR_SAYS = "Loud and clear. How are you feeling?"

RESULT = (
    "__typename ... on VideoCallPayload { videoCall { id state } } ... on Error { code message }"
)
START = f"mutation Start($id: ID!) {{ startVideoCall(appointmentId: $id) {{ {RESULT} }} }}"
JOIN = f"mutation Join($id: ID!) {{ joinVideoCall(callId: $id) {{ {RESULT} }} }}"
ME = "query Me { me { id } }"


@dataclass
class Party:
    """One side of the call: who, through which instance, on which WebSocket protocol."""

    user_id: str
    token: str
    http: httpx.AsyncClient  # its base_url is this party's instance
    ws_url: str
    protocol: Subprotocol

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


# ---- candidates: between SDP, the API's RTCIceCandidateInit, and aiortc ------------------


def candidates_of(sdp: str) -> list[dict[str, Any]]:
    """The a=candidate lines of a description, as a browser's RTCIceCandidate.toJSON()."""
    description = SessionDescription.parse(sdp)
    return [
        {
            "candidate": "candidate:" + candidate_to_sdp(candidate),
            "sdpMid": media.rtp.muxId,
            "sdpMLineIndex": index,
            "usernameFragment": media.ice.usernameFragment if media.ice else None,
        }
        for index, media in enumerate(description.media)
        for candidate in media.ice_candidates
    ]


def without_candidates(sdp: str) -> str:
    """The description a trickling browser sends before its candidates."""
    lines = sdp.split("\r\n")
    kept = [line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))]
    return "\r\n".join(kept)


def to_aiortc(init: dict[str, Any]) -> RTCIceCandidate | None:
    """A candidate as callSignals delivers it, for addIceCandidate; None: no more."""
    if not init["candidate"]:
        return None
    candidate = candidate_from_sdp(init["candidate"].removeprefix("candidate:"))
    candidate.sdpMid = init["sdpMid"]
    candidate.sdpMLineIndex = init["sdpMLineIndex"]
    return candidate


# ---- one party's signal stream and peer ---------------------------------------------------


@dataclass
class Arrival:
    at: float  # time.perf_counter() when its frame was read off the socket
    signal: dict[str, Any]


class SignalStream:
    """A `callSignals` subscription read as frames arrive, each stamped on arrival, so that
    a busy consumer does not add to the latency measured."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.arrivals: asyncio.Queue[Arrival | BaseException | None] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.subscriber.socket:
                at = time.perf_counter()
                message = json.loads(raw)
                if message["type"] in {"next", "data"} and "errors" not in message["payload"]:
                    self.arrivals.put_nowait(Arrival(at, message["payload"]["data"]["callSignals"]))
                elif message["type"] == "complete":
                    self.arrivals.put_nowait(None)
                elif message["type"] not in {"ka", "ping", "pong"}:
                    self.arrivals.put_nowait(AssertionError(f"unexpected {message}"))
        except websockets.ConnectionClosed as closed:
            self.arrivals.put_nowait(closed)

    async def _get(self) -> Arrival | None:
        item = await asyncio.wait_for(self.arrivals.get(), DEADLINE_SECONDS)
        if isinstance(item, BaseException):
            raise item
        return item

    async def next(self) -> Arrival:
        arrival = await self._get()
        assert arrival is not None, "the stream completed"
        return arrival

    async def completes(self) -> bool:
        return await self._get() is None

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        await self.subscriber.close()


@dataclass
class Peer:
    """One party's RTCPeerConnection, which signals only through the API."""

    party: Party
    call_id: str
    pc: RTCPeerConnection
    stream: SignalStream
    heard: asyncio.Future[str] = field(default_factory=asyncio.Future)
    sent_candidates: list[dict[str, Any]] = field(default_factory=list)
    received_candidates: list[dict[str, Any]] = field(default_factory=list)
    answer_arrived_at: float = 0.0

    async def send(self, kind: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        variables = {"id": self.call_id, "kind": kind, "payload": payload}
        sent = (await self.party.execute(SEND, variables))["sendCallSignal"]
        assert sent["__typename"] == "CallSignalSent", sent
        return sent

    async def send_candidates(self) -> None:
        """Each candidate of the local description, then the end of candidates."""
        candidates = candidates_of(self.pc.localDescription.sdp)
        assert candidates, "aiortc found no host candidate on this machine"
        last = candidates[-1]
        for candidate in [*candidates, {**last, "candidate": ""}]:
            await self.send("ICE_CANDIDATE", {"candidate": candidate})
            self.sent_candidates.append(candidate)

    def speak_on(self, channel: RTCDataChannel, words: str) -> None:
        def hear(message: str) -> None:
            if not self.heard.done():
                self.heard.set_result(message)

        channel.on("message", hear)
        if channel.readyState == "open":
            channel.send(words)
        else:
            channel.on("open", lambda: channel.send(words))

    async def call(self, words: str) -> float:
        """Offer a data channel; the time the offer took to be answered (seconds)."""
        self.speak_on(self.pc.createDataChannel("consultation"), words)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offered_at = time.perf_counter()
        await self.send("OFFER", {"sdp": self.pc.localDescription.sdp})  # candidates and all
        await self.send_candidates()
        await self.negotiate()
        return self.answer_arrived_at - offered_at

    async def answer(self, words: str) -> None:
        self.pc.on("datachannel", lambda channel: self.speak_on(channel, words))
        await self.negotiate()

    async def negotiate(self) -> None:
        """Apply the other party's signals, answering an offer, until its end of candidates."""
        while True:
            arrival = await self.stream.next()
            signal = arrival.signal
            if signal["kind"] == "OFFER":
                await self.pc.setRemoteDescription(RTCSessionDescription(signal["sdp"], "offer"))
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                answer = without_candidates(self.pc.localDescription.sdp)
                await self.send("ANSWER", {"sdp": answer})
                await self.send_candidates()
            elif signal["kind"] == "ANSWER":
                self.answer_arrived_at = arrival.at
                await self.pc.setRemoteDescription(RTCSessionDescription(signal["sdp"], "answer"))
            elif signal["kind"] == "ICE_CANDIDATE":
                self.received_candidates.append(signal["candidate"])
                candidate = to_aiortc(signal["candidate"])
                await self.pc.addIceCandidate(candidate)
                if candidate is None:
                    return
            else:
                raise AssertionError(f"unexpected signal {signal}")

    def remote_candidates(self) -> set[tuple[str, int, str]]:
        """What this peer's ICE agent knows of the other party: address, port and type
        (a "prflx" one it learned from a connectivity check, not from signalling)."""
        assert self.pc.sctp is not None
        ice = self.pc.sctp.transport.transport
        return {(c.ip, c.port, c.type) for c in ice.getRemoteCandidates()}


@contextlib.asynccontextmanager
async def peer(party: Party, call_id: str) -> AsyncIterator[Peer]:
    """A peer configured with the call's `iceServers`, subscribed to its signals."""
    servers = (await party.execute(ICE, {"id": call_id}))["iceServers"]
    assert servers is not None, "iceServers: no such live call"
    ice_servers = [RTCIceServer(s["urls"], s["username"], s["credential"]) for s in servers]
    # An empty list, not None: aiortc's default would ask Google's STUN server.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
    stream: SignalStream | None = None
    try:
        stream = SignalStream(await Subscriber.open(party.ws_url, party.token, party.protocol))
        await stream.subscriber.subscribe(SIGNALS, {"id": call_id})
        yield Peer(party, call_id, pc, stream)
    finally:
        await pc.close()
        if stream is not None:
            await stream.close()


# ---- the call -----------------------------------------------------------------------------


@dataclass
class Figures:
    offer_answered_seconds: float
    delivered_seconds: list[float]  # sendCallSignal sent .. the other's subscription read it
    responded_seconds: list[float]  # sendCallSignal sent .. its response read

    def report(self, setting: str) -> None:
        def ms(values: list[float]) -> str:
            p90 = statistics.quantiles(values, n=10)[-1]
            return f"median {statistics.median(values) * 1e3:.1f} ms, p90 {p90 * 1e3:.1f} ms"

        print(
            f"\nsignalling through the API ({setting}), {len(self.delivered_seconds)} "
            f"ICE_CANDIDATE signals one at a time: sent to received {ms(self.delivered_seconds)}"
            f"; mutation response {ms(self.responded_seconds)}; offer to answer received "
            f"{self.offer_answered_seconds * 1e3:.1f} ms (with the callee's aiortc work)"
        )


async def timed_signals(caller: Peer, callee: Peer) -> tuple[list[float], list[float]]:
    """Small ICE_CANDIDATE signals, each way in turn, in the connected call."""
    delivered, responded = [], []
    for number in range(TIMED_SIGNALS):
        sender, receiver = (caller, callee) if number % 2 == 0 else (callee, caller)
        began = time.perf_counter()
        sent = await sender.send("ICE_CANDIDATE", {"candidate": sender.sent_candidates[0]})
        responded.append(time.perf_counter() - began)
        arrival = await receiver.stream.next()
        assert (arrival.signal["seq"], arrival.signal["kind"]) == (sent["seq"], "ICE_CANDIDATE")
        delivered.append(arrival.at - began)
    return delivered, responded


async def call_and_talk(patient: Party, doctor: Party, appointment_id: str) -> Figures:
    """The patient calls, the doctor joins; their peers connect through the API's
    signalling, say hello over a data channel, and the patient hangs up."""
    started = (await patient.execute(START, {"id": appointment_id}))["startVideoCall"]
    assert started["__typename"] == "VideoCallPayload", started
    call_id = started["videoCall"]["id"]
    joined = (await doctor.execute(JOIN, {"id": call_id}))["joinVideoCall"]
    assert joined["videoCall"]["state"] == "ACTIVE", joined
    async with peer(patient, call_id) as caller, peer(doctor, call_id) as callee:
        negotiated = asyncio.gather(caller.call(PATIENT_SAYS), callee.answer(DOCTOR_SAYS))
        offer_answered, _ = await asyncio.wait_for(negotiated, DEADLINE_SECONDS)
        heard = asyncio.gather(caller.heard, callee.heard)
        assert await asyncio.wait_for(heard, DEADLINE_SECONDS) == [DOCTOR_SAYS, PATIENT_SAYS]
        assert (caller.pc.connectionState, callee.pc.connectionState) == ("connected",) * 2
        # every candidate arrived as sent, in order
        assert caller.received_candidates == callee.sent_candidates
        assert callee.received_candidates == caller.sent_candidates
        # the answer held none: the caller knows the doctor's candidates from the signals
        trickled = {(c.ip, c.port, c.type) for c in map(to_aiortc, callee.sent_candidates) if c}
        assert trickled <= caller.remote_candidates()
        delivered, responded = await timed_signals(caller, callee)
        hung_up = await caller.send("HANGUP")
        assert (hung_up["seq"], hung_up["videoCall"]["state"]) == (None, "ENDED")
        for party in (caller, callee):
            last = (await party.stream.next()).signal
            assert (last["kind"], last["callState"]) == ("HANGUP", "ENDED")
            assert last["senderId"] == patient.user_id
            assert await party.stream.completes()
    return Figures(offer_answered, delivered, responded)


# ---- one server, and two instances --------------------------------------------------------


async def test_a_patient_and_a_doctor_connect_webrtc_peers_through_the_api_and_talk(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    # given: an appointment that started five minutes ago (its call window is open)
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    appointment = await make_appointment(patient.user, doctor.user, starts)
    ws_url = live_server.ws_url
    on_patient = Party(patient.id, patient.access_token, client.http, ws_url, TRANSPORT_WS)
    on_doctor = Party(doctor.id, doctor.access_token, client.http, ws_url, LEGACY_WS)
    # when / then
    figures = await call_and_talk(on_patient, on_doctor, str(appointment.id))
    settings = live_server.settings
    backends = f"{settings.database_url.split(':')[0]}, {settings.broadcast_url.split(':')[0]}"
    figures.report(f"one server, {backends}")


async def appointment_in_its_window(database_url: str, patient_id: str, doctor_id: str) -> str:
    """Written straight to the shared database, as make_appointment does. It ended two
    minutes ago (its window stays open 28 more), so it overlaps none of the demo's
    appointments (a week ago, and the next free slot)."""
    ends = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    appointment_id = uuid.uuid4()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            'INSERT INTO "appointments" ("id", "patient_id", "doctor_id", "starts_at", '
            '"ends_at", "reason", "status", "created_at", "updated_at") '
            "VALUES ($1, $2, $3, $4, $5, 'Video check-up', 'SCHEDULED', $6, $6)",
            appointment_id,
            uuid.UUID(patient_id),
            uuid.UUID(doctor_id),
            ends - timedelta(minutes=20),
            ends,
            datetime.now(UTC),
        )
    finally:
        await connection.close()
    return str(appointment_id)


async def test_webrtc_peers_on_two_instances_connect_through_the_api_and_talk(
    tmp_path: Path,
    shared_database: str,  # noqa: F811 (the fixture imported above)
) -> None:
    with redis_process(tmp_path) as redis:
        env = {"DATABASE_URL": shared_database, "BROADCAST_URL": redis.url}
        env["JWT_SECRET"] = "webrtc-instances-secret-" + uuid.uuid4().hex
        with (
            server_process(tmp_path / "a", **env) as instance_a,
            server_process(tmp_path / "b", **env) as instance_b,
        ):
            # given: the demo patient signed in on A, the demo doctor on B, and their
            # appointment in its call window
            alice = login(instance_a.base_url, "alice@demo.clinic", DEMO_PASSWORD)
            house = login(instance_b.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
            alice_id = graphql(instance_a.base_url, alice, ME)["me"]["id"]
            house_id = graphql(instance_b.base_url, house, ME)["me"]["id"]
            appointment_id = await appointment_in_its_window(shared_database, alice_id, house_id)
            async with (
                httpx.AsyncClient(base_url=instance_a.base_url, timeout=30) as to_a,
                httpx.AsyncClient(base_url=instance_b.base_url, timeout=30) as to_b,
            ):
                on_a = Party(alice_id, alice, to_a, instance_a.ws_url, LEGACY_WS)
                on_b = Party(house_id, house, to_b, instance_b.ws_url, TRANSPORT_WS)
                # when / then
                figures = await call_and_talk(on_a, on_b, appointment_id)
    figures.report("patient on instance A, doctor on B, PostgreSQL + Redis")
