"""Notifications: written with the change, delivered live over both WebSocket protocols,
resumed without gap or duplicate, and read only by their recipient."""

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets
from websockets.typing import Subprotocol

from healthcare import models
from tests.conftest import make_appointment, make_patient, make_schedule, sign_in
from tests.wsclient import Subscriber

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
BOOK = """
mutation Book($input: BookAppointmentInput!) {
  bookAppointment(input: $input) { __typename ... on Error { code } }
}
"""
CANCEL = """
mutation Cancel($id: ID!, $reason: String!) {
  cancelAppointment(id: $id, reason: $reason) { __typename }
}
"""
NOTIFICATION_ADDED = """
subscription NotificationAdded($afterSeq: Int) {
  notificationAdded(afterSeq: $afterSeq) { seq kind title body appointmentId readAt }
}
"""
APPOINTMENT_CHANGED = """
subscription AppointmentChanged { appointmentChanged { id status } }
"""
MY_NOTIFICATIONS = """
query MyNotifications($unreadOnly: Boolean!) {
  myNotifications(first: 50, unreadOnly: $unreadOnly) { nodes { id seq kind } }
  unreadNotificationCount
}
"""
NOTIFICATION = "query Notification($id: ID!) { notification(id: $id) { id readAt } }"
MARK_READ = """
mutation MarkRead($ids: [ID!]!) { markNotificationsRead(ids: $ids) { count unreadCount } }
"""
MARK_ALL_READ = "mutation MarkAllRead { markAllNotificationsRead { count unreadCount } }"


def tomorrow_at(hour: int) -> datetime:
    day = datetime.now(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def book(client, patient, doctor, hour: int = 10) -> dict[str, Any]:
    variables = {
        "input": {
            "doctorId": doctor.id,
            "startsAt": tomorrow_at(hour).isoformat(),
            "reason": "Check-up",
        }
    }
    return (await client.execute(BOOK, variables, as_=patient))["bookAppointment"]


async def test_a_booking_notifies_the_doctor_live_over_graphql_transport_ws(
    client, live_server, patient, doctor
):
    # given
    await make_schedule(doctor.user)
    subscriber = await Subscriber.open(live_server, doctor)
    await subscriber.subscribe(NOTIFICATION_ADDED)
    # when
    assert (await book(client, patient, doctor))["__typename"] == "AppointmentPayload"
    # then
    received = (await subscriber.next())["notificationAdded"]
    await subscriber.close()
    assert received["kind"] == "APPOINTMENT_BOOKED"
    assert received["seq"] == 1
    assert patient.user.full_name in received["body"]
    assert "Check-up" not in json.dumps(received)  # no clinical detail in a notification


async def test_a_booking_notifies_the_doctor_live_over_legacy_graphql_ws(
    client, live_server, patient, doctor
):
    # given
    await make_schedule(doctor.user)
    subscriber = await Subscriber.open(live_server, doctor, protocol=LEGACY_WS)
    await subscriber.subscribe(NOTIFICATION_ADDED)
    # when
    await book(client, patient, doctor)
    # then
    received = (await subscriber.next())["notificationAdded"]
    await subscriber.close()
    assert received["kind"] == "APPOINTMENT_BOOKED"


async def test_a_resumed_subscription_gets_what_was_missed_then_live_without_duplicates(
    client, live_server, patient, doctor
):
    # given: notification 1 seen, then the doctor goes away
    await make_schedule(doctor.user)
    subscriber = await Subscriber.open(live_server, doctor)
    await subscriber.subscribe(NOTIFICATION_ADDED)
    await book(client, patient, doctor, hour=9)
    first = (await subscriber.next())["notificationAdded"]
    await subscriber.close()
    # when: two more happen while away, then the doctor resumes after the last seen
    await book(client, patient, doctor, hour=11)
    await book(client, patient, doctor, hour=13)
    resumed = await Subscriber.open(live_server, doctor)
    await resumed.subscribe(NOTIFICATION_ADDED, {"afterSeq": first["seq"]})
    missed = [(await resumed.next())["notificationAdded"]["seq"] for _ in range(2)]
    await book(client, patient, doctor, hour=15)
    live = (await resumed.next())["notificationAdded"]["seq"]
    # then
    assert first["seq"] == 1
    assert missed == [2, 3]
    assert live == 4
    assert await resumed.nothing_within(0.5)
    await resumed.close()


async def test_a_refused_booking_writes_no_notification(client, patient, doctor):
    # given: no working hours, so the booking fails
    # when
    result = await book(client, patient, doctor)
    # then
    assert result["__typename"] == "SlotUnavailable"
    assert await models.Notification.all().count() == 0


async def test_the_actor_is_not_notified_and_the_other_party_is(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    # when
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "Feeling better"}, patient)
    # then
    rows = await models.Notification.all()
    assert [(row.recipient_id, row.kind) for row in rows] == [
        (doctor.user.id, models.NotificationKind.APPOINTMENT_CANCELLED)
    ]


