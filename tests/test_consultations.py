"""Consultations: who may document, read and change what, and how records are kept."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from healthcare import models
from healthcare.security import audit
from tests.conftest import make_appointment, request_statements

PEOPLE = "doctor { id fullName } patient { id fullName }"
CONSULTATION_CARD = f"""
  id appointmentId createdAt updatedAt signedAt isSigned {PEOPLE}
  medicalHistory examinationFindings investigations treatmentPlan reviewDate privateNotes
  prescriptions {{ medication dose route frequency duration instructions }}
  revisions {{ number author {{ id fullName }} createdAt changedFields }}
  addenda {{ id author {{ id fullName }} text createdAt }}
"""
PAYLOAD = f"""
  __typename
  ... on ConsultationPayload {{ consultation {{ {CONSULTATION_CARD} }} }}
  ... on Error {{ code message }}
"""
INVALID = "... on ValidationFailed { fieldErrors { field message } }"
CONSULTATION = f"""
query Consultation($id: ID!) {{ consultation(id: $id) {{ {CONSULTATION_CARD} }} }}
"""
CONSULTATIONS = """
query Consultations($first: Int, $after: String, $patientId: ID) {
  consultations(first: $first, after: $after, patientId: $patientId) {
    nodes { id privateNotes treatmentPlan }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CREATE_CONSULTATION = f"""
mutation CreateConsultation($input: CreateConsultationInput!) {{
  createConsultation(input: $input) {{
    {PAYLOAD} {INVALID} ... on InvalidStatusTransition {{ currentStatus }}
  }}
}}
"""
UPDATE_CONSULTATION = f"""
mutation UpdateConsultation($id: ID!, $input: UpdateConsultationInput!) {{
  updateConsultation(id: $id, input: $input) {{ {PAYLOAD} {INVALID} }}
}}
"""
SIGN_CONSULTATION = f"""
mutation SignConsultation($id: ID!) {{ signConsultation(id: $id) {{ {PAYLOAD} }} }}
"""
ADD_CONSULTATION_ADDENDUM = f"""
mutation AddConsultationAddendum($consultationId: ID!, $text: String!) {{
  addConsultationAddendum(consultationId: $consultationId, text: $text) {{
    {PAYLOAD} {INVALID}
  }}
}}
"""

# Late in the UTC day, so that the consultation's date is plainly the UTC date.
STARTS_AT = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
PRESCRIPTION = {
    "medication": "Amoxicillin",
    "dose": "500 mg",
    "route": "oral",
    "frequency": "three times a day",
    "duration": "7 days",
    "instructions": "After meals.",
}
CONTENT = {
    "medicalHistory": "Sore throat for three days.",
    "examinationFindings": "Red tonsils, no exudate.",
    "investigations": "Rapid strep test: positive.",
    "treatmentPlan": "Antibiotics; rest.",
    "prescriptions": [PRESCRIPTION],
    "reviewDate": "2026-03-17",
    "privateNotes": "Anxious about missing work.",
}


async def document(client, doctor, patient, starts_at=STARTS_AT, **content):
    """An appointment of `patient` with `doctor`, documented by the doctor through the API."""
    appointment = await make_appointment(patient.user, doctor.user, starts_at=starts_at)
    given = {"appointmentId": str(appointment.id), **CONTENT, **content}
    result = await client.execute(CREATE_CONSULTATION, {"input": given}, as_=doctor)
    assert result["createConsultation"]["__typename"] == "ConsultationPayload", result
    return result["createConsultation"]["consultation"]


async def sign(client, doctor, consultation_id):
    result = await client.execute(SIGN_CONSULTATION, {"id": consultation_id}, as_=doctor)
    return result["signConsultation"]


async def database_state():
    """Everything a consultation write touches, to prove that a refused one wrote nothing."""
    consultations = await models.Consultation.all().order_by("id").values()
    return (
        consultations,
        await models.PrescriptionItem.all().order_by("id").values(),
        await models.ConsultationRevision.all().order_by("id").values(),
        await models.ConsultationAddendum.all().order_by("id").values(),
    )


def announced(caplog):
    return [
        (record.change, record.recipient_ids)
        for record in caplog.records
        if record.name == "healthcare.resolvers.changes"
    ]


@pytest.fixture
def changes(caplog):
    caplog.set_level(logging.INFO, logger="healthcare.resolvers.changes")
    return caplog


@pytest.fixture
def people(patient, other_patient, doctor, other_doctor, admin):
    """Every persona by fixture name; `anonymous` is no one."""
    return {
        "anonymous": None,
        "patient": patient,
        "other_patient": other_patient,
        "doctor": doctor,
        "other_doctor": other_doctor,
        "admin": admin,
    }


# ---- who may read which field ------------------------------------------------------------

WHO_AND_WHEN = ["id", "appointmentId", "createdAt", "updatedAt", "signedAt", "isSigned"]
WHO_AND_WHEN += ["doctor", "patient"]
CLINICAL = ["medicalHistory", "examinationFindings", "investigations", "treatmentPlan"]
CLINICAL += ["reviewDate", "prescriptions", "revisions", "addenda"]
# Persona -> which fields they read; the consultation is null for those not listed.
READS = {
    "doctor": set(WHO_AND_WHEN + CLINICAL + ["privateNotes"]),
    "patient": set(WHO_AND_WHEN + CLINICAL),
    "admin": set(WHO_AND_WHEN),
}
LISTS = {"prescriptions", "revisions", "addenda"}


def without_private_notes(revisions):
    """Revisions as the patient sees them: private notes are the author's alone."""
    return [
        {**revision, "changedFields": [f for f in revision["changedFields"] if f != "privateNotes"]}
        for revision in revisions
    ]


@pytest.mark.parametrize("field", WHO_AND_WHEN + CLINICAL + ["privateNotes"])
@pytest.mark.parametrize(
    "reader", ["anonymous", "patient", "other_patient", "doctor", "other_doctor", "admin"]
)
async def test_who_may_read_each_consultation_field(people, client, patient, doctor, reader, field):
    # given: a signed consultation with an addendum, so that every field has a value
    written = await document(client, doctor, patient)
    await sign(client, doctor, written["id"])
    await client.execute(
        ADD_CONSULTATION_ADDENDUM,
        {"consultationId": written["id"], "text": "Culture negative."},
        as_=doctor,
    )
    full = (await client.execute(CONSULTATION, {"id": written["id"]}, as_=doctor))["consultation"]
    assert full[field] not in (None, [], ""), "the author must see a value"
    viewer = people[reader]
    # when / then
    if viewer is None:
        codes = await client.error_codes(CONSULTATION, {"id": written["id"]})
        assert codes == ["UNAUTHENTICATED"]
        return
    seen = (await client.execute(CONSULTATION, {"id": written["id"]}, as_=viewer))["consultation"]
    if reader not in READS:
        assert seen is None
    elif field == "revisions" and reader == "patient":
        assert seen[field] == without_private_notes(full[field])
    elif field in READS[reader]:
        assert seen[field] == full[field]
    else:
        assert seen[field] == ([] if field in LISTS else None)


@pytest.mark.parametrize(
    ("reader", "sees_it"),
    [
        ("patient", True),
        ("other_patient", False),
        ("doctor", True),
        ("other_doctor", False),
        ("admin", True),
    ],
)
async def test_the_consultation_list_holds_only_what_the_reader_may_see(
    people, client, patient, doctor, reader, sees_it
):
    # given
    written = await document(client, doctor, patient)
    viewer = people[reader]
    # when
    listed = (await client.execute(CONSULTATIONS, {}, as_=viewer))["consultations"]["nodes"]
    # then
    assert [node["id"] for node in listed] == ([written["id"]] if sees_it else [])
    if sees_it:
        assert listed[0]["privateNotes"] == (
            CONTENT["privateNotes"] if reader == "doctor" else None
        )
        assert listed[0]["treatmentPlan"] == (
            None if reader == "admin" else CONTENT["treatmentPlan"]
        )


APPOINTMENT_CONSULTATION = """
query AppointmentConsultation($id: ID!) {
  appointment(id: $id) { consultation { id treatmentPlan privateNotes } }
}
"""


@pytest.mark.parametrize(
    ("reader", "plan", "notes"),
    [
        ("patient", CONTENT["treatmentPlan"], None),
        ("doctor", CONTENT["treatmentPlan"], CONTENT["privateNotes"]),
        ("admin", None, None),
    ],
)
async def test_the_same_field_rules_hold_when_reached_through_the_appointment(
    people, client, patient, doctor, reader, plan, notes
):
    # given
    written = await document(client, doctor, patient)
    # when
    result = await client.execute(
        APPOINTMENT_CONSULTATION, {"id": written["appointmentId"]}, as_=people[reader]
    )
    # then
    seen = result["appointment"]["consultation"]
    assert seen == {"id": written["id"], "treatmentPlan": plan, "privateNotes": notes}


async def test_anonymous_callers_cannot_list_consultations(client):
    assert await client.error_codes(CONSULTATIONS, {}) == ["UNAUTHENTICATED"]


# ---- who may write -------------------------------------------------------------------------


async def prepare(client, doctor, patient, operation):
    """The variables for `operation` on a fresh appointment or consultation."""
    if operation == CREATE_CONSULTATION:
        appointment = await make_appointment(patient.user, doctor.user, starts_at=STARTS_AT)
        return {"input": {"appointmentId": str(appointment.id), **CONTENT}}
    written = await document(client, doctor, patient)
    if operation == UPDATE_CONSULTATION:
        return {"id": written["id"], "input": {"treatmentPlan": "Changed."}}
    if operation == SIGN_CONSULTATION:
        return {"id": written["id"]}
    await sign(client, doctor, written["id"])
    return {"consultationId": written["id"], "text": "Late result."}


WRITES = [CREATE_CONSULTATION, UPDATE_CONSULTATION, SIGN_CONSULTATION, ADD_CONSULTATION_ADDENDUM]


@pytest.mark.parametrize("operation", WRITES, ids=["create", "update", "sign", "addendum"])
@pytest.mark.parametrize(
    ("writer", "outcome"),
    [
        ("anonymous", "UNAUTHENTICATED"),
        ("patient", "FORBIDDEN"),
        ("other_patient", "FORBIDDEN"),
        ("admin", "FORBIDDEN"),
        ("other_doctor", "NotFound"),
        ("doctor", "ConsultationPayload"),
    ],
)
async def test_only_the_assigned_doctor_writes_consultations(
    people, client, patient, doctor, operation, writer, outcome
):
    # given
    variables = await prepare(client, doctor, patient, operation)
    before = await database_state()
    viewer = people[writer]
    # when
    response = (await client.post(operation, variables, as_=viewer)).json()
    # then
    if outcome in {"UNAUTHENTICATED", "FORBIDDEN"}:
        assert [error["extensions"]["code"] for error in response["errors"]] == [outcome]
        assert response["data"] is None
    else:
        result = next(iter(response["data"].values()))
        assert result["__typename"] == outcome
    if outcome != "ConsultationPayload":
        assert await database_state() == before


async def test_a_doctor_not_assigned_gets_the_same_answer_as_for_a_missing_appointment(
    client, patient, doctor, other_doctor
):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=STARTS_AT)
    # when
    theirs = await client.execute(
        CREATE_CONSULTATION, {"input": {"appointmentId": str(appointment.id)}}, as_=other_doctor
    )
    missing = await client.execute(
        CREATE_CONSULTATION,
        {"input": {"appointmentId": "00000000-0000-4000-8000-000000000000"}},
        as_=other_doctor,
    )
    # then
    assert theirs == missing
    assert theirs["createConsultation"]["code"] == "NOT_FOUND"


# ---- creating ------------------------------------------------------------------------------


async def test_the_assigned_doctor_documents_an_appointment_as_revision_one(
    client, patient, doctor, changes
):
    # when
    written = await document(client, doctor, patient)
    # then
    assert {key: written[key] for key in CONTENT} == CONTENT
    assert written["doctor"]["id"] == doctor.id
    assert written["patient"]["id"] == patient.id
    assert written["isSigned"] is False
    [revision] = written["revisions"]
    assert revision["number"] == 1
    assert revision["author"] == {"id": doctor.id, "fullName": doctor.user.full_name}
    assert revision["changedFields"] == list(CONTENT)
    stored = await models.ConsultationRevision.get(consultation_id=written["id"])
    assert stored.content == {
        "medical_history": CONTENT["medicalHistory"],
        "examination_findings": CONTENT["examinationFindings"],
        "investigations": CONTENT["investigations"],
        "treatment_plan": CONTENT["treatmentPlan"],
        "prescriptions": [PRESCRIPTION],
        "review_date": "2026-03-17",
        "private_notes": CONTENT["privateNotes"],
    }
    assert announced(changes) == [("CONSULTATION_CREATED", [patient.id])]


async def test_an_appointment_is_documented_only_once(client, patient, doctor):
    # given
    written = await document(client, doctor, patient)
    before = await database_state()
    # when
    again = await client.execute(
        CREATE_CONSULTATION, {"input": {"appointmentId": written["appointmentId"]}}, as_=doctor
    )
    # then
    result = again["createConsultation"]
    assert result["code"] == "VALIDATION_FAILED"
    assert result["fieldErrors"][0]["field"] == "appointmentId"
    assert "already documented" in result["fieldErrors"][0]["message"]
    assert await database_state() == before


async def test_a_cancelled_appointment_cannot_be_documented(client, patient, doctor, changes):
    # given
    appointment = await make_appointment(
        patient.user, doctor.user, starts_at=STARTS_AT, status=models.AppointmentStatus.CANCELLED
    )
    # when
    result = await client.execute(
        CREATE_CONSULTATION,
        {"input": {"appointmentId": str(appointment.id), **CONTENT}},
        as_=doctor,
    )
    # then
    assert result["createConsultation"]["code"] == "INVALID_STATUS_TRANSITION"
    assert result["createConsultation"]["currentStatus"] == "CANCELLED"
    assert await models.Consultation.all().count() == 0
    assert announced(changes) == []


async def test_the_review_date_may_be_the_consultation_day_but_not_before(client, patient, doctor):
    # when
    same_day = await document(client, doctor, patient, reviewDate="2026-03-10")
    # then
    assert same_day["reviewDate"] == "2026-03-10"
    refused = await client.execute(
        UPDATE_CONSULTATION,
        {"id": same_day["id"], "input": {"reviewDate": "2026-03-09"}},
        as_=doctor,
    )
    assert refused["updateConsultation"]["fieldErrors"][0]["field"] == "reviewDate"


# ---- bad input: a typed error naming the field, and nothing written -----------------------

TOO_LONG = "x" * 20_001
ITEM = PRESCRIPTION
BAD_INPUT = [
    ({"medicalHistory": TOO_LONG}, "medicalHistory"),
    ({"examinationFindings": TOO_LONG}, "examinationFindings"),
    ({"investigations": TOO_LONG}, "investigations"),
    ({"treatmentPlan": TOO_LONG}, "treatmentPlan"),
    ({"privateNotes": TOO_LONG}, "privateNotes"),
    ({"treatmentPlan": "bell \x07 character"}, "treatmentPlan"),
    ({"reviewDate": "2026-03-09"}, "reviewDate"),
    ({"prescriptions": [ITEM] * 51}, "prescriptions"),
    ({"prescriptions": [ITEM, {**ITEM, "medication": "m" * 201}]}, "prescriptions[1].medication"),
    ({"prescriptions": [ITEM, {**ITEM, "dose": "d" * 101}]}, "prescriptions[1].dose"),
    ({"prescriptions": [ITEM, {**ITEM, "route": "r" * 51}]}, "prescriptions[1].route"),
    ({"prescriptions": [ITEM, {**ITEM, "frequency": "f" * 101}]}, "prescriptions[1].frequency"),
    ({"prescriptions": [ITEM, {**ITEM, "duration": "d" * 101}]}, "prescriptions[1].duration"),
    ({"prescriptions": [{**ITEM, "instructions": "i" * 2001}]}, "prescriptions[0].instructions"),
] + [
    ({"prescriptions": [ITEM, ITEM, {**ITEM, name: "  "}]}, f"prescriptions[2].{name}")
    for name in ("medication", "dose", "route", "frequency", "duration")
]


@pytest.mark.parametrize(("bad", "field"), BAD_INPUT, ids=[field for _, field in BAD_INPUT])
async def test_bad_input_to_create_is_refused_naming_the_field(
    client, patient, doctor, changes, bad, field
):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=STARTS_AT)
    given = {"appointmentId": str(appointment.id), **CONTENT, **bad}
    # when
    result = await client.execute(CREATE_CONSULTATION, {"input": given}, as_=doctor)
    # then
    assert result["createConsultation"]["code"] == "VALIDATION_FAILED"
    assert [e["field"] for e in result["createConsultation"]["fieldErrors"]] == [field]
    assert await database_state() == ([], [], [], [])
    assert announced(changes) == []


