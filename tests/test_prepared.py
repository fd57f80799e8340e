"""healthcare.graphql.execution.prepared: a query or mutation whose document validates is
run by the steps of the schema's extensions without strawberry's machinery, and gets the
answer strawberry's `Schema.execute` gives: status, headers and body, the same audit
rows, the same operation metrics and the same operation name on the request's log line.
Whatever is not prepared is strawberry's."""

import logging
from collections import Counter
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from healthcare import models
from healthcare.config import Settings
from healthcare.graphql.execution import prepared, served_schema
from healthcare.graphql.limits import GraphQLLimits, validation_rules
from healthcare.ops.metrics import DURATION, OPERATIONS
from healthcare.schema import build_schema
from healthcare.security import audit
from tests.conftest import GraphQLClient, Persona, make_appointment

NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"
APPOINTMENT = "query A($id: ID!) { appointment(id: $id) { id status reason patient { email } } }"
LIST = "query L { appointments(first: 5) { nodes { id status patient { firstName } } } }"
BOOK = """
mutation B($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentPayload { appointment { id } }
    ... on Error { code message }
  }
}"""

# (name, who asks, the query, its variables (`appointment` stands for an appointment of
# the patient's with the doctor, `doctor` for the doctor's id; an `operationName` among
# them is sent as the request's operation name), prepared or strawberry's)
REQUESTS: list[tuple[str, str | None, str, dict[str, Any], bool]] = [
    ("me", "patient", "query Me { me { id email role } }", {}, True),
    ("me, anonymous", None, "query Me { me { id } }", {}, True),
    ("me, unnamed", "doctor", "{ me { id firstName } }", {}, True),
    ("a lookup by the doctor", "doctor", APPOINTMENT, {"id": "appointment"}, True),
    ("a lookup by the patient", "patient", APPOINTMENT, {"id": "appointment"}, True),
    ("a lookup by an administrator", "admin", APPOINTMENT, {"id": "appointment"}, True),
    ("a lookup of nothing", "doctor", APPOINTMENT, {"id": NO_SUCH_ID}, True),
    ("a lookup of an id not an id", "doctor", APPOINTMENT, {"id": "x"}, True),
    ("a variable of the wrong type", "doctor", APPOINTMENT, {"id": []}, True),
    ("a variable missing", "doctor", APPOINTMENT, {}, True),
    ("the doctor's list", "doctor", LIST, {}, True),
    ("the patient's list", "patient", LIST, {}, True),
    ("an administrator's list", "admin", LIST, {}, True),
    ("a list signed out", None, LIST, {}, True),
    ("__typename", "patient", "{ __typename }", {}, True),
    (
        "two operations, one named",
        "patient",
        "query A { me { id } } query B { me { email } }",
        {"operationName": "B"},
        True,
    ),
    (
        "a refused mutation",
        "patient",
        f'mutation C {{ cancelAppointment(id: "{NO_SUCH_ID}", reason: "x") {{ __typename }} }}',
        {},
        True,
    ),
    (
        "a mutation's expected failure",
        "patient",
        BOOK,
        {
            "input": {
                "doctorId": "doctor",
                "startsAt": "2030-01-01T03:07:00Z",
                "reason": "A slot the doctor does not have",
            }
        },
        True,
    ),
    ("a syntax error", "patient", "query {", {}, False),
    ("a field that is not there", "patient", "{ nope }", {}, False),
    (
        "no operation of that name",
        "patient",
        "query A { me { id } }",
        {"operationName": "C"},
        False,
    ),
    (
        "two operations, none named",
        "patient",
        "query A { me { id } } query B { me { id } }",
        {},
        False,
    ),
    ("a subscription", "patient", "subscription { notificationAdded { id } }", {}, False),
    # the depth limiter raises on a fragment that is not there: strawberry masks it
    ("a fragment that is not there", "patient", "{ ...F }", {}, False),
    (
        "too many aliases",
        "patient",
        "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(16)) + " }",
        {},
        False,
    ),
    ("introspection", "patient", "{ __schema { queryType { name } } }", {}, True),
]
VARYING_HEADERS = {"date", "x-request-id", "content-length"}