async def test_numbering_continues_from_notifications_written_before_the_counter_existed(
    client, patient, doctor
):
    # given: three notifications and no counter row (a database from before migration 6)
    for seq in (1, 2, 3):
        await models.Notification.create(
            recipient_id=doctor.user.id,
            seq=seq,
            kind=models.NotificationKind.APPOINTMENT_BOOKED,
            title="t",
            body="b",
        )
    appointment = await make_appointment(patient.user, doctor.user)
    # when
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "Feeling better"}, patient)
    # then
    seqs = await models.Notification.filter(recipient_id=doctor.user.id).values_list(
        "seq", flat=True
    )
    assert sorted(seqs) == [1, 2, 3, 4]


async def test_numbering_catches_up_with_a_notification_numbered_some_other_way(
    client, patient, doctor
):
    # given: the counter at 1, then a row numbered 2 by something else (an instance of
    # the previous release during a rolling deploy)
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "One"}, patient)
    await models.Notification.create(
        recipient_id=doctor.user.id,
        seq=2,
        kind=models.NotificationKind.APPOINTMENT_BOOKED,
        title="t",
        body="b",
    )
    later = await make_appointment(patient.user, doctor.user, tomorrow_at(15))
    # when
    await client.execute(CANCEL, {"id": str(later.id), "reason": "Two"}, patient)
    # then: numbered 3, not refused as a second 2
    seqs = await models.Notification.filter(recipient_id=doctor.user.id).values_list(
        "seq", flat=True
    )
    assert sorted(seqs) == [1, 2, 3]


async def test_concurrent_changes_number_one_recipients_notifications_without_gap_or_twin(
    client, live_server, doctor
):
    # given: ten patients, each with an appointment with the doctor
    personas = [await sign_in(await make_patient(), live_server.settings) for _ in range(10)]
    appointments = [
        await make_appointment(persona.user, doctor.user, tomorrow_at(0) + timedelta(hours=index))
        for index, persona in enumerate(personas)
    ]
    # when: all ten cancel at once
    await asyncio.gather(
        *(
            client.execute(CANCEL, {"id": str(appointment.id), "reason": "Sorry"}, persona)
            for appointment, persona in zip(appointments, personas, strict=True)
        )
    )
    # then
    seqs = await models.Notification.filter(recipient_id=doctor.user.id).values_list(
        "seq", flat=True
    )
    assert sorted(seqs) == list(range(1, 11))


async def test_both_parties_see_their_appointment_change_live(client, live_server, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    patient_socket = await Subscriber.open(live_server, patient)
    await patient_socket.subscribe(APPOINTMENT_CHANGED)
    # when: the doctor cancels
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "Ill today"}, doctor)
    # then
    changed = (await patient_socket.next())["appointmentChanged"]
    await patient_socket.close()
    assert changed == {"id": str(appointment.id), "status": "CANCELLED"}


async def test_a_stranger_receives_nothing_of_another_users_events(
    client, live_server, patient, other_patient, doctor
):
    # given
    await make_schedule(doctor.user)
    stranger = await Subscriber.open(live_server, other_patient)
    await stranger.subscribe(NOTIFICATION_ADDED, id="1")
    await stranger.subscribe(APPOINTMENT_CHANGED, id="2")
    # when
    await book(client, patient, doctor)
    # then
    assert await stranger.nothing_within(1.0)
    await stranger.close()