@pytest.mark.parametrize(("bad", "field"), BAD_INPUT, ids=[field for _, field in BAD_INPUT])
async def test_bad_input_to_update_is_refused_naming_the_field(
    client, patient, doctor, changes, bad, field
):
    # given
    written = await document(client, doctor, patient)
    before = await database_state()
    changes.clear()
    # when
    result = await client.execute(
        UPDATE_CONSULTATION, {"id": written["id"], "input": bad}, as_=doctor
    )
    # then
    assert result["updateConsultation"]["code"] == "VALIDATION_FAILED"
    assert [e["field"] for e in result["updateConsultation"]["fieldErrors"]] == [field]
    assert await database_state() == before
    assert announced(changes) == []


async def test_every_bad_field_is_reported_at_once(client, patient, doctor):
    written = await document(client, doctor, patient)
    bad = {"investigations": TOO_LONG, "prescriptions": [{**ITEM, "dose": ""}]}
    result = await client.execute(
        UPDATE_CONSULTATION, {"id": written["id"], "input": bad}, as_=doctor
    )
    fields = [e["field"] for e in result["updateConsultation"]["fieldErrors"]]
    assert fields == ["investigations", "prescriptions[0].dose"]


# ---- updating: partial, with revisions -------------------------------------------------------


async def test_an_update_changes_only_the_fields_given_and_records_who_when_and_what(
    client, patient, doctor, changes
):
    # given
    written = await document(client, doctor, patient)
    changes.clear()
    # when
    result = await client.execute(
        UPDATE_CONSULTATION,
        {
            "id": written["id"],
            "input": {"treatmentPlan": "Stop antibiotics.", "investigations": None},
        },
        as_=doctor,
    )
    # then
    updated = result["updateConsultation"]["consultation"]
    assert updated["treatmentPlan"] == "Stop antibiotics."
    assert updated["investigations"] == CONTENT["investigations"]
    assert updated["prescriptions"] == [PRESCRIPTION]
    assert updated["reviewDate"] == CONTENT["reviewDate"]
    first, second = updated["revisions"]
    assert (first["number"], second["number"]) == (1, 2)
    assert second["author"] == {"id": doctor.id, "fullName": doctor.user.full_name}
    assert second["changedFields"] == ["treatmentPlan"]
    assert second["createdAt"] >= first["createdAt"]
    stored = await models.ConsultationRevision.get(consultation_id=written["id"], number=2)
    assert stored.changed_fields == ["treatment_plan"]
    assert stored.content["treatment_plan"] == "Stop antibiotics."
    assert stored.content["medical_history"] == CONTENT["medicalHistory"]
    first_copy = await models.ConsultationRevision.get(consultation_id=written["id"], number=1)
    assert first_copy.content["treatment_plan"] == CONTENT["treatmentPlan"]
    assert announced(changes) == [("CONSULTATION_UPDATED", [patient.id])]


