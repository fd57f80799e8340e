"""Who may see which user, and who may change which account."""

from healthcare import models
from tests.conftest import make_appointment, make_doctor, make_patient

USER_CARD = "id firstName lastName fullName role specialty bio email phoneNumber isActive"

ME = f"query Me {{ me {{ {USER_CARD} }} }}"
USER = f"query User($id: ID!) {{ user(id: $id) {{ {USER_CARD} }} }}"
USERS = f"""
query Users($first: Int!, $after: String, $role: Role, $active: Boolean, $search: String) {{
  users(first: $first, after: $after, role: $role, active: $active, search: $search) {{
    edges {{ cursor node {{ {USER_CARD} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
DOCTORS = f"""
query Doctors($first: Int!, $after: String, $specialty: String) {{
  doctors(first: $first, after: $after, specialty: $specialty) {{
    nodes {{ {USER_CARD} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
UPDATE_MY_PROFILE = """
mutation UpdateMyProfile($input: UpdateMyProfileInput!) {
  updateMyProfile(input: $input) {
    __typename
    ... on UserPayload { user { firstName lastName bio phoneNumber } }
    ... on ValidationFailed { code message fieldErrors { field message } }
  }
}
"""
CREATE_USER = """
mutation CreateUser($input: CreateUserInput!) {
  createUser(input: $input) {
    __typename
    ... on UserPayload { user { id email role specialty } }
    ... on ValidationFailed { code fieldErrors { field message } }
  }
}
"""
CHANGE_USER_ROLE = """
mutation ChangeUserRole($userId: ID!, $role: Role!, $specialty: String) {
  changeUserRole(userId: $userId, role: $role, specialty: $specialty) {
    __typename
    ... on UserPayload { user { id role specialty } }
    ... on Error { code message }
    ... on ValidationFailed { fieldErrors { field } }
  }
}
"""
SET_USER_ACTIVE = """
mutation SetUserActive($userId: ID!, $active: Boolean!) {
  setUserActive(userId: $userId, active: $active) {
    __typename
    ... on UserPayload { user { id isActive } }
    ... on Error { code }
    ... on ValidationFailed { fieldErrors { field } }
  }
}
"""


async def test_a_user_sees_their_own_email_and_phone(client, patient):
    # given
    await models.User.filter(id=patient.user.id).update(phone_number="+14155550123")
    # when
    me = (await client.execute(ME, as_=patient))["me"]
    # then
    assert me["email"] == patient.user.email
    assert me["phoneNumber"] == "+14155550123"
    assert me["isActive"] is True


async def test_a_doctors_public_profile_is_visible_but_not_their_contact_details(
    client, patient, doctor
):
    # given
    await models.User.filter(id=doctor.user.id).update(
        phone_number="+14155550124", bio="Heart specialist"
    )
    # when
    seen = (await client.execute(USER, {"id": doctor.id}, as_=patient))["user"]
    # then
    assert seen["fullName"] == doctor.user.full_name
    assert seen["specialty"] == "Cardiology"
    assert seen["bio"] == "Heart specialist"
    assert seen["email"] is None
    assert seen["phoneNumber"] is None
    assert seen["isActive"] is None


async def test_an_admin_sees_every_users_contact_details(client, admin, patient):
    seen = (await client.execute(USER, {"id": patient.id}, as_=admin))["user"]
    assert seen["email"] == patient.user.email
    assert seen["isActive"] is True


async def test_a_patient_cannot_look_up_another_patient(client, patient, other_patient):
    seen = (await client.execute(USER, {"id": other_patient.id}, as_=patient))["user"]
    assert seen is None


async def test_a_doctor_cannot_look_up_a_patient_they_have_no_relation_with(
    client, doctor, patient
):
    seen = (await client.execute(USER, {"id": patient.id}, as_=doctor))["user"]
    assert seen is None


async def test_a_doctor_looks_up_a_patient_they_have_an_appointment_with(client, doctor, patient):
    # given
    await make_appointment(patient.user, doctor.user)
    # when
    seen = (await client.execute(USER, {"id": patient.id}, as_=doctor))["user"]
    # then
    assert seen["fullName"] == patient.user.full_name
    assert seen["email"] is None  # contact details stay with the patient and admins


async def test_a_user_id_that_is_not_a_uuid_finds_nothing(client, patient):
    seen = (await client.execute(USER, {"id": "42"}, as_=patient))["user"]
    assert seen is None


async def test_anonymous_callers_cannot_look_up_users(client, doctor):
    assert await client.error_codes(USER, {"id": doctor.id}) == ["UNAUTHENTICATED"]
    assert await client.error_codes(ME) == ["UNAUTHENTICATED"]


async def test_only_admins_list_all_users(client, patient, doctor, admin):
    # when
    as_patient = await client.error_codes(USERS, {"first": 10}, as_=patient)
    as_doctor = await client.error_codes(USERS, {"first": 10}, as_=doctor)
    anonymous = await client.error_codes(USERS, {"first": 10})
    listed = (await client.execute(USERS, {"first": 10}, as_=admin))["users"]
    # then
    assert as_patient == ["FORBIDDEN"]
    assert as_doctor == ["FORBIDDEN"]
    assert anonymous == ["UNAUTHENTICATED"]
    ids = {edge["node"]["id"] for edge in listed["edges"]}
    assert ids == {patient.id, doctor.id, admin.id}


async def test_the_user_list_pages_with_cursors_without_gaps_or_repeats(client, admin):
    # given
    created = {str((await make_patient()).id) for _ in range(7)}
    # when
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        variables = {"first": 3, "after": after, "role": "PATIENT"}
        page = (await client.execute(USERS, variables, as_=admin))["users"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == created


async def test_admins_search_users_by_every_word_of_name_or_email(client, admin):
    # given
    grey = await make_doctor(first_name="Meredith", last_name="Grey", email="mgrey@example.org")
    greyson = await make_patient(first_name="Anna", last_name="Greyson", email="anna@example.org")
    await make_patient(first_name="Meredith", last_name="Jones", email="mj@example.org")

    async def found(search: str) -> set[str]:
        page = (await client.execute(USERS, {"first": 20, "search": search}, as_=admin))["users"]
        return {edge["node"]["id"] for edge in page["edges"]}

    # then: any case, any order, every word must match somewhere
    assert await found("GREY") == {str(grey.id), str(greyson.id)}
    assert await found("grey meredith") == {str(grey.id)}
    assert await found("ANNA@example") == {str(greyson.id)}
    assert await found("nobody-like-this") == set()
    assert len(await found("  ")) == 4  # blank: no filter (the three and the admin)
    # LIKE's wildcards are plain characters here
    assert await found("%") == set()
    assert await found("m_rey") == set()


async def test_a_search_longer_than_100_characters_is_refused_naming_the_argument(client, admin):
    errors = await client.errors(USERS, {"first": 5, "search": "x" * 101}, as_=admin)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "search" in errors[0]["message"]


async def test_a_page_larger_than_100_is_refused_naming_the_argument(client, admin):
    errors = await client.errors(USERS, {"first": 101}, as_=admin)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first" in errors[0]["message"]


async def test_a_forged_cursor_is_refused_naming_the_argument(client, admin):
    errors = await client.errors(USERS, {"first": 5, "after": "not-a-cursor"}, as_=admin)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "after" in errors[0]["message"]


async def test_any_signed_in_user_lists_active_doctors_by_specialty(client, patient, doctor):
    # given
    await make_doctor(specialty="Dermatology")
    await make_doctor(specialty="dermatology", is_active=False)
    # when
    everyone = (await client.execute(DOCTORS, {"first": 10}, as_=patient))["doctors"]
    skin = await client.execute(DOCTORS, {"first": 10, "specialty": "DERMATOLOGY"}, as_=patient)
    # then
    assert len(everyone["nodes"]) == 2
    assert {node["role"] for node in everyone["nodes"]} == {"DOCTOR"}
    assert [node["specialty"] for node in skin["doctors"]["nodes"]] == ["Dermatology"]
    assert all(node["email"] is None for node in everyone["nodes"])


async def test_anonymous_callers_cannot_list_doctors(client, doctor):
    assert await client.error_codes(DOCTORS, {"first": 10}) == ["UNAUTHENTICATED"]


async def test_a_user_updates_their_profile_and_the_phone_is_stored_as_e164(client, patient):
    # when
    result = (
        await client.execute(
            UPDATE_MY_PROFILE,
            {
                "input": {
                    "firstName": " Patricia ",
                    "bio": "Hello",
                    "phoneNumber": "+44 20 7946 0958",
                }
            },
            as_=patient,
        )
    )["updateMyProfile"]
    # then
    assert result["__typename"] == "UserPayload"
    assert result["user"] == {
        "firstName": "Patricia",
        "lastName": patient.user.last_name,
        "bio": "Hello",
        "phoneNumber": "+442079460958",
    }
    stored = await models.User.get(id=patient.user.id)
    assert stored.phone_number == "+442079460958"


async def test_a_malformed_phone_number_is_refused_naming_the_field_and_nothing_changes(
    client, patient
):
    # when
    result = (
        await client.execute(
            UPDATE_MY_PROFILE,
            {"input": {"firstName": "Changed", "phoneNumber": "call me maybe"}},
            as_=patient,
        )
    )["updateMyProfile"]
    # then
    assert result["__typename"] == "ValidationFailed"
    assert result["code"] == "VALIDATION_FAILED"
    assert [error["field"] for error in result["fieldErrors"]] == ["phoneNumber"]
    stored = await models.User.get(id=patient.user.id)
    assert stored.first_name == patient.user.first_name


async def test_an_impossible_phone_number_is_refused(client, patient):
    result = (
        await client.execute(
            UPDATE_MY_PROFILE, {"input": {"phoneNumber": "+1 555 0000"}}, as_=patient
        )
    )["updateMyProfile"]
    assert result["__typename"] == "ValidationFailed"
    assert result["fieldErrors"][0]["field"] == "phoneNumber"


async def test_a_blank_name_is_refused(client, patient):
    result = (await client.execute(UPDATE_MY_PROFILE, {"input": {"lastName": "   "}}, as_=patient))[
        "updateMyProfile"
    ]
    assert result["__typename"] == "ValidationFailed"
    assert result["fieldErrors"][0]["field"] == "lastName"


async def test_an_admin_creates_a_doctor_with_a_specialty(client, admin):
    # when
    result = (
        await client.execute(
            CREATE_USER,
            {
                "input": {
                    "email": "New.Doctor@Example.org",
                    "password": "a long enough password",
                    "firstName": "New",
                    "lastName": "Doctor",
                    "role": "DOCTOR",
                    "specialty": "Neurology",
                }
            },
            as_=admin,
        )
    )["createUser"]
    # then
    assert result["__typename"] == "UserPayload"
    assert result["user"]["role"] == "DOCTOR"
    assert result["user"]["email"] == "new.doctor@example.org"
    assert await models.User.filter(email="new.doctor@example.org", specialty="Neurology").exists()


async def test_a_doctor_without_a_specialty_is_refused(client, admin):
    result = (
        await client.execute(
            CREATE_USER,
            {
                "input": {
                    "email": "nospecialty@example.org",
                    "password": "a long enough password",
                    "firstName": "No",
                    "lastName": "Specialty",
                    "role": "DOCTOR",
                }
            },
            as_=admin,
        )
    )["createUser"]
    assert result["__typename"] == "ValidationFailed"
    assert result["fieldErrors"][0]["field"] == "specialty"
    assert not await models.User.filter(email="nospecialty@example.org").exists()


async def test_only_admins_create_accounts(client, patient, doctor):
    variables = {
        "input": {
            "email": "sneaky@example.org",
            "password": "a long enough password",
            "firstName": "Sneaky",
            "lastName": "Admin",
            "role": "ADMIN",
        }
    }
    assert await client.error_codes(CREATE_USER, variables, as_=patient) == ["FORBIDDEN"]
    assert await client.error_codes(CREATE_USER, variables, as_=doctor) == ["FORBIDDEN"]
    assert await client.error_codes(CREATE_USER, variables) == ["UNAUTHENTICATED"]
    assert not await models.User.filter(email="sneaky@example.org").exists()


async def test_an_admin_promotes_a_patient_to_doctor_which_ends_their_sessions(
    client, admin, patient
):
    # when
    result = (
        await client.execute(
            CHANGE_USER_ROLE,
            {"userId": patient.id, "role": "DOCTOR", "specialty": "Oncology"},
            as_=admin,
        )
    )["changeUserRole"]
    # then
    assert result["__typename"] == "UserPayload"
    assert result["user"]["role"] == "DOCTOR"
    assert result["user"]["specialty"] == "Oncology"
    assert await client.error_codes(ME, as_=patient) == ["UNAUTHENTICATED"]


async def test_role_changes_are_for_admins_only(client, patient, doctor):
    variables = {"userId": patient.id, "role": "ADMIN"}
    assert await client.error_codes(CHANGE_USER_ROLE, variables, as_=patient) == ["FORBIDDEN"]
    assert await client.error_codes(CHANGE_USER_ROLE, variables, as_=doctor) == ["FORBIDDEN"]
    assert (await models.User.get(id=patient.user.id)).role == models.Role.PATIENT


async def test_an_admin_cannot_demote_or_deactivate_themselves(client, admin):
    demoted = (
        await client.execute(CHANGE_USER_ROLE, {"userId": admin.id, "role": "PATIENT"}, as_=admin)
    )["changeUserRole"]
    deactivated = (
        await client.execute(SET_USER_ACTIVE, {"userId": admin.id, "active": False}, as_=admin)
    )["setUserActive"]
    assert demoted["__typename"] == "ValidationFailed"
    assert deactivated["__typename"] == "ValidationFailed"
    assert (await models.User.get(id=admin.user.id)).is_active


async def test_changing_an_unknown_user_is_not_found(client, admin):
    result = (
        await client.execute(
            SET_USER_ACTIVE,
            {"userId": "00000000-0000-0000-0000-000000000000", "active": False},
            as_=admin,
        )
    )["setUserActive"]
    assert result == {"__typename": "NotFound", "code": "NOT_FOUND"}


async def test_an_administrators_account_changes_are_on_the_audit_trail(client, admin, patient):
    # given
    created = (
        await client.execute(
            CREATE_USER,
            {
                "input": {
                    "email": "new.doctor@example.org",
                    "password": "a long enough password",
                    "firstName": "New",
                    "lastName": "Doctor",
                    "role": "DOCTOR",
                    "specialty": "Dermatology",
                }
            },
            as_=admin,
        )
    )["createUser"]["user"]
    # when
    await client.execute(
        CHANGE_USER_ROLE,
        {"userId": patient.id, "role": "DOCTOR", "specialty": "Cardiology"},
        as_=admin,
    )
    await client.execute(SET_USER_ACTIVE, {"userId": created["id"], "active": False}, as_=admin)
    # then: each change once, as the administrator's, in the order made
    events = await models.AuditEvent.filter(
        entity=models.AuditEntity.USER, action__in=["CREATE", "UPDATE"]
    ).order_by("created_at")
    assert [
        (e.actor_id, e.action, e.entity_id, e.patient_id, e.fields_accessed) for e in events
    ] == [
        (admin.user.id, "CREATE", created["id"], None, ["role"]),
        (admin.user.id, "UPDATE", patient.id, patient.user.id, ["role", "specialty"]),
        (admin.user.id, "UPDATE", created["id"], None, ["isActive"]),
    ]


PATIENT_TRAIL = """
query PatientTrail($patientId: ID!) {
  auditEvents(patientId: $patientId, action: UPDATE) { nodes { actorId entity entityId fields } }
}
"""


async def test_deactivating_a_patient_is_on_their_record_in_the_trail(client, admin, patient):
    # when
    await client.execute(SET_USER_ACTIVE, {"userId": patient.id, "active": False}, as_=admin)
    # then: found by the patient's id, as the administrator's change to their account
    trail = await client.execute(PATIENT_TRAIL, {"patientId": patient.id}, as_=admin)
    assert trail["auditEvents"]["nodes"] == [
        {"actorId": admin.id, "entity": "USER", "entityId": patient.id, "fields": ["isActive"]}
    ]
