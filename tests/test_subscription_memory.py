"""A long-lived subscription holds constant memory, however many events it delivers.

graphql-core 3.3 memoizes the subfields it collects on its executor, and a subscription's
per-event executors are copies that shared that memo: every event added an entry (about
0.9 KB) held until the subscription ended (healthcare/graphql/execution/lean.py). The server
runs in this process: the test delivers thousands of events to one subscription over a
real WebSocket and compares the memory tracemalloc sees held after 1,000 events (and a
warm-up) and after 3,000.
"""

import asyncio
import gc
import json
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets
from websockets.typing import Subprotocol

from healthcare.realtime import pubsub
from healthcare.security import audit
from tests.conftest import make_appointment

START_CONVERSATION = """
mutation StartConversation($withUserId: ID!) {
  startConversation(withUserId: $withUserId) {
    __typename ... on ConversationPayload { conversation { id } }
  }
}
"""
# A root field and a nested object: two levels of collected subfields per event.
TYPING_CHANGED = """
subscription TypingChanged($conversationId: ID!) {
  typingChanged(conversationId: $conversationId) { conversationId userId typing user { id } }
}
"""
DEADLINE_SECONDS = 60  # for each event: generous, for a loaded machine
BATCH = 50  # events published before reading them back
WARM_UP = 300
FIRST = 1000  # events after warm-up before the first snapshot
MORE = 2000  # events between the two snapshots
# Held per event before the fix: about 2.1 KB with this selection (1 KB with the root
# field's scalars only), 4.2 MB over MORE events. After it: 2 to 8 KB over MORE events on
# SQLite, 2 to 27 KB on PostgreSQL + Redis (rows and timers in flight, one-off caches;
# not per event), so the bound is 64 bytes an event.
MAX_GROWTH_BYTES = 128 * 1024
# Everything the process holds counts (graphql-core's field details are named tuples,
# made in "<string>"), except tracemalloc's own bookkeeping and the import machinery.
NOT_HELD_FOR_EVENTS = ("*/tracemalloc.py", "<frozen importlib._bootstrap*>", "<unknown>")


class TypingSocket:
    """One graphql-transport-ws connection with one `typingChanged` subscription."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, ws_url: str, token: str, conversation_id: str) -> "TypingSocket":
        socket = await websockets.connect(
            ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=None
        )
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        payload = {"query": TYPING_CHANGED, "variables": {"conversationId": conversation_id}}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        return cls(socket)

    async def event(self, seconds: float = DEADLINE_SECONDS) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), seconds))
            if message["type"] in {"ping", "pong"}:
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            event: dict[str, Any] = message["payload"]["data"]["typingChanged"]
            return event


async def first_event(socket: TypingSocket, channel: str, event: dict[str, Any]) -> None:
    """Ring until the subscription hears it: it listens some time after `subscribe`."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        await pubsub.publish(channel, event)
        try:
            await socket.event(seconds=0.2)
        except TimeoutError:
            assert time.monotonic() < deadline, "the subscription heard nothing"
            continue
        return


async def deliver(socket: TypingSocket, channel: str, user_id: str, count: int) -> None:
    """`count` events, published and received in batches, each one checked."""
    for start in range(0, count, BATCH):
        batch = min(BATCH, count - start)
        for n in range(batch):
            await pubsub.publish(channel, {"user_id": user_id, "typing": n % 2 == 0})
        for n in range(batch):
            event = await socket.event()
            assert event["userId"] == user_id and event["user"] == {"id": user_id}, event
            assert event["typing"] is (n % 2 == 0), event


async def settled_snapshot() -> tracemalloc.Snapshot:
    """What is held once the audit trail's reads are written and garbage collected,
    without what no event holds."""
    await audit.written()
    gc.collect()
    filters = [tracemalloc.Filter(False, pattern) for pattern in NOT_HELD_FOR_EVENTS]
    return tracemalloc.take_snapshot().filter_traces(filters)


def held(snapshot: tracemalloc.Snapshot) -> int:
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def test_a_subscription_holds_constant_memory_over_thousands_of_events(
    client, live_server, patient, doctor
):
    # given: the doctor listening for the patient's typing in their conversation
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await make_appointment(patient.user, doctor.user, starts_at=starts_at)
    started = await client.execute(START_CONVERSATION, {"withUserId": doctor.id}, as_=patient)
    conversation_id = started["startConversation"]["conversation"]["id"]
    channel = pubsub.typing_channel(uuid.UUID(conversation_id))
    socket = await TypingSocket.open(live_server.ws_url, doctor.access_token, conversation_id)
    try:
        await first_event(socket, channel, {"user_id": patient.id, "typing": True})
        await deliver(socket, channel, patient.id, WARM_UP)
        tracemalloc.start()
        try:
            # when
            await deliver(socket, channel, patient.id, FIRST)
            after_first = await settled_snapshot()
            await deliver(socket, channel, patient.id, MORE)
            after_more = await settled_snapshot()
        finally:
            tracemalloc.stop()
        # then
        growth = held(after_more) - held(after_first)
        top = after_more.compare_to(after_first, "lineno")[:5]
        assert growth < MAX_GROWTH_BYTES, (
            f"{growth} bytes more held after {MORE} more events ({growth / MORE:.0f} an "
            "event); most: " + "; ".join(str(stat) for stat in top)
        )
    finally:
        await socket.socket.close()
