"""Look-ahead loading: a list (and a lookup) of appointments loads the people and the
consultations the operation selects on its rows in one query each, before the rows'
fields resolve; what it returns and what it writes on the audit trail stay the same."""

import logging
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import pytest

from healthcare import models
from healthcare.graphql import loaders
from healthcare.schema.loaders import Loaders
from healthcare.security import audit
from tests.conftest import make_appointment, make_patient, request_statements

CREATE_CONSULTATION = """
mutation CreateConsultation($input: CreateConsultationInput!) {
  createConsultation(input: $input) { __typename ... on Error { code message } }
}
"""
ROW_FIELDS = "id patient { id firstName } consultation { id treatmentPlan }"
# The same rows, reached through `edges { node }` or through `nodes`.
SHAPES = {
    "edges": "edges { node { %s } }",
    "nodes": "nodes { %s }",
}
APPOINTMENTS = """
query Appointments($first: Int!) { appointments(first: $first) { %s pageInfo { hasNextPage } } }
"""
APPOINTMENT = """
query Appointment($id: ID!) {
  appointment(id: $id) {
    id patient { id firstName } doctor { id firstName } consultation { id treatmentPlan }
  }
}
"""
ALIASED = """
query Aliased($first: Int!) {
  appointments(first: $first) {
    edges { node { id who: patient { firstName } ...Documented } }
  }
}
fragment Documented on Appointment { consultation { id } }
"""
# What a list selecting people and consultations reads: the session check, the page, one
# users query and one consultations query.
LIST_WITH_BOTH = {"auth_sessions": 1, "appointments": 1, "users": 1, "consultations": 1}
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
# What is proved here is the executor's look-ahead: on PostgreSQL, the lists run by it
# too, not by one compiled statement (tests/test_compiled.py proves the two answer alike).
pytestmark = pytest.mark.usefixtures("executor_only")


# ---- helpers ---------------------------------------------------------------------------------


def table_read(statement: str) -> str:
    """The table a statement reads: the one after its first FROM. The session check reads
    "auth_sessions" (and joins "users" for the viewer); the look-ahead reads "users"."""
    found = re.search(r'\bFROM "?(\w+)"?', statement)
    assert found, statement
    return found.group(1)


def tables_read(statements: list[str]) -> Counter[str]:
    return Counter(table_read(statement) for statement in statements)


def keys_asked(statement: str) -> int:
    """How many values the statement asks for: the ids in the array it passes to
    `= ANY($1)` (PostgreSQL; logged after the SQL text), or its `IN (...)` list (`?` on
    SQLite, `$n` on PostgreSQL)."""
    if "= ANY($1)" in statement:
        _, _, values = statement.partition(": [")
        return values.count("UUID(")
    found = re.search(r"\bIN \(([^)]*)\)", statement)
    assert found, statement
    return len(re.findall(r"\?|\$\d+", found.group(1)))


def only(statements: list[str], table: str) -> str:
    [statement] = [s for s in statements if table_read(s) == table]
    return statement


async def run(client, query, variables, as_, caplog) -> tuple[dict[str, Any], list[str]]:
    """The data of one operation and the SQL statements it sent."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        data = await client.execute(query, variables, as_=as_)
    return data, request_statements(caplog.records)


async def document(client, doctor, appointment, plan) -> str:
    """The doctor documents `appointment` through the API; the consultation's id."""
    given = {"appointmentId": str(appointment.id), "treatmentPlan": plan}
    result = await client.execute(CREATE_CONSULTATION, {"input": given}, as_=doctor)
    assert result["createConsultation"]["__typename"] == "ConsultationPayload", result
    consultation = await models.Consultation.get(appointment_id=appointment.id)
    return str(consultation.id)


