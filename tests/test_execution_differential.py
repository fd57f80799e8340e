"""The served execution proved against graphql-core's own, generated from the schema.

The schema the server runs executes through `graphql.execution`'s shortcuts: plain fields
read per object (`LeanExecutionContext.execute_fields`), resolvers called directly
(`use_direct_resolvers`), async resolvers run to their end at once. The reference is the
same schema executed the way graphql-core and strawberry do it alone
(`build_schema(..., reference=True)`). Both run the same operations, one after the other,
on the same data, as the same viewer, through the same extensions (authentication, field
rules, the audit trail), and must give the same answer: the same data, the same errors
(message, path, code) and the same records on the audit trail.

The operations come from the schema, not from a list of cases, so that a field added
later is proved without anyone writing a case for it:

- for every root query field, one operation asking the whole tree below it: every field
  of every object type down to `MAX_DEPTH` levels, each type at most once on a path,
  every member of a union;
- for every field of every object type reachable from a root query, one operation asking
  that field alone, by the shortest path from a root (the others' `__typename` and `id`
  on the way), so that each field is also planned in a selection of its own;

each asked by every persona of the authorization matrix (anonymous, patients, doctors, an
administrator, a deactivated account, and users whose role changed), in the matrix's
world. A comparison of two empty answers proves nothing: every field must come back with
a value (not null, not an empty list) for at least one persona, but for the few named in
`NEVER_A_VALUE` with the reason.

Mutations and subscriptions are not run twice: a mutation changes what the second run
would see. What they return is made of the same object types, proved here.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from starlette.requests import Request
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from tortoise import connections

from healthcare import models
from healthcare.config import Settings
from healthcare.graphql.context import RequestScope
from healthcare.graphql.execution import HealthcareSchema, LeanExecutionContext, compiled
from healthcare.schema import build_schema
from healthcare.schema.chat import DEFAULT_HISTORY_PAGE
from healthcare.security import audit
from healthcare.security.auth import ANONYMOUS, authenticate
from healthcare.security.ratelimit import RateLimiter
from tests.conftest import LiveServer, empty_tables
from tests.test_audit_paths import email_patient_a, reply_and_history
from tests.test_authorization_matrix import PERSONAS, World, build_world

MAX_DEPTH = 5  # object levels below a root field in the whole-tree operations
# Both schemas' settings, beside the live server's: the server's limits would refuse the
# generated whole-tree documents (they are validation rules, the same for both sides), and
# ICE servers to hand out.
SETTINGS: dict[str, Any] = {
    "max_query_depth": 40,
    "max_query_tokens": 100_000,
    "max_query_chars": 1024 * 1024,
    "max_json_body_bytes": 2 * 1024 * 1024,
    "stun_urls": ("stun:stun.example.org:3478",),
    "turn_urls": ("turn:turn.example.org:3478",),
    "turn_secret": "a test secret, not a real one",
}

# The root query fields' required arguments, from the world. A root field with several
# entries is asked once with each (a lookup of a row with a live call and of one without).
ROOT_ARGUMENTS: dict[str, list[Callable[[World], dict[str, Any]]]] = {
    "user": [lambda w: {"id": w.id("patient_a")}, lambda w: {"id": w.id("doctor")}],
    "availableSlots": [
        lambda w: {
            "doctorId": w.id("doctor"),
            "fromDate": w.free_slot.date().isoformat(),
            "toDate": (w.free_slot.date() + timedelta(days=2)).isoformat(),
        }
    ],
    "doctorSchedule": [lambda w: {"doctorId": w.id("doctor")}],
    "appointment": [
        lambda w: {"id": str(w.visit.id)},
        lambda w: {"id": str(w.call_visit.id)},
    ],
    "consultation": [lambda w: {"id": str(w.consultation.id)}],
    "notification": [lambda w: {"id": str(w.notification.id)}],
    "conversation": [lambda w: {"id": str(w.conversation.id)}],
    "videoCall": [lambda w: {"id": str(w.past_call.id)}, lambda w: {"id": str(w.call.id)}],
    "iceServers": [lambda w: {"callId": str(w.call.id)}],
    "emailPreferences": [lambda w: {}, lambda w: {"token": "not a token"}],
}
# Fields no persona gets a value of in this world, and why.
NEVER_A_VALUE: dict[str, str] = {}


def required_arguments(field: GraphQLField) -> list[str]:
    return [
        name
        for name, argument in field.args.items()
        if is_non_null_type(argument.type) and argument.default_value is Undefined
    ]


def selection(type_: Any, seen: frozenset[str], depth: int) -> str:
    """Every field of `type_` (see the module's docstring), as a selection set."""
    if isinstance(type_, GraphQLUnionType):
        members = " ".join(
            f"... on {member.name} {selection(member, seen | {member.name}, depth)}"
            for member in type_.types
        )
        return f"{{ __typename {members} }}"
    parts = ["__typename"]
    for name, field in type_.fields.items():
        if required_arguments(field):
            continue
        named = get_named_type(field.type)
        if is_leaf_type(named):
            parts.append(name)
        elif named.name not in seen and depth < MAX_DEPTH:
            parts.append(f"{name} {selection(named, seen | {named.name}, depth + 1)}")
    return "{ " + " ".join(parts) + " }"


def operation(root_name: str, root: GraphQLField, variables: dict[str, Any], body: str) -> str:
    declared = ", ".join(f"${name}: {root.args[name].type}" for name in variables)
    arguments = ", ".join(f"{name}: ${name}" for name in variables)
    header = "query Differential" + (f"({declared})" if declared else "")
    call = root_name + (f"({arguments})" if arguments else "")
    return f"{header} {{ {call} {body} }}"


def naming(type_: Any) -> str:
    """What an object asked on the way to a field says of itself."""
    if isinstance(type_, GraphQLUnionType):
        return "__typename"
    return "__typename id" if "id" in type_.fields else "__typename"


# A step of a path: a field's name, or (a union's member) `... on Member`.
Step = tuple[str, Any]


def shortest_paths(schema: HealthcareSchema) -> dict[str, tuple[str, tuple[Step, ...]]]:
    """For each object type reachable from a root query field: the root field and the
    steps below it, fewest first (breadth first, root fields in the schema's order)."""
    query = schema.graphql_schema.query_type
    assert query is not None
    found: dict[str, tuple[str, tuple[Step, ...]]] = {}
    pending: deque[tuple[str, Any, tuple[Step, ...]]] = deque(
        (name, get_named_type(field.type), ()) for name, field in query.fields.items()
    )
    while pending:
        root_name, type_, steps = pending.popleft()
        if isinstance(type_, GraphQLUnionType):
            for member in type_.types:
                pending.append((root_name, member, (*steps, (f"... on {member.name}", member))))
            continue
        if not isinstance(type_, GraphQLObjectType) or type_.name in found:
            continue
        found[type_.name] = (root_name, steps)
        for name, field in type_.fields.items():
            named = get_named_type(field.type)
            if not required_arguments(field) and not is_leaf_type(named):
                pending.append((root_name, named, (*steps, (name, named))))
    return found


def path_selection(type_: Any, steps: tuple[Step, ...], last: str) -> str:
    """The selection set on `type_` that goes down `steps` (what each object on the way
    says of itself, then the next step) and at the end asks `last`."""
    if not steps:
        return "{ " + last + " }"
    (name, next_type), rest = steps[0], steps[1:]
    return "{ " + f"{naming(type_)} {name} {path_selection(next_type, rest, last)}" + " }"


def field_request(type_: GraphQLObjectType, name: str, field: GraphQLField) -> str:
    """Asking one field of `type_`, with what an object it returns says of itself."""
    named = get_named_type(field.type)
    if is_leaf_type(named):
        return f"{naming(type_)} {name}".strip()
    return f"{naming(type_)} {name} {{ {naming(named)} }}"


async def more_of_everything(world: World) -> None:
    """What the matrix's world lacks for every field to have a value for someone: what
    the audit paths' world adds (`reply_and_history`), a rescheduling, a page and more of
    chat, a notification about a visit, a profile picture, emails sent, failed and
    waiting, and reads on the audit trail (there before either run: `Trail` tells each
    run's own rows apart)."""
    await reply_and_history(world)
    patient, doctor = world.users["patient_a"], world.users["doctor"]
    await models.AppointmentChange.create(
        appointment=world.upcoming,
        actor=doctor,
        kind=models.AppointmentChangeKind.RESCHEDULED,
        from_status=models.AppointmentStatus.SCHEDULED,
        to_status=models.AppointmentStatus.SCHEDULED,
        previous_starts_at=world.upcoming.starts_at - timedelta(hours=1),
    )
    messages = 2 * DEFAULT_HISTORY_PAGE
    for seq in range(3, messages + 1):  # 1 and 2 are there
        await models.ChatMessage.create(
            conversation=world.conversation,
            seq=seq,
            sender=patient if seq % 2 else doctor,
            client_id=uuid.uuid4(),
            text=f"Message {seq}",
        )
    await models.Conversation.filter(id=world.conversation.id).update(last_seq=messages)
    await models.Notification.create(
        recipient=patient,
        seq=2,
        kind=models.NotificationKind.CONSULTATION_SIGNED,
        title="Your visit is documented",
        body="Dr Assigned signed the record of your visit.",
        appointment=world.visit,
        consultation=world.consultation,
    )
    await models.User.filter(id=patient.id).update(profile_picture="a-picture.png")
    now = datetime.now(UTC)
    emails: tuple[tuple[models.EmailStatus, dict[str, Any]], ...] = (
        (models.EmailStatus.SENT, {"sent_at": now, "attempts": 1}),
        (
            models.EmailStatus.FAILED,
            {"failed_at": now, "attempts": 5, "last_error": "550 mailbox unavailable"},
        ),
        # waiting a day: the test's email worker leaves it alone
        (models.EmailStatus.PENDING, {"not_before": now + timedelta(days=1)}),
    )
    for status, columns in emails:
        await email_patient_a(world, status, **columns)
    for entity, row in (
        (models.AuditEntity.APPOINTMENT, world.visit),
        (models.AuditEntity.CONSULTATION, world.consultation),
    ):
        await models.AuditEvent.create(
            actor_id=doctor.id,
            actor_role=doctor.role,
            patient_id=patient.id,
            entity=entity,
            entity_id=str(row.id),
            action=models.AuditAction.READ,
            fields_accessed=["id", "reason"],
            allowed=True,
            client_address="192.0.2.7",
            request_id="a-request",
        )


# ---- running both ----------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    data: Any  # as a client reads it
    errors: list[tuple[str, str, Any]]
    trail: list[tuple[Any, ...]]
    encoded: bytes  # the data as the server encodes it


def request_for(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "scheme": "http",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
    )


TRAIL_COLUMNS = (
    "actor_id",
    "actor_role",
    "patient_id",
    "entity",
    "entity_id",
    "action",
    "fields_accessed",
    "allowed",
)


# Root fields that show the trail: asked with the trail as the world left it.
SHOWING_THE_TRAIL = {"auditEvents", "myRecordAccess"}
MAX_ROWS_KEPT = 200  # each run's rows are told apart from all the earlier runs' by id


class Trail:
    """The audit trail: the rows each run wrote, and the trail put back as the world left
    it, where a run must start from it (the trail is append-only on PostgreSQL: emptied
    with TRUNCATE there, which its trigger lets by)."""

    def __init__(self, settings: Settings) -> None:
        self.empty = (
            'DELETE FROM "audit_events"' if settings.uses_sqlite else ('TRUNCATE "audit_events"')
        )
        self.baseline: list[dict[str, Any]] = []
        self.seen: set[uuid.UUID] = set()  # the baseline's rows and the runs' since

    async def keep(self) -> None:
        """Take the trail as it is now as the one to put back."""
        await audit.written()
        self.baseline = await models.AuditEvent.all().values()
        self.seen = self.baseline_ids()

    def baseline_ids(self) -> set[uuid.UUID]:
        return {row["id"] for row in self.baseline}

    async def new_rows(self) -> list[tuple[str, ...]]:
        """The rows written since the last call, without ids and instants."""
        await audit.written()
        rows = await models.AuditEvent.exclude(id__in=list(self.seen)).values("id", *TRAIL_COLUMNS)
        self.seen.update(row["id"] for row in rows)
        return sorted(tuple(str(row[column]) for column in TRAIL_COLUMNS) for row in rows)

    async def put_back(self) -> None:
        if len(self.seen) == len(self.baseline):
            return
        await connections.get("default").execute_script(self.empty)
        await models.AuditEvent.bulk_create([models.AuditEvent(**row) for row in self.baseline])
        self.seen = self.baseline_ids()


async def run(
    schema: HealthcareSchema,
    document: str,
    variables: dict[str, Any],
    scope: Callable[[], RequestScope],
    trail: Trail,
) -> Outcome:
    result = await schema.execute(document, variable_values=variables, context_value=scope())
    errors = sorted(
        (
            error.message,
            ".".join(map(str, error.path or ())),
            (error.extensions or {}).get("code"),
        )
        for error in result.errors or ()
    )
    encoded = orjson.dumps(result.data, default=compiled.fragment)  # as the server encodes it
    return Outcome(orjson.loads(encoded), errors, await trail.new_rows(), encoded)


class Differential:
    """The served schema and the reference, with the same settings, for one persona."""

    def __init__(self, live_server: LiveServer) -> None:
        settings = dataclasses.replace(live_server.settings, **SETTINGS)
        self.settings = settings
        self.served = build_schema(settings)
        self.reference = build_schema(settings, reference=True)
        self.rate_limiter = RateLimiter.from_settings(settings)
        self.trail = Trail(settings)

    async def scope_for(self, world: World, persona: str) -> Callable[[], RequestScope]:
        token = world.token(persona)
        authorization = f"Bearer {token}" if token else None
        viewer = await authenticate(authorization, self.settings) if token else ANONYMOUS

        def scope() -> RequestScope:
            return RequestScope(
                request=request_for(authorization),
                response=None,
                settings=self.settings,
                rate_limiter=self.rate_limiter,
                viewer=viewer,
            )

        return scope

    async def compare(
        self, label: str, operation: Operation, scope: Callable[[], RequestScope]
    ) -> Outcome:
        root, document, variables = operation
        shows_trail = root in SHOWING_THE_TRAIL
        if shows_trail or len(self.trail.seen) > MAX_ROWS_KEPT:
            await self.trail.put_back()
        reference = await run(self.reference, document, variables, scope, self.trail)
        if shows_trail:
            await self.trail.put_back()
        served = await run(self.served, document, variables, scope, self.trail)
        asked = f"{label}: {document[:300]}"
        assert served.errors == reference.errors, asked
        assert served.data == reference.data, asked
        assert served.trail == reference.trail, asked
        return served


# ---- what came back ---------------------------------------------------------------------


def note_values(schema: Any, type_: Any, value: Any, valued: set[str]) -> None:
    """Record every `Type.field` of `value` (an answer to a selection on `type_`) that
    holds a value."""
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            note_values(schema, type_, item, valued)
        return
    if isinstance(type_, GraphQLUnionType):
        type_ = schema.get_type(value.get("__typename"))
    if not isinstance(type_, GraphQLObjectType) or not isinstance(value, dict):
        return
    for key, item in value.items():
        if key == "__typename" or key not in type_.fields:
            continue
        if item is None or item == []:
            continue
        valued.add(f"{type_.name}.{key}")
        note_values(schema, get_named_type(type_.fields[key].type), item, valued)


# ---- the operations ----------------------------------------------------------------------


# The root field, the document, its variables.
Operation = tuple[str, str, dict[str, Any]]


def root_calls(
    world: World, schema: HealthcareSchema
) -> Iterator[tuple[str, GraphQLField, dict[str, Any]]]:
    """Every root query field, with each set of arguments it is asked with."""
    query = schema.graphql_schema.query_type
    assert query is not None
    for name, field in query.fields.items():
        for arguments in ROOT_ARGUMENTS.get(name, [lambda world: {}]):
            yield name, field, arguments(world)


def whole_trees(world: World, schema: HealthcareSchema) -> list[Operation]:
    operations = []
    for name, field, variables in root_calls(world, schema):
        named = get_named_type(field.type)
        body = selection(named, frozenset({named.name}), 0) if not is_leaf_type(named) else ""
        operations.append((name, operation(name, field, variables, body), variables))
    return operations


def single_fields(world: World, schema: HealthcareSchema) -> list[Operation]:
    query = schema.graphql_schema.query_type
    assert query is not None
    operations = []
    for type_name, (root_name, steps) in shortest_paths(schema).items():
        type_ = schema.graphql_schema.get_type(type_name)
        assert isinstance(type_, GraphQLObjectType)
        root = query.fields[root_name]
        variables = ROOT_ARGUMENTS.get(root_name, [lambda world: {}])[0](world)
        for name, field in type_.fields.items():
            if required_arguments(field):
                continue
            start = get_named_type(root.type)
            body = path_selection(start, steps, field_request(type_, name, field))
            operations.append((root_name, operation(root_name, root, variables, body), variables))
    return operations


# ---- the tests ---------------------------------------------------------------------------


def test_the_reference_is_graphql_cores_own_execution_and_the_served_one_is_not():
    settings = Settings(jwt_secret="x" * 48)
    reference = build_schema(settings, reference=True)
    served = build_schema(settings)
    assert reference.execution_context_class is StrawberryGraphQLCoreExecutionContext
    assert reference.direct_resolvers == []
    assert served.execution_context_class is LeanExecutionContext
    assert "Appointment.patient" in served.direct_resolvers


async def test_the_served_execution_answers_as_graphql_cores_own(live_server: LiveServer):
    differential = Differential(live_server)
    schema = differential.served.graphql_schema
    valued: set[str] = set()
    codes: set[str] = set()  # of the errors both gave
    for persona in PERSONAS:
        world = await build_world(live_server.settings, persona)
        await more_of_everything(world)
        scope = await differential.scope_for(world, persona)
        await differential.trail.keep()
        for asked in [
            *whole_trees(world, differential.served),
            *single_fields(world, differential.served),
        ]:
            outcome = await differential.compare(persona, asked, scope)
            note_values(schema, schema.query_type, outcome.data, valued)
            codes.update(code for _, _, code in outcome.errors)
        await empty_tables(live_server.settings)
    every_field = {
        f"{type_name}.{name}"
        for type_name in shortest_paths(differential.served)
        for name in schema.get_type(type_name).fields  # type: ignore[union-attr]
    }
    assert sorted(every_field - valued - set(NEVER_A_VALUE)) == []
    assert sorted(set(NEVER_A_VALUE) & valued) == []
    # refusals were compared too, not only answers
    assert {"UNAUTHENTICATED", "FORBIDDEN"} <= codes, codes