UPDATE_FROM_REVISION = """
mutation UpdateFromRevision($id: ID!, $input: UpdateConsultationInput!) {
  updateConsultation(id: $id, input: $input) {
    __typename
    ... on ConsultationPayload { consultation { treatmentPlan revisions { number } } }
    ... on RevisionConflict { code message currentRevision }
  }
}
"""


async def test_an_edit_from_an_older_revision_is_refused_and_overwrites_nothing(
    client, patient, doctor
):
    # given: the doctor opens revision 1 on two devices; one saves (revision 2)
    written = await document(client, doctor, patient)

    async def save(plan: str, expected_revision: int) -> dict:
        variables = {
            "id": written["id"],
            "input": {"treatmentPlan": plan, "expectedRevision": expected_revision},
        }
        return (await client.execute(UPDATE_FROM_REVISION, variables, as_=doctor))[
            "updateConsultation"
        ]

    first = await save("Rest for a week.", 1)
    # when: the other device saves, still from revision 1
    stale = await save("Physiotherapy twice a week.", 1)
    # then: refused, naming the revision now; the first save stands
    assert first["consultation"]["revisions"][-1] == {"number": 2}
    assert stale["__typename"] == "RevisionConflict"
    assert stale["code"] == "REVISION_CONFLICT"
    assert stale["currentRevision"] == 2
    kept = await client.execute(CONSULTATION, {"id": written["id"]}, as_=doctor)
    assert kept["consultation"]["treatmentPlan"] == "Rest for a week."
    assert await models.ConsultationRevision.filter(consultation_id=written["id"]).count() == 2
    # and from the revision it now is, it saves
    merged = await save("Rest, then physiotherapy.", 2)
    assert merged["consultation"]["treatmentPlan"] == "Rest, then physiotherapy."