async def test_a_recipient_lists_counts_opens_and_marks_notifications_read(client, patient, doctor):
    # given: three notifications for the doctor
    for hour in (9, 11, 13):
        appointment = await make_appointment(patient.user, doctor.user, tomorrow_at(hour))
        await client.execute(CANCEL, {"id": str(appointment.id), "reason": "No"}, patient)
    listed = await client.execute(MY_NOTIFICATIONS, {"unreadOnly": True}, as_=doctor)
    ids = [node["id"] for node in listed["myNotifications"]["nodes"]]
    # when
    opened = (await client.execute(NOTIFICATION, {"id": ids[0]}, as_=doctor))["notification"]
    marked = await client.execute(MARK_READ, {"ids": ids[1:2]}, as_=doctor)
    # then
    assert listed["unreadNotificationCount"] == 3
    assert opened["readAt"] is not None
    assert marked["markNotificationsRead"] == {"count": 1, "unreadCount": 1}
    everything = await client.execute(MARK_ALL_READ, as_=doctor)
    assert everything["markAllNotificationsRead"] == {"count": 1, "unreadCount": 0}


NEWEST_FIRST = """
query NewestFirst($after: String) {
  myNotifications(first: 2, after: $after, newestFirst: true) {
    nodes { seq }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_a_bell_pages_notifications_newest_first_without_gaps_or_repeats(
    client, patient, doctor
):
    # given: five notifications for the doctor, one after another
    for hour in (8, 9, 10, 11, 12):
        appointment = await make_appointment(patient.user, doctor.user, tomorrow_at(hour))
        await client.execute(CANCEL, {"id": str(appointment.id), "reason": "No"}, patient)
    # when
    pages: list[list[int]] = []
    after = None
    while True:
        page = (await client.execute(NEWEST_FIRST, {"after": after}, as_=doctor))["myNotifications"]
        pages.append([node["seq"] for node in page["nodes"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert pages == [[5, 4], [3, 2], [1]]


async def test_newest_first_pages_rows_written_at_the_same_moment_without_gaps_or_repeats(
    client, patient, doctor
):
    # given: five notifications with one and the same created_at (ties on the sort field)
    for hour in (8, 9, 10, 11, 12):
        appointment = await make_appointment(patient.user, doctor.user, tomorrow_at(hour))
        await client.execute(CANCEL, {"id": str(appointment.id), "reason": "No"}, patient)
    await models.Notification.filter(recipient_id=doctor.user.id).update(
        created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    # when
    seen: list[int] = []
    after = None
    while True:
        page = (await client.execute(NEWEST_FIRST, {"after": after}, as_=doctor))["myNotifications"]
        seen += [node["seq"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then: each once (ties broken by id, the same way on every page)
    assert sorted(seen) == [1, 2, 3, 4, 5]


async def test_nobody_reads_or_marks_someone_elses_notifications(
    client, patient, other_patient, doctor
):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "No"}, patient)
    notification = await models.Notification.get(recipient_id=doctor.user.id)
    # when
    seen = await client.execute(NOTIFICATION, {"id": str(notification.id)}, as_=other_patient)
    marked = await client.execute(MARK_READ, {"ids": [str(notification.id)]}, as_=other_patient)
    unknown = await client.execute(NOTIFICATION, {"id": str(uuid.uuid4())}, as_=other_patient)
    # then
    assert seen == unknown == {"notification": None}
    assert marked["markNotificationsRead"]["count"] == 0
    assert (await models.Notification.get(id=notification.id)).read_at is None


async def test_subscribing_without_signing_in_is_refused(live_server):
    socket = await websockets.connect(live_server.ws_url, subprotocols=[TRANSPORT_WS])
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    payload = {"query": NOTIFICATION_ADDED, "variables": {}}
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    message = json.loads(await asyncio.wait_for(socket.recv(), 5))
    await socket.close()
    assert message["type"] in {"next", "error"}
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_duplicate_subscription_id_closes_the_socket_with_4409(live_server, doctor):
    # given
    subscriber = await Subscriber.open(live_server, doctor)
    await subscriber.subscribe(NOTIFICATION_ADDED, id="same")
    # when
    await subscriber.subscribe(NOTIFICATION_ADDED, id="same")
    # then
    with contextlib.suppress(websockets.ConnectionClosed):
        await asyncio.wait_for(subscriber.socket.recv(), 5)
    assert subscriber.socket.close_code == 4409


async def test_the_last_seq_lets_a_client_subscribe_without_missing_anything(
    client, patient, doctor
):
    # given: nothing yet
    query = "query LastSeq { lastNotificationSeq }"
    assert (await client.execute(query, as_=doctor))["lastNotificationSeq"] == 0
    # when: two notifications to the doctor
    await make_schedule(doctor.user)
    for hour in (9, 11):
        assert (await book(client, patient, doctor, hour=hour))["__typename"] == (
            "AppointmentPayload"
        )
    # then
    assert (await client.execute(query, as_=doctor))["lastNotificationSeq"] == 2
    assert (await client.execute(query, as_=patient))["lastNotificationSeq"] == 0


async def test_an_appointment_tells_when_it_last_changed(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    query = "query Appointment($id: ID!) { appointment(id: $id) { updatedAt } }"
    before = await client.execute(query, {"id": str(appointment.id)}, as_=patient)
    # when
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "Feeling better"}, patient)
    after = await client.execute(query, {"id": str(appointment.id)}, as_=patient)
    # then
    stored = await models.Appointment.get(id=appointment.id)
    assert datetime.fromisoformat(after["appointment"]["updatedAt"]) == stored.updated_at
    assert after["appointment"]["updatedAt"] > before["appointment"]["updatedAt"]


CHANGE_ROLE = """
mutation ChangeRole($userId: ID!, $role: Role!, $specialty: String) {
  changeUserRole(userId: $userId, role: $role, specialty: $specialty) { __typename }
}
"""
MY_NOTIFICATION_LINKS = """
query Mine { myNotifications(first: 50) { nodes { id appointmentId } } unreadNotificationCount }
"""


async def test_notifications_follow_the_role_like_what_they_link_to(
    client, live_server, patient, doctor, other_doctor, admin
):
    # given: the doctor was told of a booking, then an administrator made them a patient
    appointment = await make_appointment(patient.user, doctor.user)
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "Better"}, patient)
    notification = await models.Notification.get(recipient_id=doctor.user.id)
    demote = {"userId": str(doctor.user.id), "role": "PATIENT"}
    demoted = await client.execute(CHANGE_ROLE, demote, admin)
    assert demoted["changeUserRole"]["__typename"] == "UserPayload"
    as_patient = await sign_in(await models.User.get(id=doctor.user.id), live_server.settings)
    # when
    listed = await client.execute(MY_NOTIFICATION_LINKS, as_=as_patient)
    opened = await client.execute(NOTIFICATION, {"id": str(notification.id)}, as_=as_patient)
    marked = await client.execute(MARK_READ, {"ids": [str(notification.id)]}, as_=as_patient)
    subscriber = await Subscriber.open(live_server, as_patient)
    await subscriber.subscribe(NOTIFICATION_ADDED, {"afterSeq": 0})
    # ... and, as a patient, a doctor cancels a visit of theirs
    own_visit = await make_appointment(as_patient.user, other_doctor.user)
    await client.execute(CANCEL, {"id": str(own_visit.id), "reason": "Away"}, other_doctor)
    first_pushed = (await subscriber.next())["notificationAdded"]
    await subscriber.close()
    # then: the appointment is not theirs to see any more, and neither is what told of it
    assert listed == {"myNotifications": {"nodes": []}, "unreadNotificationCount": 0}
    assert opened == {"notification": None}
    assert marked["markNotificationsRead"] == {"count": 0, "unreadCount": 0}
    # the replay from 0 skipped it: the first one pushed is the patient's own, number 2
    assert (first_pushed["seq"], first_pushed["appointmentId"]) == (2, str(own_visit.id))
    # when: made a doctor again, it is theirs again
    promote = {"userId": str(doctor.user.id), "role": "DOCTOR", "specialty": "Cardiology"}
    await client.execute(CHANGE_ROLE, promote, admin)
    as_doctor = await sign_in(await models.User.get(id=doctor.user.id), live_server.settings)
    relisted = await client.execute(MY_NOTIFICATION_LINKS, as_=as_doctor)
    # then: the booking's, not the one about their own visit as a patient
    assert relisted["myNotifications"]["nodes"] == [
        {"id": str(notification.id), "appointmentId": str(appointment.id)}
    ]


async def test_a_change_by_clinic_staff_is_signed_by_the_clinic_not_by_name(
    client, patient, doctor, admin
):
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    # when: an administrator cancels it
    await client.execute(CANCEL, {"id": str(appointment.id), "reason": "Clinic closed"}, admin)
    # then: both parties hear of it, from the clinic (as the history says, `actorRole`)
    rows = await models.Notification.all().order_by("recipient_id")
    assert {row.recipient_id for row in rows} == {patient.user.id, doctor.user.id}
    assert {row.body for row in rows} == {"Clinic staff cancelled an appointment."}
    assert all(admin.user.first_name not in row.body for row in rows)
