"""The requests bench.datascale sends: bench.api's list, lookup and booking, and free
slots and chat, each a named operation with variables, as a front end sends them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.api import httpload
from bench.api import operations as api_ops
from bench.api.data import Dataset

SLOTS = "AvailableSlots"
SEND = "SendMessage"
PAGE = "ConversationMessages"
SLOTS_DAYS = 7  # a week of free slots, from today
PAGE_SIZE = 20  # the conversation's default page

# A doctor's free slots for the coming week (the patient's booking screen).
SLOTS_QUERY = """query AvailableSlots($doctorId: ID!, $fromDate: Date!, $toDate: Date!) {
  availableSlots(doctorId: $doctorId, fromDate: $fromDate, toDate: $toDate) {
    startsAt endsAt localStartsAt
  }
}"""

SEND_MUTATION = """mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
    __typename
    ... on MessagePayload { chatMessage { id seq createdAt clientId } }
    ... on Error { code message }
  }
}"""

# The conversation's newest page of history (opening a chat).
PAGE_QUERY = """query ConversationMessages($id: ID!, $last: Int!) {
  conversation(id: $id) {
    id lastSeq
    messages(last: $last) {
      messages { id seq text createdAt sender { id firstName lastName } }
      hasMore nextBeforeSeq
    }
  }
}"""

DOCUMENTS = {SLOTS: SLOTS_QUERY, SEND: SEND_MUTATION, PAGE: PAGE_QUERY}

# The operations, in the order they are measured; what a good answer contains.
OPERATIONS = ("list", "lookup", "book", "slots", "send", "page")
EXPECT = {
    "list": b'"appointments"',
    "lookup": b'"appointment"',
    "book": b'"AppointmentPayload"',
    "slots": b'"startsAt"',  # at least one free slot
    "send": b'"MessagePayload"',
    "page": b'"seq"',  # at least one message
}
LABELS = {
    "list": "a doctor's appointments(first: 50) + patient + consultation",
    "lookup": "appointment(id) + patient, doctor, consultation",
    "book": "bookAppointment, distinct free slots",
    "slots": f"availableSlots, a doctor's next {SLOTS_DAYS} days",
    "send": "sendMessage over HTTP into an existing conversation",
    "page": f"conversation(id) + messages(last: {PAGE_SIZE})",
}


def body(operation: str, variables: dict[str, Any]) -> bytes:
    document = DOCUMENTS[operation]
    payload = {"query": document, "operationName": operation, "variables": variables}
    return json.dumps(payload).encode()


def slots_body(doctor_id: str, today: datetime) -> bytes:
    last = today + timedelta(days=SLOTS_DAYS - 1)
    variables = {"doctorId": doctor_id, "fromDate": today.date().isoformat()}
    return body(SLOTS, variables | {"toDate": last.date().isoformat()})


def send_body(conversation_id: str) -> bytes:
    variables = {"conversationId": conversation_id, "clientId": str(uuid.uuid4())}
    return body(SEND, variables | {"text": "Benchmark message: see you on Tuesday."})


def page_body(conversation_id: str) -> bytes:
    return body(PAGE, {"id": conversation_id, "last": PAGE_SIZE})


def requests(data: Dataset, operation: str, port: int, booked: int) -> Callable[[int], bytes]:
    """The i-th request of `operation` (bookings from slot `booked` on, each used once)."""
    build = httpload.build_request
    if operation == "list":
        body = api_ops.list_body(50)
        return httpload.round_robin([build(port, body, t) for t in data.doctor_tokens])
    if operation == "lookup":
        return httpload.round_robin(
            [build(port, api_ops.lookup_body(a), data.doctor_tokens[i]) for i, a, _ in data.lookups]
        )
    if operation == "book":

        def book(i: int) -> bytes:
            patient, doctor_id, starts_at = data.booking_slot(booked + i)
            return build(
                port, api_ops.book_body(doctor_id, starts_at), data.patient_tokens[patient]
            )

        return book
    if operation == "slots":
        today = datetime.now(UTC)
        tokens = data.patient_tokens
        return httpload.round_robin(
            [
                build(port, slots_body(doctor_id, today), tokens[n % len(tokens)])
                for n, doctor_id in enumerate(data.doctor_ids)
            ]
        )
    pairs = list(zip(data.conversation_ids, data.patient_tokens, strict=True))
    if operation == "send":
        return lambda i: build(port, send_body(pairs[i % len(pairs)][0]), pairs[i % len(pairs)][1])
    if operation == "page":
        return httpload.round_robin([build(port, page_body(c), t) for c, t in pairs])
    raise ValueError(operation)