async def test_of_two_simultaneous_edits_from_one_revision_exactly_one_is_saved(
    client, patient, doctor
):
    # given
    written = await document(client, doctor, patient)
    edits = [
        {"id": written["id"], "input": {"treatmentPlan": plan, "expectedRevision": 1}}
        for plan in ("Plan from the laptop.", "Plan from the phone.")
    ]
    # when: both at once
    results = await asyncio.gather(
        *(client.execute(UPDATE_FROM_REVISION, edit, as_=doctor) for edit in edits)
    )
    # then
    kinds = sorted(result["updateConsultation"]["__typename"] for result in results)
    assert kinds == ["ConsultationPayload", "RevisionConflict"]
    assert await models.ConsultationRevision.filter(consultation_id=written["id"]).count() == 2


async def test_prescriptions_given_in_an_update_replace_the_whole_list(client, patient, doctor):
    # given
    written = await document(client, doctor, patient)
    ibuprofen = {**PRESCRIPTION, "medication": "Ibuprofen", "dose": "400 mg", "instructions": ""}
    # when
    replaced = await client.execute(
        UPDATE_CONSULTATION,
        {"id": written["id"], "input": {"prescriptions": [ibuprofen, PRESCRIPTION]}},
        as_=doctor,
    )
    emptied = await client.execute(
        UPDATE_CONSULTATION, {"id": written["id"], "input": {"prescriptions": []}}, as_=doctor
    )
    # then
    assert replaced["updateConsultation"]["consultation"]["prescriptions"] == [
        ibuprofen,
        PRESCRIPTION,
    ]
    final = emptied["updateConsultation"]["consultation"]
    assert final["prescriptions"] == []
    assert [r["changedFields"] for r in final["revisions"][1:]] == [["prescriptions"]] * 2
    assert await models.PrescriptionItem.filter(consultation_id=written["id"]).count() == 0