def with_stand_ins(value: Any, stand_ins: dict[str, str]) -> Any:
    """`value` with each text that names a stand-in replaced by what it stands for."""
    if isinstance(value, dict):
        return {key: with_stand_ins(item, stand_ins) for key, item in value.items()}
    return stand_ins.get(value, value) if isinstance(value, str) else value


def the_schema(client: GraphQLClient) -> served_schema.HealthcareSchema:
    view = next(route.app for route in client.server.app.routes if route.path == "/graphql")
    schema = view.schema
    assert isinstance(schema, served_schema.HealthcareSchema)
    return schema


def samples(metric: Any) -> Counter[tuple[str, ...]]:
    return Counter(
        {
            (sample.name, *sorted(sample.labels.items())): sample.value
            for family in metric.collect()
            for sample in family.samples
            if sample.name.endswith(("_total", "_count"))
        }
    )


async def trail() -> list[models.AuditEvent]:
    await audit.written()
    return await models.AuditEvent.all()


def rows(events: list[models.AuditEvent]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (
            event.actor_id,
            event.actor_role,
            event.patient_id,
            event.entity,
            event.entity_id,
            event.action,
            tuple(event.fields_accessed or ()),
            event.allowed,
        )
        for event in events
    )


@pytest.mark.parametrize(
    ("name", "who", "query", "variables", "is_prepared"), REQUESTS, ids=[r[0] for r in REQUESTS]
)
async def test_an_operation_is_answered_as_strawberry_answers_it(
    client: GraphQLClient,
    patient: Persona,
    doctor: Persona,
    admin: Persona,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    who: str | None,
    query: str,
    variables: dict[str, Any],
    is_prepared: bool,
) -> None:
    # given
    appointment = await make_appointment(patient.user, doctor.user)
    stand_ins = {"appointment": str(appointment.id), "doctor": doctor.id}
    variables = with_stand_ins(variables, stand_ins)
    operation_name = variables.pop("operationName", None)
    persona = {"patient": patient, "doctor": doctor, "admin": admin}.get(who or "")
    headers = {"authorization": f"Bearer {persona.access_token}"} if persona else {}
    body = {"query": query, "variables": variables, "operationName": operation_name}
    schema = the_schema(client)
    assert schema.preparation is not None
    taken: list[bool] = []
    run = prepared.execute_prepared

    async def spied(*args: Any, **kwargs: Any) -> Any:
        result = await run(*args, **kwargs)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(served_schema, "execute_prepared", spied)
    caplog.set_level(logging.INFO, logger="healthcare.request")

    async def answer() -> tuple[Any, ...]:
        before = (samples(OPERATIONS), samples(DURATION), {e.id for e in await trail()})
        caplog.clear()
        response = await client.http.post("/graphql", json=body, headers=headers)
        written = [e for e in await trail() if e.id not in before[2]]
        [line] = [r for r in caplog.records if r.name == "healthcare.request"]
        return (
            response.status_code,
            sorted((k, v) for k, v in response.headers.items() if k not in VARYING_HEADERS),
            response.json(),
            rows(written),
            samples(OPERATIONS) - before[0],
            samples(DURATION) - before[1],
            getattr(line, "operation", None),
        )

    # when: prepared (if it is), then strawberry's
    lean = await answer()
    assert taken == [is_prepared]
    monkeypatch.setattr(schema, "preparation", None)
    general = await answer()
    assert taken == [is_prepared]  # the second went to strawberry
    # then
    assert lean == general
    if is_prepared:  # what was compared is there to compare
        assert lean[4], "the operation was counted"
        assert lean[6], "its name is on the log line"
    if name.startswith("a lookup by"):
        assert lean[3], "the reads were recorded"