async def a_doctors_day(client, doctor, rows, patients, documented_every=7):
    """`rows` appointments of `doctor`, half an hour apart, with `patients` patients taking
    turns; every `documented_every`-th one (from the fourth) documented. Returns the
    appointments in start order, the patients, and {appointment id: (consultation id,
    treatment plan)}."""
    people = [await make_patient(first_name=f"Patient{n}") for n in range(patients)]
    appointments = [
        await make_appointment(
            people[index % patients], doctor.user, starts_at=START + timedelta(minutes=30 * index)
        )
        for index in range(rows)
    ]
    consultations = {}
    for index in range(3, rows, documented_every):
        plan = f"Plan for row {index}"
        consultation_id = await document(client, doctor, appointments[index], plan)
        consultations[str(appointments[index].id)] = (consultation_id, plan)
    return appointments, people, consultations


def nodes_of(connection: dict[str, Any]) -> list[dict[str, Any]]:
    if "nodes" in connection:
        return connection["nodes"]
    return [edge["node"] for edge in connection["edges"]]


@dataclass
class Resolutions:
    """How the live server's related fields (`patient`, `doctor`, `consultation`, ...) got
    their rows: at once, loaded ahead, or by waiting for a load (a task per row)."""

    at_once: list[Any] = field(default_factory=list)
    waited: list[Any] = field(default_factory=list)

    def clear(self) -> None:
        self.at_once.clear()
        self.waited.clear()


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> Resolutions:
    """Watches DataLoader.load in the server (it runs in this process): a key whose value
    is loaded already was loaded ahead; any other waits for a batch of its own."""
    seen = Resolutions()
    original = loaders.DataLoader.load

    def watched(self: loaders.DataLoader, key: Any) -> Any:
        future = self.cache_map.get(key)
        loaded = future is not None and future.done() and not future.cancelled()
        (seen.at_once if loaded else seen.waited).append(key)
        return original(self, key)

    monkeypatch.setattr(loaders.DataLoader, "load", watched)
    return seen


# ---- statements and data of a list -----------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
async def test_a_doctors_list_loads_patients_and_consultations_in_one_query_each_for_5_or_50(
    client, doctor, caplog, resolutions, shape
):
    # given: 52 appointments of 10 patients taking turns, every 7th one documented
    appointments, people, consultations = await a_doctors_day(client, doctor, 52, 10)
    names = {str(person.id): person.first_name for person in people}
    query = APPOINTMENTS % (shape % ROW_FIELDS)
    for first in (5, 50):
        # when
        resolutions.clear()
        data, statements = await run(client, query, {"first": first}, doctor, caplog)
        # then: every row has its own patient, and its consultation when there is one
        rows = nodes_of(data["appointments"])
        expected_rows = appointments[:first]
        assert [row["id"] for row in rows] == [str(a.id) for a in expected_rows]
        for row, appointment in zip(rows, expected_rows, strict=True):
            patient_id = str(appointment.patient_id)
            assert row["patient"] == {"id": patient_id, "firstName": names[patient_id]}
            if row["id"] in consultations:
                consultation_id, plan = consultations[row["id"]]
                assert row["consultation"] == {"id": consultation_id, "treatmentPlan": plan}
            else:
                assert row["consultation"] is None, row
        assert any(row["consultation"] for row in rows)
        # and: each row's patient and consultation came at once, loaded ahead
        assert resolutions.waited == []
        assert len(resolutions.at_once) == 2 * first
        # and: the session check, the page, one users query, one consultations query
        assert tables_read(statements) == LIST_WITH_BOTH, statements
        assert len(statements) == 4, statements
        # each patient asked for once, and each row's consultation
        patients_on_page = {str(a.patient_id) for a in expected_rows}
        users = only(statements, "users")
        assert keys_asked(users) == len(patients_on_page), users
        assert all(patient_id in users for patient_id in patients_on_page), users
        assert keys_asked(only(statements, "consultations")) == first


SELECTIONS = {
    "nothing related": ("id status startsAt reason", set()),
    "patient only": ("id patient { id }", {"users"}),
    "doctor only": ("id doctor { lastName }", {"users"}),
    "consultation only": ("id consultation { id }", {"consultations"}),
}