async def test_an_update_that_changes_nothing_creates_no_revision(client, patient, doctor, changes):
    # given
    written = await document(client, doctor, patient)
    before = await database_state()
    changes.clear()
    same = {key: CONTENT[key] for key in ("treatmentPlan", "prescriptions", "reviewDate")}
    # when
    result = await client.execute(
        UPDATE_CONSULTATION, {"id": written["id"], "input": same}, as_=doctor
    )
    # then
    assert len(result["updateConsultation"]["consultation"]["revisions"]) == 1
    assert await database_state() == before
    assert announced(changes) == []


async def test_a_null_review_date_removes_it_and_an_omitted_one_keeps_it(client, patient, doctor):
    # given
    written = await document(client, doctor, patient)
    # when
    kept = await client.execute(
        UPDATE_CONSULTATION, {"id": written["id"], "input": {"treatmentPlan": "Rest."}}, as_=doctor
    )
    removed = await client.execute(
        UPDATE_CONSULTATION, {"id": written["id"], "input": {"reviewDate": None}}, as_=doctor
    )
    # then
    assert kept["updateConsultation"]["consultation"]["reviewDate"] == CONTENT["reviewDate"]
    removed_now = removed["updateConsultation"]["consultation"]
    assert removed_now["reviewDate"] is None
    assert removed_now["revisions"][-1]["changedFields"] == ["reviewDate"]


