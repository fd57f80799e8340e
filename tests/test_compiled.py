"""graphql.execution.compiled: root lists and lookups answered in one SQL statement,
proved against the executor, generated from the schema and its SQL declarations
(healthcare.schema.sql).

For every root list the schema declares, the operations are:

- the whole tree: every field of the Connection, of its edges and page, and of the node
  that has a column or a join declared, down through the joins;
- every such field alone, by its path from the root (what each object on the way says
  of itself: `__typename` and `id`);
- pages: the first two, then the next two after the first page's cursor, then one with a
  filter;

and for every root lookup, the whole tree and every field alone, of two rows, of one
nobody may see and of an id that is not one (both refused, on the trail). Each is asked
by every signed-in persona of the authorization matrix, in the world of the executor's
own differential test, by the served schema (compiled) and by the same schema without
the compiled path, one after the other. The answers must be the same bytes once encoded
as the server encodes them, the errors the same, and the audit trail's new rows the
same; each operation must have been compiled (a declaration that does not compile fails
here, rather than quietly running the old way), and none may have fallen back to the old
way. Every row rule on a declared field is also asked both ways, of every row. The
compiled path runs on PostgreSQL only: on SQLite everything runs as before, which the
rest of the suite proves.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from graphql import GraphQLObjectType, get_named_type, get_nullable_type, is_leaf_type

from healthcare import db, models
from healthcare.graphql.execution import HealthcareSchema, plans
from healthcare.graphql.execution import compiled as compiled_module
from healthcare.graphql.execution.compiled import SourceColumns
from healthcare.graphql.execution.compiled import logger as compiled_logger
from healthcare.graphql.execution.plans import STRAWBERRY_FIELD, operation_plans
from healthcare.graphql.pagination import cursor_of, decode_cursor, page_rows
from healthcare.schema import build_schema
from healthcare.schema.sql import COMPILED_SQL
from tests.conftest import LiveServer, configured_database_url, empty_tables
from tests.test_authorization_matrix import PERSONAS, World, build_world
from tests.test_execution_differential import (
    ROOT_ARGUMENTS,
    SETTINGS,
    Differential,
    more_of_everything,
    run,
)
from tests.test_load_ahead import (
    APPOINTMENTS,
    ROW_FIELDS,
    SHAPES,
    a_doctors_day,
    nodes_of,
    table_read,
)
from tests.test_load_ahead import run as run_over_http
from tests.wsclient import TRANSPORT_WS, Subscriber

pytestmark = pytest.mark.skipif(
    not (configured_database_url() or "").startswith("postgres"),
    reason="the compiled path runs on PostgreSQL only; on SQLite every list runs as before",
)

MAX_DEPTH = 3  # joins below a node


@pytest.fixture(autouse=True)
def nothing_ran_the_old_way() -> Iterator[None]:
    """A compiled statement that fails is answered the old way (the same answer) and
    logged: here, that is a failure. (A handler of the module's own logger: the live
    server's logging set-up replaces the root logger's handlers, pytest's among them.)"""
    seen = RecordsSeen(level=logging.WARNING)
    compiled_logger.addHandler(seen)
    try:
        yield
    finally:
        compiled_logger.removeHandler(seen)
    assert [record.getMessage() for record in seen.records] == []


class RecordsSeen(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def declared_fields(object_type: GraphQLObjectType) -> tuple[list[str], dict[str, Any]]:
    """The leaf fields of `object_type` its source has a column for, and the object
    fields it has a join for (by GraphQL name, with their type)."""
    definition = next(
        each
        for each in COMPILED_SQL.sources
        if object_type.name == each.cls.__strawberry_definition__.name  # type: ignore[attr-defined]
    )
    leaves, joined = [], {}
    for name, field in object_type.fields.items():
        strawberry_field = (field.extensions or {}).get(STRAWBERRY_FIELD)
        if strawberry_field is None or field.args:
            continue
        python_name = strawberry_field.python_name
        named = get_named_type(field.type)
        if is_leaf_type(named) and strawberry_field.base_resolver is None:
            if definition.column(python_name) is not None:
                leaves.append(name)
        elif python_name in definition.relations:
            joined[name] = named
    return leaves, joined


def whole(object_type: GraphQLObjectType, depth: int = 0) -> str:
    leaves, joined = declared_fields(object_type)
    parts = ["__typename", *leaves]
    if depth < MAX_DEPTH:
        parts += [f"{name} {whole(named, depth + 1)}" for name, named in joined.items()]
    return "{ " + " ".join(parts) + " }"


def each_field(object_type: GraphQLObjectType, depth: int = 0) -> list[str]:
    """A selection of each declared field alone, on `object_type`, by its path."""
    leaves, joined = declared_fields(object_type)
    naming = "__typename id"
    selections = [f"{{ {naming} {name} }}" for name in leaves if name != "id"]
    if depth < MAX_DEPTH:
        for name, named in joined.items():
            selections += [
                f"{{ {naming} {name} {below} }}" for below in each_field(named, depth + 1)
            ]
    return selections


def connection_of(schema: HealthcareSchema, root: str) -> tuple[Any, GraphQLObjectType]:
    query = schema.graphql_schema.query_type
    assert query is not None
    connection = get_nullable_type(query.fields[root].type)
    edge = get_named_type(connection.fields["edges"].type)
    node = get_named_type(edge.fields["node"].type)
    return connection, node


def operations(schema: HealthcareSchema, world: World) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for root in COMPILED_SQL.root_lists:
        _, node = connection_of(schema, root)
        tree = whole(node)
        found.append(
            (
                f"query Whole {{ {root} {{ __typename "
                f"edges {{ __typename cursor node {tree} }} nodes {tree} "
                f"pageInfo {{ __typename hasNextPage endCursor }} }} }}",
                {},
            )
        )
        found += [
            (f"query One {{ {root} {{ edges {{ node {selection} }} }} }}", {})
            for selection in each_field(node)
        ]
        # and: the tree in a named fragment, beside an inline one and an alias of a join
        joined = next(iter(declared_fields(node)[1]))
        found.append(
            (
                f"query Fragments {{ {root} {{ edges {{ node {{ ...Tree ... on {node.name} "
                f"{{ id again: {joined} {{ id }} }} }} }} }} }} "
                f"fragment Tree on {node.name} {tree}",
                {},
            )
        )
        page = "edges { cursor node { id } } pageInfo { hasNextPage endCursor }"
        found.append(
            (f"query Page($after: String) {{ {root}(first: 2, after: $after) {{ {page} }} }}", {})
        )
    found.append(
        (
            "query Filtered($status: AppointmentStatus) { appointments(status: $status) "
            "{ nodes { id status reason } } }",
            {"status": "SCHEDULED"},
        )
    )
    query = schema.graphql_schema.query_type
    assert query is not None
    for root in COMPILED_SQL.root_lookups:
        node = get_nullable_type(query.fields[root].type)
        ids = [arguments(world)["id"] for arguments in ROOT_ARGUMENTS[root]]
        # and: one nobody may see, and one that is not an id (both refused)
        ids += [str(uuid.uuid4()), "not an id"]
        selections = [whole(node), *each_field(node)]
        found += [
            (f"query Lookup($id: ID!) {{ {root}(id: $id) {selection} }}", {"id": row_id})
            for selection in selections
            for row_id in ids
        ]
    return found


async def test_every_declared_list_answers_as_the_executor(live_server: LiveServer):
    differential = Differential(live_server)
    settings = dataclasses.replace(live_server.settings, **SETTINGS)
    compiled = differential.served
    executor = build_schema(settings)
    executor.compiled_sql = None
    compared = nexts = nulls = 0
    for persona in PERSONAS:
        if persona == "anonymous":
            continue
        world = await build_world(live_server.settings, persona)
        await more_of_everything(world)
        scope = await differential.scope_for(world, persona)
        await differential.trail.keep()
        documents = operations(compiled, world)
        for document, variables in documents:
            await differential.trail.put_back()
            expected = await run(executor, document, variables, scope, differential.trail)
            got = await run(compiled, document, variables, scope, differential.trail)
            asked = f"{persona}: {document}"
            assert got.errors == expected.errors, asked
            assert got.encoded == expected.encoded, asked
            assert got.trail == expected.trail, asked
            assert took_the_compiled_path(compiled, document, world.users[persona].role), asked
            compared += 1
            nulls += None in (got.data or {}).values()
            for page in (got.data or {}).values():
                cursor = (page or {}).get("pageInfo", {}).get("endCursor")
                if "after" not in document or cursor is None:
                    continue
                # and: the next page, after this one's end
                after = {"after": cursor}
                expected = await run(executor, document, after, scope, differential.trail)
                got = await run(compiled, document, after, scope, differential.trail)
                assert (got.errors, got.encoded) == (expected.errors, expected.encoded), asked
                assert got.trail == expected.trail, asked
                nexts += 1
        await empty_tables(live_server.settings)
    assert compared == (len(PERSONAS) - 1) * len(documents)
    assert nexts > 0  # later pages were compared
    assert nulls > 0  # and lookups answered null


def took_the_compiled_path(schema: HealthcareSchema, document: str, role: models.Role) -> bool:
    """Whether the cached document's operation has its root fields compiled for `role`."""
    (cached,) = [
        entry.document for (text, _), entry in schema.documents._entries.items() if text == document
    ]
    operation = cached.definitions[0]
    plans = operation_plans(operation, {})  # type: ignore[arg-type]
    _, roots = plans.compiled.get((schema.graphql_schema, role), (None, None))
    return roots is not None


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
async def test_a_doctors_list_over_http_is_the_session_check_and_one_statement_for_5_or_50(
    client, doctor, caplog, shape
):
    # given: 52 appointments of 10 patients taking turns, every 7th one documented
    appointments, people, consultations = await a_doctors_day(client, doctor, 52, 10)
    names = {str(person.id): person.first_name for person in people}
    query = APPOINTMENTS % (shape % ROW_FIELDS)
    for first in (5, 50):
        # when
        data, statements = await run_over_http(client, query, {"first": first}, doctor, caplog)
        # then: every row has its own patient, and its consultation when there is one
        rows = nodes_of(data["appointments"])
        assert [row["id"] for row in rows] == [str(a.id) for a in appointments[:first]]
        for row, appointment in zip(rows, appointments, strict=False):
            patient_id = str(appointment.patient_id)
            assert row["patient"] == {"id": patient_id, "firstName": names[patient_id]}
            assert row["consultation"] == (
                dict(zip(("id", "treatmentPlan"), consultations[row["id"]], strict=True))
                if row["id"] in consultations
                else None
            )
        assert data["appointments"]["pageInfo"] == {"hasNextPage": True}
        # and: the session check, then one statement, whatever the page's size
        assert len(statements) == 2, statements
        assert table_read(statements[0]) == "auth_sessions", statements
        assert 'FROM "appointments"' in statements[1], statements


async def test_a_list_over_a_websocket_is_the_list_over_http(
    live_server: LiveServer, client, doctor
):
    """(graphql-transport-ws: the legacy protocol carries subscriptions only.)"""
    # given: a doctor's appointments, one documented
    await a_doctors_day(client, doctor, 6, 2, documented_every=3)
    query = APPOINTMENTS % (SHAPES["edges"] % ROW_FIELDS)
    over_http = await client.execute(query, {"first": 5}, as_=doctor)
    # when: the same query over a WebSocket
    socket = await Subscriber.open(live_server, doctor, TRANSPORT_WS)
    try:
        await socket.subscribe(query, {"first": 5})
        over_socket = await socket.next()
    finally:
        await socket.close()
    # then: the same answer
    assert over_socket == over_http
    assert len(over_http["appointments"]["edges"]) == 5


async def test_every_row_rule_of_a_declared_field_says_in_sql_what_it_says_in_python(
    live_server: LiveServer,
):
    """Each `RowRule` on a field of a declared source, asked both ways of every row of its
    model, by every persona of the matrix (role changes included): `allows` on the object
    the executor would hold, and its SQL form on the row in PostgreSQL."""
    schema = build_schema(live_server.settings)
    viewers: dict[str, models.User] = {}
    for persona in PERSONAS[1:]:
        world = await build_world(live_server.settings, persona)
        viewers.update({f"{persona}:{name}": user for name, user in world.users.items()})
    asked = allowed = 0
    for source in COMPILED_SQL.sources:
        object_type = schema.graphql_schema.get_type(source.cls.__strawberry_definition__.name)  # type: ignore[attr-defined]
        assert isinstance(object_type, GraphQLObjectType)
        rows = await source.model.all()
        assert rows, source.model.__name__
        for name, field in object_type.fields.items():
            rules = plans.row_rules(field.extensions[STRAWBERRY_FIELD], with_viewer=True) or ()
            for rule in rules:
                for viewer in viewers.values():
                    # written for a user of the viewer's role, whose id is someone else's:
                    # a rule may use the viewer's id only through the placeholder
                    as_role = models.User.with_id_and_role(uuid.uuid4(), viewer.role)
                    condition = rule.sql(as_role, SourceColumns(source, "t"), "$2")
                    sql = f"SELECT {condition} AS allowed FROM {source.table} AS t WHERE t.id = $1"
                    for row in rows:
                        in_python = rule.allows(viewer, source.cls.from_model(row))  # type: ignore[attr-defined]
                        values = (row.pk, viewer.id) if "$2" in condition else (row.pk,)
                        in_sql = await db.fetch_one(sql, *values)
                        assert in_sql == {"allowed": in_python}, (name, type(rule).__name__)
                        asked += 1
                        allowed += in_python
    assert asked > 500
    assert 0 < allowed < asked  # both answers were seen


@pytest.mark.parametrize("role", list(models.Role))
async def test_a_lists_page_statement_from_its_template_is_the_one_the_resolver_writes(
    live_server: LiveServer, role: models.Role
):
    """Without filters, a page's statement comes from a template written once per role
    (`compiled.page_template`): for other viewers, page sizes and cursors, it must be the
    statement `page_rows` writes for them, text and values."""
    for name, root in COMPILED_SQL.root_lists.items():
        source = COMPILED_SQL.source_of(root.node)
        assert source is not None, name
        for after in (None, cursor_of(datetime(2026, 5, 6, 7, 8, 9, 123, UTC), uuid.uuid4())):
            template = compiled_module.page_template(
                root, source.model, role, after is not None, db.dialect()
            )
            assert template is not None, (name, role)
            for first in (1, 20, 100):
                viewer = models.User.with_id_and_role(uuid.uuid4(), role)
                key = decode_cursor(after) if after is not None else None
                bound = template.statement((viewer.id, first + 1, *(key or ())))
                written = db.statement(page_rows(root.rows(viewer), first, after, root.sort_field))
                assert (bound.sql, bound.values) == (written.sql, written.values), (name, role)