@pytest.mark.parametrize(("fields", "loaded"), SELECTIONS.values(), ids=SELECTIONS.keys())
async def test_a_list_loads_ahead_only_what_the_operation_selects(
    client, doctor, caplog, fields, loaded
):
    # given: 6 appointments, one of them documented
    await a_doctors_day(client, doctor, 6, 3, documented_every=10)
    query = APPOINTMENTS % (SHAPES["edges"] % fields)
    # when
    data, statements = await run(client, query, {"first": 10}, doctor, caplog)
    # then: the session check (which joins "users" for the viewer) and the page, and only
    # the table of each related field selected
    assert len(data["appointments"]["edges"]) == 6
    assert tables_read(statements) == Counter(
        {"auth_sessions": 1, "appointments": 1, **dict.fromkeys(loaded, 1)}
    ), statements
    if "users" not in loaded:
        mentioning_users = [s for s in statements if re.search(r"\busers\b", s)]
        assert [table_read(s) for s in mentioning_users] == ["auth_sessions"], statements
    if "consultations" not in loaded:
        assert not [s for s in statements if "consultations" in s], statements


async def test_a_list_with_no_related_fields_runs_the_same_statements_as_a_bare_page(
    client, doctor, caplog
):
    # given: a baseline of the same list with only `id`
    await a_doctors_day(client, doctor, 4, 2, documented_every=1)
    bare = APPOINTMENTS % (SHAPES["edges"] % "id")
    plain = APPOINTMENTS % (SHAPES["nodes"] % "id status cancellationReason createdAt")
    _, baseline = await run(client, bare, {"first": 10}, doctor, caplog)
    # when
    data, statements = await run(client, plain, {"first": 10}, doctor, caplog)
    # then
    assert len(data["appointments"]["nodes"]) == 4
    assert [table_read(s) for s in statements] == [table_read(s) for s in baseline]
    assert [table_read(s) for s in statements] == ["auth_sessions", "appointments"], statements


# ---- the lookup ---------------------------------------------------------------------------


async def test_an_appointment_lookup_loads_both_people_in_one_query(
    client, doctor, caplog, resolutions
):
    # given: a documented appointment and one not yet documented
    appointments, people, consultations = await a_doctors_day(client, doctor, 5, 2)
    documented, undocumented = appointments[3], appointments[0]
    consultation_id, plan = consultations[str(documented.id)]
    for appointment, consultation in (
        (documented, {"id": consultation_id, "treatmentPlan": plan}),
        (undocumented, None),
    ):
        # when
        resolutions.clear()
        data, statements = await run(
            client, APPOINTMENT, {"id": str(appointment.id)}, doctor, caplog
        )
        # then
        patient = next(p for p in people if p.id == appointment.patient_id)
        assert data["appointment"] == {
            "id": str(appointment.id),
            "patient": {"id": str(patient.id), "firstName": patient.first_name},
            "doctor": {"id": doctor.id, "firstName": doctor.user.first_name},
            "consultation": consultation,
        }
        tables = tables_read(statements)
        assert (tables["users"], tables["consultations"]) == (1, 1), statements
        users = only(statements, "users")
        assert keys_asked(users) == 2, users
        assert str(patient.id) in users and doctor.id in users, users
        assert (len(resolutions.at_once), resolutions.waited) == (3, [])


# ---- aliases and fragments ------------------------------------------------------------------


async def test_aliases_and_fragments_are_loaded_ahead_and_answered_right(
    client, doctor, caplog, resolutions
):
    # given: 10 appointments of 4 patients, two documented
    appointments, people, consultations = await a_doctors_day(client, doctor, 10, 4, 5)
    names = {person.id: person.first_name for person in people}
    # when: `who: patient { firstName }`, and `consultation { id }` in a fragment
    resolutions.clear()
    data, statements = await run(client, ALIASED, {"first": 10}, doctor, caplog)
    # then
    rows = nodes_of(data["appointments"])
    assert rows == [
        {
            "id": str(appointment.id),
            "who": {"firstName": names[appointment.patient_id]},
            "consultation": (
                {"id": consultations[str(appointment.id)][0]}
                if str(appointment.id) in consultations
                else None
            ),
        }
        for appointment in appointments
    ]
    assert len(consultations) == 2
    # and: the aliased field and the fragment's field were loaded ahead, one query each
    assert tables_read(statements) == LIST_WITH_BOTH, statements
    assert keys_asked(only(statements, "users")) == 4
    assert (len(resolutions.at_once), resolutions.waited) == (20, [])