async def test_the_patient_does_not_learn_that_private_notes_changed(client, patient, doctor):
    # given
    written = await document(client, doctor, patient)
    await client.execute(
        UPDATE_CONSULTATION,
        {"id": written["id"], "input": {"privateNotes": "Follow up on sick note."}},
        as_=doctor,
    )
    # when
    as_patient = await client.execute(CONSULTATION, {"id": written["id"]}, as_=patient)
    as_author = await client.execute(CONSULTATION, {"id": written["id"]}, as_=doctor)
    # then
    # a notes-only revision does not exist for the patient, and moves no timestamp
    assert [r["number"] for r in as_patient["consultation"]["revisions"]] == [1]
    assert "privateNotes" not in as_patient["consultation"]["revisions"][0]["changedFields"]
    assert as_patient["consultation"]["updatedAt"] == written["updatedAt"]
    assert as_author["consultation"]["revisions"][1]["changedFields"] == ["privateNotes"]


MY_RECORD_ACCESS = """
query MyRecordAccess { myRecordAccess(first: 100) { nodes { entity action fields } } }
"""


async def test_an_edit_of_the_private_notes_alone_leaves_no_trace_the_patient_can_see(
    client, patient, doctor, admin
):
    # given: a consultation written (revision 1)
    written = await document(client, doctor, patient)
    await audit.written()
    seen_before = (await client.execute(MY_RECORD_ACCESS, as_=patient))["myRecordAccess"]
    # when: the notes alone, then a clinical field
    for change in ({"privateNotes": "Follow up on sick note."}, {"treatmentPlan": "Rest."}):
        await client.execute(
            "mutation U($id: ID!, $input: UpdateConsultationInput!) {"
            " updateConsultation(id: $id, input: $input) { __typename } }",
            {"id": written["id"], "input": change},
            as_=doctor,
        )
    # then: one notification of an update, for the clinical one
    kinds = await models.Notification.filter(recipient_id=patient.user.id).values_list(
        "kind", flat=True
    )
    assert sorted(kinds) == ["CONSULTATION_CREATED", "CONSULTATION_UPDATED"]
    # and the patient's revisions run on without a gap
    as_patient = await client.execute(CONSULTATION, {"id": written["id"]}, as_=patient)
    assert [r["number"] for r in as_patient["consultation"]["revisions"]] == [1, 2]
    # and what the patient sees of the trail holds one update, and no private notes
    await audit.written()
    seen = (await client.execute(MY_RECORD_ACCESS, as_=patient))["myRecordAccess"]["nodes"]
    new = seen[len(seen_before["nodes"]) :]
    assert [(n["entity"], n["action"]) for n in new] == [("CONSULTATION", "UPDATE")]
    assert all("privateNotes" not in n["fields"] for n in seen)
    # while administrators see the notes' edit on the trail (reads of them are there too)
    trail = await client.execute(
        "query T { auditEvents(first: 100, entity: PRIVATE_NOTES, action: UPDATE)"
        " { nodes { action } } }",
        as_=admin,
    )
    assert trail["auditEvents"]["nodes"] == [{"action": "UPDATE"}]


async def test_reading_the_private_notes_is_on_the_trail_apart_from_the_patients_view(
    client, patient, doctor, admin
):
    # given: a consultation written
    written = await document(client, doctor, patient)
    await audit.written()
    seen_before = (await client.execute(MY_RECORD_ACCESS, as_=patient))["myRecordAccess"]
    notes_read = (
        "query T { auditEvents(first: 100, entity: PRIVATE_NOTES, action: READ)"
        " { nodes { fields actorId } } }"
    )
    notes_read_before = (await client.execute(notes_read, as_=admin))["auditEvents"]["nodes"]
    # when: the author edits the notes and reads them back, then reads them alone
    await client.execute(
        "mutation U($id: ID!, $input: UpdateConsultationInput!) {"
        " updateConsultation(id: $id, input: $input) {"
        " ... on ConsultationPayload { consultation { id privateNotes } } } }",
        {"id": written["id"], "input": {"privateNotes": "Follow up on sick note."}},
        as_=doctor,
    )
    notes_alone = "query C($id: ID!) { consultation(id: $id) { privateNotes } }"
    await client.execute(notes_alone, {"id": written["id"]}, as_=doctor)
    await audit.written()
    # then: the patient's view of the trail gains nothing
    seen = (await client.execute(MY_RECORD_ACCESS, as_=patient))["myRecordAccess"]
    assert seen == seen_before
    # when: the author reads a clinical field and the notes together
    both = "query C($id: ID!) { consultation(id: $id) { id treatmentPlan privateNotes } }"
    await client.execute(both, {"id": written["id"]}, as_=doctor)
    await audit.written()
    # then: the patient sees a read of the treatment plan, and nothing of the notes
    seen = (await client.execute(MY_RECORD_ACCESS, as_=patient))["myRecordAccess"]["nodes"]
    new = seen[len(seen_before["nodes"]) :]
    assert [(n["entity"], n["action"], n["fields"]) for n in new] == [
        ("CONSULTATION", "READ", ["id", "treatmentPlan"])
    ]
    # while administrators see every read of the notes: three more
    notes_read_after = (await client.execute(notes_read, as_=admin))["auditEvents"]["nodes"]
    assert (
        notes_read_after
        == notes_read_before + [{"fields": ["privateNotes"], "actorId": doctor.id}] * 3
    )