async def test_a_bug_in_a_resolver_is_masked_and_counted_as_strawberry_does(
    client: GraphQLClient, patient: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    from healthcare.schema import users

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a secret the client must not see")

    monkeypatch.setattr(users, "find_visible", explode)
    schema = the_schema(client)
    body = {"query": "query U($id: ID!) { user(id: $id) { id } }", "variables": {"id": patient.id}}
    headers = {"authorization": f"Bearer {patient.access_token}"}

    async def answer() -> tuple[Any, ...]:
        before = samples(OPERATIONS)
        response = await client.http.post("/graphql", json=body, headers=headers)
        return response.status_code, response.json(), samples(OPERATIONS) - before

    lean = await answer()
    monkeypatch.setattr(schema, "preparation", None)
    general = await answer()
    assert lean == general
    assert lean[1]["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in str(lean[1])
    assert list(lean[2]) == [
        (
            "healthcare_graphql_operations_total",
            ("operation", "U"),
            ("outcome", "error"),
            ("type", "query"),
        )
    ]


def test_the_served_schema_is_prepared_from_its_own_extensions() -> None:
    settings = Settings(jwt_secret="x" * 32, max_query_tokens=1234)
    schema = build_schema(settings)
    preparation = schema.preparation
    assert preparation is not None
    assert preparation.documents is schema.documents
    assert preparation.max_tokens == 1234
    added = validation_rules(GraphQLLimits.from_settings(settings))
    assert preparation.rules[-len(added) :] == added
    assert tuple(type(e) for e in schema.get_extensions()) == prepared.MIRRORED
    # the reference schema (tests/test_execution_differential.py) is strawberry's alone
    assert build_schema(settings, reference=True).preparation is None


class Unknown(SchemaExtension):
    """An extension `execute_prepared` does not know of."""


def test_a_schema_with_an_extension_it_does_not_mirror_is_never_prepared() -> None:
    schema = build_schema(Settings(jwt_secret="x" * 32))
    assert prepared.Preparation.of(schema) is not None
    extensions = tuple(schema.extensions)
    schema.extensions = (*extensions, Unknown)
    assert prepared.Preparation.of(schema) is None
    schema.extensions = extensions[1:]  # one missing
    assert prepared.Preparation.of(schema) is None
    schema.extensions = (*extensions, extensions[0])  # one twice
    assert prepared.Preparation.of(schema) is None
    schema.extensions = (extensions[1], extensions[0], *extensions[2:])  # out of order
    assert prepared.Preparation.of(schema) is None


async def test_an_operation_outside_a_request_is_strawberrys() -> None:
    schema = build_schema(Settings(jwt_secret="x" * 32))
    assert schema.preparation is not None
    result = await prepared.execute_prepared(
        schema,
        schema.preparation,
        "{ __typename }",
        variable_values=None,
        context_value=None,  # not a request's
        root_value=None,
        operation_name=None,
        allowed_operation_types={OperationType.QUERY},
        operation_extensions=None,
    )
    assert result is None
    answered = await schema.execute("{ __typename }")
    assert (answered.data, answered.errors) == ({"__typename": "Query"}, None)


async def test_both_ways_validate_by_the_same_rules_and_share_the_cache(
    client: GraphQLClient, patient: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules a document is validated by are its cache entry's key: strawberry's
    (its own rules, then AddValidationRules') and the prepared path's are one key."""
    schema = the_schema(client)
    preparation = schema.preparation
    assert preparation is not None
    headers = {"authorization": f"Bearer {patient.access_token}"}
    strawberrys = {"query": "query StrawberryRules { me { id } }"}
    prepareds = {"query": "query PreparedRules { me { id } }"}
    await client.http.post("/graphql", json=prepareds, headers=headers)
    monkeypatch.setattr(schema, "preparation", None)
    await client.http.post("/graphql", json=strawberrys, headers=headers)
    for body in (prepareds, strawberrys):
        cached = schema.documents.document(body["query"], preparation.max_tokens)
        assert list(cached.errors) == [preparation.rules]


async def test_a_mutation_over_get_is_refused_as_strawberry_refuses_it(
    client: GraphQLClient, patient: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = the_schema(client)
    headers = {"authorization": f"Bearer {patient.access_token}"}
    mutation = f'mutation {{ cancelAppointment(id: "{NO_SUCH_ID}", reason: "x") {{ __typename }} }}'
    params = {"query": mutation}
    lean = await client.http.get("/graphql", params=params, headers=headers)
    monkeypatch.setattr(schema, "preparation", None)
    general = await client.http.get("/graphql", params=params, headers=headers)
    assert (lean.status_code, lean.text) == (general.status_code, general.text)
    assert lean.status_code >= 400