async def test_an_inline_fragment_and_an_aliased_doctor_share_the_patients_query(
    client, doctor, caplog, resolutions
):
    # given
    appointments, _, _ = await a_doctors_day(client, doctor, 6, 3, documented_every=10)
    query = """
    query Inline { appointments(first: 10) { nodes {
      id ... on Appointment { seenBy: doctor { id } patient { id } }
    } } }
    """
    # when
    resolutions.clear()
    data, statements = await run(client, query, {}, doctor, caplog)
    # then: the right people on every row, from one query for the 3 patients and the doctor
    assert data["appointments"]["nodes"] == [
        {"id": str(a.id), "seenBy": {"id": doctor.id}, "patient": {"id": str(a.patient_id)}}
        for a in appointments
    ]
    assert tables_read(statements) == {"auth_sessions": 1, "appointments": 1, "users": 1}
    assert keys_asked(only(statements, "users")) == 4
    assert (len(resolutions.at_once), resolutions.waited) == (12, [])


# ---- the audit trail --------------------------------------------------------------------------


async def test_a_doctors_list_records_the_same_reads_on_the_audit_trail(client, doctor):
    # given: 12 appointments of 4 patients, every 4th one documented (3 of them)
    appointments, _, consultations = await a_doctors_day(client, doctor, 12, 4, 4)
    query = APPOINTMENTS % (SHAPES["edges"] % ROW_FIELDS)
    # when
    response = await client.post(
        query, {"first": 20}, as_=doctor, headers={"x-request-id": "load-ahead-audit"}
    )
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    await audit.written()  # reads are written in batches, off the request path
    events = await models.AuditEvent.filter(request_id="load-ahead-audit")
    # then: all of them reads the doctor was allowed
    assert {(e.action, e.allowed, e.actor_id, e.actor_role) for e in events} == {
        (models.AuditAction.READ, True, doctor.user.id, "DOCTOR")
    }
    by_entity: dict[str, list[models.AuditEvent]] = {}
    for event in events:
        by_entity.setdefault(event.entity, []).append(event)
    assert set(by_entity) == {"APPOINTMENT", "PATIENT_PROFILE", "CONSULTATION"}
    # one APPOINTMENT read per row, with the row's fields asked
    assert sorted((e.entity_id, e.patient_id) for e in by_entity["APPOINTMENT"]) == sorted(
        (str(a.id), a.patient_id) for a in appointments
    )
    assert all(
        e.fields_accessed == ["consultation", "id", "patient"] for e in by_entity["APPOINTMENT"]
    )
    # one PATIENT_PROFILE read per patient: one on 3 rows, with the same fields asked, is
    # one read of the operation
    assert sorted((e.entity_id, e.patient_id) for e in by_entity["PATIENT_PROFILE"]) == sorted(
        {(str(a.patient_id), a.patient_id) for a in appointments}
    )
    assert all(e.fields_accessed == ["firstName", "id"] for e in by_entity["PATIENT_PROFILE"])
    # one CONSULTATION read per documented row, none for the others
    patient_of = {str(a.id): a.patient_id for a in appointments}
    assert sorted((e.entity_id, e.patient_id) for e in by_entity["CONSULTATION"]) == sorted(
        (consultation_id, patient_of[appointment_id])
        for appointment_id, (consultation_id, _) in consultations.items()
    )
    assert len(consultations) == 3
    assert all(e.fields_accessed == ["id", "treatmentPlan"] for e in by_entity["CONSULTATION"])
    # and: each row of the trail has an id of its own, a time-ordered (version 7) UUID
    assert len(events) == 12 + 4 + 3
    assert len({e.id for e in events}) == len(events)
    assert {uuid.UUID(str(e.id)).version for e in events} == {7}