async def test_asking_for_private_notes_one_does_not_get_is_no_read_of_them(
    client, patient, doctor, admin
):
    # given: a consultation written, its author's reads of the notes on the trail already
    written = await document(client, doctor, patient)
    await audit.written()
    notes_read_before = await models.AuditEvent.filter(
        entity=models.AuditEntity.PRIVATE_NOTES
    ).count()
    # when: the patient and an administrator ask for the notes (and get null)
    both = "query C($id: ID!) { consultation(id: $id) { id isSigned privateNotes } }"
    answers = [
        (await client.execute(both, {"id": written["id"]}, as_=asking))["consultation"]
        for asking in (patient, admin)
    ]
    await audit.written()
    # then: nobody is recorded as having read the notes
    assert [answer["privateNotes"] for answer in answers] == [None, None]
    notes_read = await models.AuditEvent.filter(entity=models.AuditEntity.PRIVATE_NOTES).count()
    assert notes_read == notes_read_before
    # and the administrator's read of the rest names no notes either
    admin_read = await models.AuditEvent.get(
        actor_id=admin.user.id, entity=models.AuditEntity.CONSULTATION
    )
    assert admin_read.fields_accessed == ["id", "isSigned"]


async def test_an_id_that_is_not_a_uuid_finds_nothing(client, patient, doctor):
    seen = await client.execute(CONSULTATION, {"id": "42"}, as_=patient)
    changed = await client.execute(
        UPDATE_CONSULTATION, {"id": "42", "input": {"treatmentPlan": "x"}}, as_=doctor
    )
    assert seen["consultation"] is None
    assert changed["updateConsultation"]["code"] == "NOT_FOUND"


# ---- signing and addenda ---------------------------------------------------------------------


async def test_a_signed_consultation_is_read_only(client, patient, doctor, changes):
    # given
    written = await document(client, doctor, patient)
    changes.clear()
    # when
    signed = await sign(client, doctor, written["id"])
    before = await database_state()
    update = await client.execute(
        UPDATE_CONSULTATION, {"id": written["id"], "input": {"treatmentPlan": "x"}}, as_=doctor
    )
    again = await sign(client, doctor, written["id"])
    # then
    assert signed["consultation"]["isSigned"] is True
    assert signed["consultation"]["signedAt"] is not None
    assert update["updateConsultation"]["code"] == "CONSULTATION_SIGNED"
    assert again["code"] == "CONSULTATION_SIGNED"
    assert await database_state() == before
    assert announced(changes) == [("CONSULTATION_SIGNED", [patient.id])]


async def test_an_addendum_goes_only_on_a_signed_consultation(client, patient, doctor):
    # given
    written = await document(client, doctor, patient)
    # when
    result = await client.execute(
        ADD_CONSULTATION_ADDENDUM,
        {"consultationId": written["id"], "text": "Culture negative."},
        as_=doctor,
    )
    # then
    refused = result["addConsultationAddendum"]
    assert refused["code"] == "VALIDATION_FAILED"
    assert refused["fieldErrors"][0]["field"] == "consultationId"
    assert "update it instead" in refused["fieldErrors"][0]["message"]
    assert await models.ConsultationAddendum.all().count() == 0


async def test_addenda_are_listed_with_author_text_and_time_to_author_and_patient(
    client, patient, doctor, admin
):
    # given
    written = await document(client, doctor, patient)
    await sign(client, doctor, written["id"])
    # when
    result = await client.execute(
        ADD_CONSULTATION_ADDENDUM,
        {"consultationId": written["id"], "text": "  Culture negative.  "},
        as_=doctor,
    )
    # then
    [addendum] = result["addConsultationAddendum"]["consultation"]["addenda"]
    assert addendum["text"] == "Culture negative."
    assert addendum["author"] == {"id": doctor.id, "fullName": doctor.user.full_name}
    assert addendum["createdAt"]
    as_patient = await client.execute(CONSULTATION, {"id": written["id"]}, as_=patient)
    as_admin = await client.execute(CONSULTATION, {"id": written["id"]}, as_=admin)
    assert as_patient["consultation"]["addenda"] == [addendum]
    assert as_admin["consultation"]["addenda"] == []


async def test_an_addendum_tells_the_patient_and_is_on_the_audit_trail(
    client, patient, doctor, changes
):
    # given
    written = await document(client, doctor, patient)
    await sign(client, doctor, written["id"])
    changes.clear()
    # when
    await client.execute(
        ADD_CONSULTATION_ADDENDUM,
        {"consultationId": written["id"], "text": "Culture negative."},
        as_=doctor,
    )
    # then: a notification for the patient that names no clinical detail
    assert announced(changes) == [("CONSULTATION_UPDATED", [patient.id])]
    [notification] = await models.Notification.filter(
        recipient_id=patient.user.id, kind=models.NotificationKind.CONSULTATION_UPDATED
    )
    assert str(notification.consultation_id) == written["id"]
    assert "Culture" not in notification.title + notification.body
    await audit.written()
    assert await models.AuditEvent.filter(
        actor_id=doctor.user.id,
        entity=models.AuditEntity.CONSULTATION,
        entity_id=written["id"],
        action=models.AuditAction.UPDATE,
    ).exists()


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001], ids=["empty", "blank", "too-long"])
async def test_an_addendum_needs_text_of_at_most_4000_characters(client, patient, doctor, text):
    # given
    written = await document(client, doctor, patient)
    await sign(client, doctor, written["id"])
    # when
    result = await client.execute(
        ADD_CONSULTATION_ADDENDUM, {"consultationId": written["id"], "text": text}, as_=doctor
    )
    # then
    assert result["addConsultationAddendum"]["code"] == "VALIDATION_FAILED"
    assert [e["field"] for e in result["addConsultationAddendum"]["fieldErrors"]] == ["text"]
    assert await models.ConsultationAddendum.all().count() == 0


