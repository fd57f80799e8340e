"""What an operation leaves behind on the server: nothing for the cyclic garbage collector.

Objects caught in a reference cycle outlive their request until a collection walks them,
and a collection stops the event loop for every client (healthcare/runtime.py). graphql-
core's execution context referred to itself, so every object an operation made waited
for one (graphql.execution.LeanExecutionContext). The server runs in this process: the test
saves what a collection finds (gc.DEBUG_SAVEALL) and keeps what its own operations left.
"""

import gc
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from healthcare.graphql.context import Context
from healthcare.security import audit
from tests.conftest import make_appointment

LIST = """
query List($first: Int!) {
  appointments(first: $first) {
    edges { cursor node { id reason patient { id firstName } consultation { id } } }
    pageInfo { hasNextPage }
  }
}"""
ME = "query Me { me { id email role } }"
BOOK = """
mutation Book($input: BookAppointmentInput!) {
  bookAppointment(input: $input) { __typename ... on Error { code message } }
}"""


def belongs_to(obj: object, viewers: set[uuid.UUID]) -> bool:
    """An operation context of one of `viewers`, or an object that refers to one (the
    execution context, resolve infos, strawberry's execution context): the server is
    shared with other tests, whose operations may still be finishing meanwhile."""
    candidates = [obj, *gc.get_referents(obj)]
    return any(
        isinstance(o, Context) and o.viewer.user is not None and o.viewer.user.id in viewers
        for o in candidates
    )


async def cyclic_garbage_of(operations, *personas) -> Counter[str]:
    """What the operations of `personas` left that only a collection frees, by type."""
    viewers = {persona.user.id for persona in personas}
    await operations()  # once first: caches and pools filled
    await audit.written()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            await operations()
        await audit.written()
        gc.collect()
        return Counter(
            f"{type(o).__module__}.{type(o).__qualname__}"
            for o in gc.garbage
            if belongs_to(o, viewers)
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_queries_leave_no_cyclic_garbage(client, doctor, patient):
    # given: a doctor's list with people and consultations, and `me`
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    for hour in range(3):
        await make_appointment(patient.user, doctor.user, starts_at=start + timedelta(hours=hour))

    async def operations() -> None:
        page = await client.execute(LIST, {"first": 10}, as_=doctor)
        assert len(page["appointments"]["edges"]) == 3
        assert (await client.execute(ME, as_=patient))["me"]["id"] == patient.id

    # when
    leftovers = await cyclic_garbage_of(operations, doctor, patient)
    # then
    assert leftovers == Counter()


async def test_a_refused_mutation_leaves_no_cyclic_garbage(client, doctor, patient):
    # given: a booking that fails (the doctor has no working hours), an expected failure
    variables = {
        "input": {
            "doctorId": doctor.id,
            "startsAt": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
            "reason": "Cough",
        }
    }

    async def operations() -> None:
        booked = await client.execute(BOOK, variables, as_=patient)
        assert booked["bookAppointment"]["code"] == "SLOT_UNAVAILABLE"

    # when
    leftovers = await cyclic_garbage_of(operations, patient)
    # then
    assert leftovers == Counter()


def test_composing_an_email_leaves_no_cyclic_garbage():
    """The standard library's header registry made a class per header (transport.py,
    HeaderClasses): about 50 classes in reference cycles for a booking's email."""
    from healthcare import models
    from healthcare.config import Settings
    from healthcare.mail.transport import compose

    row = models.EmailMessage(
        message_id="<m@clinic.example>",
        to_address="patient@example.org",
        subject="Your visit is booked",
        body="See you on Monday.",
        calendar="BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
        created_at=datetime.now(UTC),
    )
    settings = Settings(jwt_secret="x" * 48)
    assert b"invite.ics" in bytes(compose(row, settings))  # once first: classes made
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            bytes(compose(row, settings))
        gc.collect()
        leftovers = Counter(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert leftovers == Counter()