SKIPPED = """
query Skipped($first: Int!, $withPatient: Boolean!) {
  appointments(first: $first) {
    edges {
      node { id patient @include(if: $withPatient) { id } consultation @skip(if: true) { id } }
    }
  }
}
"""


async def test_fields_left_out_by_skip_or_include_are_neither_loaded_nor_recorded_as_read(
    client, doctor, caplog
):
    # given: 4 appointments, every one documented
    await a_doctors_day(client, doctor, 4, 2, documented_every=1)
    for with_patient in (False, True):
        # when
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
            response = await client.post(
                SKIPPED,
                {"first": 10, "withPatient": with_patient},
                as_=doctor,
                headers={"x-request-id": f"skipped-{with_patient}"},
            )
        statements = request_statements(caplog.records)
        # then: only what runs is loaded...
        rows = [edge["node"] for edge in response.json()["data"]["appointments"]["edges"]]
        assert len(rows) == 4
        assert all(("patient" in row) == with_patient and "consultation" not in row for row in rows)
        expected = {"auth_sessions": 1, "appointments": 1} | ({"users": 1} if with_patient else {})
        assert tables_read(statements) == expected, statements
        # ...and recorded as read
        await audit.written()
        reads = await models.AuditEvent.filter(
            request_id=f"skipped-{with_patient}", entity="APPOINTMENT"
        )
        assert len(reads) == 4
        expected_fields = ["id", "patient"] if with_patient else ["id"]
        assert {tuple(e.fields_accessed) for e in reads} == {tuple(expected_fields)}


# ---- the trail's ids -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 1000])
def test_new_ids_are_distinct_version_7_uuids_of_this_millisecond_as_hex_text(count):
    # when
    before = time.time_ns() // 1_000_000
    ids = audit.new_ids(count)
    after = time.time_ns() // 1_000_000
    # then
    assert len(ids) == count
    assert len(set(ids)) == count
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122), text
        assert parsed.hex == text  # 32 lowercase hex digits, no dashes
        assert before <= parsed.int >> 80 <= after  # RFC 9562: the Unix time in ms first


def test_new_ids_of_a_later_millisecond_sort_after_earlier_ones():
    # given: a batch, then a batch once the clock has moved on
    first = audit.new_ids(50)
    start = time.time_ns()
    while time.time_ns() // 1_000_000 == start // 1_000_000:
        time.sleep(0.0005)
    # when
    second = audit.new_ids(50)
    # then: every later id after every earlier one (the primary key's end, not its middle)
    assert max(first) < min(second)


def test_new_ids_differ_from_call_to_call():
    # when: two batches, most likely in the same millisecond
    first, second = audit.new_ids(50), audit.new_ids(50)
    # then
    assert not set(first) & set(second)


# ---- the end of an operation ------------------------------------------------------------------


def test_an_operation_makes_only_the_loaders_it_asks_for():
    # given: an operation's loaders, none asked for yet
    operation = Loaders()
    assert vars(operation) == {}
    # when: one is asked for, twice
    first = operation.user_by_id
    again = operation.user_by_id
    # then: it is made once, and only it
    assert first is again
    assert list(vars(operation)) == ["user_by_id"]
    # and: releasing an operation that made none is harmless
    Loaders().release()


async def test_released_loaders_hold_no_rows_and_load_again_when_asked():
    # given: every loader made, one holding a user, loaded ahead
    user = await make_patient()
    operation = Loaders()
    every = [name for name, kept in vars(Loaders).items() if isinstance(kept, cached_property)]
    for name in every:
        getattr(operation, name)
    assert sorted(vars(operation)) == sorted(every) and len(every) > 1
    await operation.user_by_id.load_ahead([user.id])
    assert await operation.user_by_id.load(user.id) == user
    # when: the operation ends
    operation.release()
    # then: nothing is held any more (no row kept alive until a garbage collection)...
    assert all(len(loader.cache_map.cache_map) == 0 for loader in vars(operation).values())
    assert all(loader.batch is None for loader in vars(operation).values())
    # ...and a later ask loads again
    assert operation.user_by_id.cache_map.get(user.id) is None
    assert await operation.user_by_id.load(user.id) == user