# ---- lists -----------------------------------------------------------------------------------


async def test_a_doctor_lists_their_consultations_of_one_patient_page_by_page(
    client, patient, other_patient, doctor
):
    # given
    mine = [
        (await document(client, doctor, patient, starts_at=STARTS_AT - timedelta(days=day)))["id"]
        for day in range(3)
    ]
    await document(client, doctor, other_patient, starts_at=STARTS_AT + timedelta(hours=1))
    # when
    first = await client.execute(CONSULTATIONS, {"first": 2, "patientId": patient.id}, as_=doctor)
    after = first["consultations"]["pageInfo"]["endCursor"]
    second = await client.execute(
        CONSULTATIONS, {"first": 2, "after": after, "patientId": patient.id}, as_=doctor
    )
    # then
    pages = [first["consultations"], second["consultations"]]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, False]
    assert [node["id"] for page in pages for node in page["nodes"]] == mine


async def test_reading_consultations_costs_the_same_queries_for_2_rows_as_for_6(
    client, patient, doctor, caplog
):
    # given
    for hour in range(2):
        await document(client, doctor, patient, starts_at=STARTS_AT - timedelta(hours=hour))
    list_all = CONSULTATIONS.replace("nodes { id privateNotes treatmentPlan }", "nodes { %s }")
    query = list_all % CONSULTATION_CARD

    async def count_queries():
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
        await client.execute(query, {"first": 50}, as_=patient)
        queries = request_statements(caplog.records)
        caplog.set_level(logging.WARNING, logger="tortoise.db_client")
        return len(queries)

    # when
    for_two = await count_queries()
    for hour in range(2, 6):
        await document(client, doctor, patient, starts_at=STARTS_AT - timedelta(hours=hour))
    for_six = await count_queries()
    # then
    assert 0 < for_two == for_six


# ---- races and batches -----------------------------------------------------------------------


async def test_concurrent_updates_of_different_fields_are_all_kept_in_the_revisions(
    client, patient, doctor
):
    # given
    written = await document(client, doctor, patient)
    stored_as = {
        "medicalHistory": "medical_history",
        "examinationFindings": "examination_findings",
        "investigations": "investigations",
        "treatmentPlan": "treatment_plan",
    }
    # when
    results = await asyncio.gather(
        *(
            client.execute(
                UPDATE_CONSULTATION, {"id": written["id"], "input": {field: "New"}}, doctor
            )
            for field in stored_as
        )
    )
    # then: each revision builds on the one before, none on a stale copy
    assert {r["updateConsultation"]["__typename"] for r in results} == {"ConsultationPayload"}
    stored = await models.ConsultationRevision.filter(consultation_id=written["id"]).order_by(
        "number"
    )
    assert [revision.number for revision in stored] == [1, 2, 3, 4, 5]
    changed = [revision.changed_fields for revision in stored[1:]]
    assert sorted(changed) == sorted([name] for name in stored_as.values())
    last = stored[-1].content
    assert [last[name] for name in stored_as.values()] == ["New"] * 4


async def test_of_two_concurrent_creates_for_one_appointment_one_wins(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=STARTS_AT)
    given = {"input": {"appointmentId": str(appointment.id), **CONTENT}}
    # when
    results = await asyncio.gather(
        *(client.execute(CREATE_CONSULTATION, given, as_=doctor) for _ in range(2))
    )
    # then
    kinds = sorted(r["createConsultation"]["__typename"] for r in results)
    assert kinds == ["ConsultationPayload", "ValidationFailed"]
    assert await models.Consultation.all().count() == 1
    assert await models.ConsultationRevision.all().count() == 1


async def test_two_updates_in_one_request_each_return_their_own_result(client, patient, doctor):
    # given
    written = await document(client, doctor, patient)
    twice = """
    mutation UpdateTwice($id: ID!) {
      first: updateConsultation(id: $id, input: {treatmentPlan: "One"}) {
        ... on ConsultationPayload { consultation { updatedAt revisions { number } } }
      }
      second: updateConsultation(id: $id, input: {treatmentPlan: "Two"}) {
        ... on ConsultationPayload { consultation { updatedAt revisions { number } } }
      }
    }
    """
    # when
    result = await client.execute(twice, {"id": written["id"]}, as_=doctor)
    # then
    first, second = (result[key]["consultation"] for key in ("first", "second"))
    assert [r["number"] for r in first["revisions"]] == [1, 2]
    assert [r["number"] for r in second["revisions"]] == [1, 2, 3]
    assert written["updatedAt"] < first["updatedAt"] <= second["updatedAt"]
