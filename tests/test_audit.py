"""The audit trail: reads, writes and refusals of health data are recorded; admins search
it; patients see who accessed their records; nobody can change it."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from tortoise import connections
from tortoise.exceptions import OperationalError

from healthcare import models
from healthcare.security import audit
from tests.conftest import SCHEMA, make_appointment, make_schedule
from tests.wsclient import Subscriber

APPOINTMENT = "query Appointment($id: ID!) { appointment(id: $id) { id reason status } }"
USERS = "query Users { users(first: 5) { nodes { id } } }"
USER = "query User($id: ID!) { user(id: $id) { id fullName } }"
BOOK = """
mutation Book($input: BookAppointmentInput!) { bookAppointment(input: $input) { __typename } }
"""
AUDIT_EVENTS = """
query AuditEvents($patientId: ID, $action: AuditAction, $allowed: Boolean) {
  auditEvents(first: 50, patientId: $patientId, action: $action, allowed: $allowed) {
    nodes { actorId actorRole actorName patientId entity entityId action fields allowed
            clientAddress requestId }
  }
}
"""
MY_RECORD_ACCESS = """
query MyRecordAccess { myRecordAccess(first: 50) { nodes { actorName actorRole entity action } } }
"""


async def test_a_doctor_reading_an_appointment_is_recorded_with_who_what_and_where(
    client, patient, doctor
):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    # when
    await client.post(
        APPOINTMENT, {"id": str(appointment.id)}, as_=doctor, headers={"x-request-id": "r-42"}
    )
    # then
    await audit.written()  # reads are written in batches, off the request path
    event = await models.AuditEvent.get(action=models.AuditAction.READ)
    assert (event.actor_id, event.actor_role) == (doctor.user.id, "DOCTOR")
    assert (event.entity, event.entity_id) == (
        models.AuditEntity.APPOINTMENT,
        str(appointment.id),
    )
    assert event.patient_id == patient.user.id
    assert event.fields_accessed == ["id", "reason", "status"]
    assert (event.client_address, event.request_id) == ("127.0.0.1", "r-42")
    assert event.allowed


async def test_a_booking_is_recorded_with_the_change_and_a_refused_one_is_not(
    client, patient, doctor
):
    # given
    await make_schedule(doctor.user)
    starts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    variables = {"input": {"doctorId": doctor.id, "startsAt": starts.isoformat(), "reason": "x"}}
    # when: the same slot twice
    first = (await client.execute(BOOK, variables, as_=patient))["bookAppointment"]
    second = (await client.execute(BOOK, variables, as_=patient))["bookAppointment"]
    # then
    assert (first["__typename"], second["__typename"]) == ("AppointmentPayload", "SlotUnavailable")
    await audit.written()  # reads are written in batches, off the request path
    writes = await models.AuditEvent.filter(action=models.AuditAction.CREATE)
    assert len(writes) == 1
    assert writes[0].entity == models.AuditEntity.APPOINTMENT
    assert writes[0].patient_id == patient.user.id


async def test_a_refused_attempt_is_recorded(client, patient):
    # when
    await client.post(USERS, as_=patient)
    # then
    await audit.written()  # reads are written in batches, off the request path
    event = await models.AuditEvent.get(allowed=False)
    assert (event.action, event.actor_id, event.fields_accessed) == (
        models.AuditAction.DENIED,
        patient.user.id,
        ["users"],
    )


async def test_a_doctor_reading_a_patients_profile_is_recorded(client, patient, doctor):
    await make_appointment(patient.user, doctor.user)
    await client.execute(USER, {"id": patient.id}, as_=doctor)
    await audit.written()  # reads are written in batches, off the request path
    event = await models.AuditEvent.get(entity=models.AuditEntity.PATIENT_PROFILE)
    assert (event.actor_id, event.patient_id) == (doctor.user.id, patient.user.id)


async def test_admins_search_the_trail_and_nobody_else_may(client, patient, doctor, admin):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(APPOINTMENT, {"id": str(appointment.id)}, as_=doctor)
    # when
    found = await client.execute(
        AUDIT_EVENTS, {"patientId": patient.id, "action": "READ"}, as_=admin
    )
    # then
    nodes = found["auditEvents"]["nodes"]
    assert [(n["actorName"], n["entity"], n["allowed"]) for n in nodes] == [
        (doctor.user.full_name, "APPOINTMENT", True)
    ]
    assert await client.error_codes(AUDIT_EVENTS, {}, as_=doctor) == ["FORBIDDEN"]
    assert await client.error_codes(AUDIT_EVENTS, {}, as_=patient) == ["FORBIDDEN"]
    assert await client.error_codes(AUDIT_EVENTS, {}) == ["UNAUTHENTICATED"]


async def test_a_patient_sees_who_accessed_their_records_but_not_their_own_reads(
    client, patient, doctor
):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(APPOINTMENT, {"id": str(appointment.id)}, as_=doctor)
    await client.execute(APPOINTMENT, {"id": str(appointment.id)}, as_=patient)
    # when
    access = (await client.execute(MY_RECORD_ACCESS, as_=patient))["myRecordAccess"]["nodes"]
    # then
    assert access == [
        {
            "actorName": doctor.user.full_name,
            "actorRole": "DOCTOR",
            "entity": "APPOINTMENT",
            "action": "READ",
        }
    ]
    assert await client.error_codes(MY_RECORD_ACCESS, as_=doctor) == ["FORBIDDEN"]


NEWEST_ACCESS = """
query NewestAccess($patientId: ID!) {
  auditEvents(first: 10, patientId: $patientId, action: READ, newestFirst: true) {
    nodes { entity }
  }
}
"""
MY_NEWEST_RECORD_ACCESS = """
query MyNewestRecordAccess { myRecordAccess(first: 10, newestFirst: true) { nodes { entity } } }
"""


async def test_the_trail_and_a_patients_access_log_list_newest_first_when_asked(
    client, patient, doctor, admin
):
    # given: the doctor reads the appointment, then the patient's profile
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(APPOINTMENT, {"id": str(appointment.id)}, as_=doctor)
    await client.execute(USER, {"id": patient.id}, as_=doctor)
    # when
    trail = await client.execute(NEWEST_ACCESS, {"patientId": patient.id}, as_=admin)
    mine = await client.execute(MY_NEWEST_RECORD_ACCESS, as_=patient)
    # then
    newest_first = [{"entity": "PATIENT_PROFILE"}, {"entity": "APPOINTMENT"}]
    assert trail["auditEvents"]["nodes"] == newest_first
    assert mine["myRecordAccess"]["nodes"] == newest_first


def test_the_api_offers_no_way_to_change_or_delete_audit_rows():
    assert SCHEMA.mutation_type is not None
    mutations = SCHEMA.mutation_type.fields
    assert not [name for name in mutations if "audit" in name.lower()]


async def test_the_database_refuses_to_change_or_delete_audit_rows(live_server, patient):
    if live_server.settings.uses_sqlite:
        pytest.skip("the append-only trigger is PostgreSQL's (migration 5)")
    # given
    await models.AuditEvent.create(
        entity=models.AuditEntity.OPERATION, action=models.AuditAction.DENIED, allowed=False
    )
    connection = connections.get("default")
    # then
    with pytest.raises(OperationalError, match="append-only"):
        await connection.execute_query('UPDATE "audit_events" SET "allowed" = true')
    with pytest.raises(OperationalError, match="append-only"):
        await connection.execute_query('DELETE FROM "audit_events"')
    assert await models.AuditEvent.filter(allowed=False).count() == 1


async def test_reads_reach_the_trail_by_themselves_within_a_second(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    # when: nobody reads the trail (which would write what is pending)
    await client.execute(APPOINTMENT, {"id": str(appointment.id)}, as_=doctor)
    # then: the writer's own round writes it
    for _ in range(40):
        if await models.AuditEvent.filter(action=models.AuditAction.READ).exists():
            break
        await asyncio.sleep(0.05)
    event = await models.AuditEvent.get(action=models.AuditAction.READ)
    assert (event.actor_id, event.entity_id) == (doctor.user.id, str(appointment.id))


def record(request_id: str, entity: str | None = "OPERATION") -> audit.AuditRecord:
    return audit.AuditRecord(
        created_at=datetime.now(UTC),
        actor_id=None,
        actor_role=None,
        patient_id=None,
        entity=entity,  # type: ignore[arg-type]
        entity_id=None,
        action="DENIED",
        fields_accessed=("me",),
        allowed=False,
        client_address=None,
        request_id=request_id,
    )


async def test_stopping_the_writer_writes_what_is_pending_and_a_refused_row_costs_only_itself(
    live_server,
):
    # given: a writer that would not write for a minute
    writer = audit.AuditWriter(interval=60)
    writer.start()
    writer.add([record("kept")])
    # when
    await writer.stop()
    # then
    kept = await models.AuditEvent.get(request_id="kept")
    assert (kept.entity, kept.fields_accessed, kept.allowed) == ("OPERATION", ["me"], False)
    # and a row the database refuses (no entity) costs only itself, not its batch
    writer.add([record("before"), record("rejected", entity=None), record("after")])
    await writer.write_pending()
    written = await models.AuditEvent.filter(request_id__in=["before", "rejected", "after"])
    # (request_id is nullable, but these rows were selected by theirs)
    assert sorted(cast(str, row.request_id) for row in written) == ["after", "before"]


async def test_a_list_records_the_fields_read_of_its_rows_not_of_the_connection(
    client, patient, doctor
):
    # given
    await make_appointment(patient.user, doctor.user)
    query = """
    query Mine { appointments(first: 5) {
      edges { node { id status ...When } } pageInfo { hasNextPage }
    } }
    fragment When on Appointment { startsAt }
    """
    # when
    await client.execute(query, as_=doctor)
    await audit.written()
    # then
    event = await models.AuditEvent.get(entity=models.AuditEntity.APPOINTMENT)
    assert event.fields_accessed == ["id", "startsAt", "status"]


async def test_text_a_client_gives_for_an_id_is_not_copied_to_the_trail(client, patient, doctor):
    # given: a patient's refused lookup with text where the id goes (say, typed by
    # mistake, or 65 characters, longer than the column), in one batch with a doctor's read
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(APPOINTMENT, {"id": str(appointment.id)}, as_=doctor)
    for text in ("Pat Smith, HIV clinic", "x" * 65):
        await client.post(APPOINTMENT, {"id": text}, as_=patient)
    # when
    await audit.written()
    # then: both refusals are on the trail, without the text; the read is there too
    read = await models.AuditEvent.get(action=models.AuditAction.READ)
    assert read.actor_id == doctor.user.id
    refusals = await models.AuditEvent.filter(allowed=False).values_list("actor_id", "entity_id")
    assert refusals == [(patient.user.id, None)] * 2


async def test_reads_nested_in_a_pushed_event_are_recorded_when_the_client_stops_listening(
    live_server, client, patient, doctor
):
    # given: a doctor listening to appointment changes, with the patient's profile nested
    appointment = await make_appointment(patient.user, doctor.user)
    subscriber = await Subscriber.open(live_server, doctor)
    await subscriber.subscribe("subscription S { appointmentChanged { id patient { firstName } } }")
    # when: an event is pushed, and the doctor closes the socket
    await client.post(
        'mutation C($id: ID!) { cancelAppointment(id: $id, reason: "busy") { __typename } }',
        {"id": str(appointment.id)},
        as_=patient,
    )
    assert (await subscriber.next())["appointmentChanged"]["patient"]["firstName"]
    await subscriber.close()
    # then: the profile read nested in the event is on the trail too
    for _ in range(40):
        await audit.written()
        reads = await models.AuditEvent.filter(
            action=models.AuditAction.READ, actor_id=doctor.user.id
        ).values_list("entity", flat=True)
        if models.AuditEntity.PATIENT_PROFILE in reads:
            break
        await asyncio.sleep(0.05)
    assert sorted(set(reads)) == [
        models.AuditEntity.APPOINTMENT,
        models.AuditEntity.PATIENT_PROFILE,
    ]


async def test_two_subscriptions_on_one_socket_record_the_fields_each_one_read(
    live_server, client, patient, doctor
):
    # given: on one socket, the same subscription twice, one asking for the reason
    appointment = await make_appointment(patient.user, doctor.user)
    subscriber = await Subscriber.open(live_server, doctor)
    document = """
    subscription S($reason: Boolean!) { appointmentChanged { id reason @include(if: $reason) } }
    """
    await subscriber.subscribe(document, {"reason": True}, id="with")
    await subscriber.subscribe(document, {"reason": False}, id="without")
    # when: one change pushes an event to both
    await client.post(
        'mutation C($id: ID!) { cancelAppointment(id: $id, reason: "busy") { __typename } }',
        {"id": str(appointment.id)},
        as_=patient,
    )
    events = [await subscriber.next(), await subscriber.next()]
    await subscriber.close()
    # then: each event's read names the fields that event carried
    assert sorted("reason" in event["appointmentChanged"] for event in events) == [False, True]
    for _ in range(40):
        await audit.written()
        fields = await models.AuditEvent.filter(
            action=models.AuditAction.READ,
            actor_id=doctor.user.id,
            entity=models.AuditEntity.APPOINTMENT,
        ).values_list("fields_accessed", flat=True)
        if len(fields) == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(fields) == [["id"], ["id", "reason"]]


RECORD_ACCESS_DETAILS = """
query MyRecordAccess { myRecordAccess(first: 50) { nodes { actorName clientAddress requestId } } }
"""
TRAIL_DETAILS = """
query AuditEvents($patientId: ID) {
  auditEvents(first: 50, patientId: $patientId, action: READ) {
    nodes { actorName clientAddress requestId }
  }
}
"""


async def test_patients_see_who_read_their_records_but_not_from_where(
    client, patient, doctor, admin
):
    # given: the doctor reads an appointment, from a known address and request
    appointment = await make_appointment(patient.user, doctor.user)
    await client.post(
        APPOINTMENT,
        {"id": str(appointment.id)},
        as_=doctor,
        headers={"x-request-id": "r-7", "x-forwarded-for": "203.0.113.5"},
    )
    # when
    seen = (await client.execute(RECORD_ACCESS_DETAILS, as_=patient))["myRecordAccess"]["nodes"]
    trail = await client.execute(TRAIL_DETAILS, {"patientId": patient.id}, as_=admin)
    # then: the patient sees who; network details are for administrators
    assert seen == [{"actorName": doctor.user.full_name, "clientAddress": None, "requestId": None}]
    assert trail["auditEvents"]["nodes"] == [
        {"actorName": doctor.user.full_name, "clientAddress": "203.0.113.5", "requestId": "r-7"}
    ]
    # and hiding them is not a refusal on the trail
    await audit.written()
    assert not await models.AuditEvent.filter(actor_id=patient.user.id, allowed=False).exists()


STAFF_ON_THE_TRAIL = """
query Staff { myRecordAccess(first: 50) { nodes { actorId actorName actorRole action } } }
"""
CANCEL = """
mutation Cancel($id: ID!) { cancelAppointment(id: $id, reason: "Clinic closed") { __typename } }
"""


async def test_patients_see_an_administrator_on_their_trail_as_clinic_staff(
    client, patient, doctor, admin
):
    # given: an administrator cancels the patient's appointment (a write on the trail)
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(CANCEL, {"id": str(appointment.id)}, as_=admin)
    # when
    seen = (await client.execute(STAFF_ON_THE_TRAIL, as_=patient))["myRecordAccess"]["nodes"]
    trail = await client.execute(
        "query T($p: ID) { auditEvents(first: 50, patientId: $p) { nodes { actorId actorName } } }",
        {"p": patient.id},
        as_=admin,
    )
    # then: the patient sees the clinic, as on the appointment's history and notification
    assert seen == [
        {"actorId": None, "actorName": "Clinic staff", "actorRole": "ADMIN", "action": "UPDATE"}
    ]
    # while administrators see which of them it was
    assert trail["auditEvents"]["nodes"] == [
        {"actorId": admin.id, "actorName": admin.user.full_name}
    ]
