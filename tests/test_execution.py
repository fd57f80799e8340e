"""What the API relies on in strawberry's and graphql-core's execution, pinned: an upgrade
that changes it fails here, by name, rather than somewhere downstream."""

import asyncio
import contextlib
import contextvars
import enum
import inspect
import json
import types
from collections.abc import AsyncGenerator, Iterator, Sized
from typing import Any

import pytest
import strawberry
from graphql import GraphQLResolveInfo, GraphQLSchema, specified_rules
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
    validate_document,
)

from healthcare.config import Settings
from healthcare.graphql.execution import LeanExecutionContext, lean, plans, raw_info
from healthcare.graphql.execution.documents import CachedDocuments, DocumentCache
from healthcare.graphql.execution.hooks import LeanExtensionsRunner
from healthcare.graphql.execution.served_schema import HealthcareSchema
from healthcare.schema import build_schema


def test_graphql_core_asks_is_type_of_for_every_object_it_completes_with_the_fields_info():
    """audit.audited records reads in a type's is_type_of: it must be called once per
    object returned, by any field, lists included, with that field's info."""
    seen: list[tuple[str, str]] = []

    @strawberry.type
    class Leaf:
        id: str

        @staticmethod
        def is_type_of(obj: object, info: GraphQLResolveInfo) -> bool:
            seen.append((getattr(obj, "id", "?"), info.field_name))
            return isinstance(obj, Leaf)

    @strawberry.type
    class Query:
        @strawberry.field
        def one(self) -> Leaf:
            return Leaf(id="a")

        @strawberry.field
        def many(self) -> list[Leaf]:
            return [Leaf(id="b"), Leaf(id="c")]

        @strawberry.field
        async def later(self) -> Leaf | None:
            await asyncio.sleep(0)
            return Leaf(id="d")

    schema = strawberry.Schema(query=Query)
    result = asyncio.run(schema.execute("{ one { id } many { id } later { id } }"))
    assert result.errors is None
    assert sorted(seen) == [("a", "one"), ("b", "many"), ("c", "many"), ("d", "later")]


# ---- what graphql/execution/ relies on ----------------------------------------------------


def test_graphql_core_gives_its_execution_context_async_helpers_bound_to_itself():
    """LeanExecutionContext replaces them by weak references: they must exist, be the
    context's own methods, and be made of these two."""
    from graphql import parse
    from graphql.type.definition import GraphQLResolveInfoHelpers

    @strawberry.type
    class Query:
        hello: str = "hi"

    schema = strawberry.Schema(query=Query)
    context = StrawberryGraphQLCoreExecutionContext.build(schema._schema, parse("{ hello }"))
    assert isinstance(context, StrawberryGraphQLCoreExecutionContext), context  # not errors
    helpers = context.async_helpers
    assert isinstance(helpers, GraphQLResolveInfoHelpers)
    gather, track = helpers.gather, helpers.track
    assert isinstance(gather, types.MethodType) and isinstance(track, types.MethodType)
    assert gather.__self__ is context and gather.__func__.__name__ == "gather_async_work"
    assert track.__self__ is context and track.__func__.__name__ == "track_async_work"


def test_strawberry_hands_the_operations_context_to_graphql_core_after_on_operation():
    """OperationScope replaces `execution_context.context` in `on_operation`; resolvers must
    then see the replacement."""

    class Replace(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            self.execution_context.context = "replaced"
            yield

    @strawberry.type
    class Query:
        @strawberry.field
        def seen(self, info: strawberry.Info) -> str:
            return str(info.context)

    schema = strawberry.Schema(query=Query, extensions=[Replace])
    result = asyncio.run(schema.execute("{ seen }", context_value="original"))
    assert result.data == {"seen": "replaced"}


STAGES = ("operation", "parsing", "validation", "executing")


def test_our_extensions_runner_finds_the_hooks_strawberrys_finds_for_every_stage():
    # given: the served schema's extensions, as strawberry builds them for an operation
    schema = build_schema(Settings())
    context = schema._create_execution_context(
        query="{ me { id } }",
        allowed_operation_types=DEFAULT_ALLOWED_OPERATION_TYPES,
        variable_values=None,
        context_value=None,
        root_value=None,
        operation_name=None,
        operation_extensions=None,
    )
    extensions = schema.get_extensions()
    # when
    ours = schema.create_extensions_runner(context, extensions)
    theirs = SchemaExtensionsRunner(execution_context=context, extensions=extensions)
    # then: the same extensions have a hook at each stage, sync or async alike
    assert isinstance(ours, LeanExtensionsRunner)
    found = 0
    for stage in STAGES:
        mine = [(hook.extension, hook.is_async) for hook in getattr(ours, stage)().hooks]
        strawberrys = [(hook.extension, hook.is_async) for hook in getattr(theirs, stage)().hooks]
        assert mine == strawberrys, stage
        found += len(mine)
    assert found >= len(extensions)  # every extension has a hook somewhere


def test_a_hook_found_once_runs_on_its_own_extension_each_operation():
    # given: an extension of each kind of hook, and two operations
    entered: list[tuple[str, SchemaExtension]] = []  # the instances kept: ids not reused

    class Counted(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            entered.append(("sync", self))
            yield
            entered.append(("sync done", self))

        async def on_execute(self) -> AsyncGenerator[None, None]:
            entered.append(("async", self))
            yield

    @strawberry.type
    class Query:
        @strawberry.field
        def ok(self) -> bool:
            return True

    schema = HealthcareSchema(
        query=Query,
        extensions=[Counted],
        max_chars=1000,
        suggestions=False,
        documents=DocumentCache(),
    )
    # when
    for _ in range(2):
        result = asyncio.run(schema.execute("{ ok }"))
        assert result.data == {"ok": True}
    # then: each operation's own instance, each hook entered and left
    kinds = [kind for kind, _ in entered]
    assert kinds == ["sync", "async", "sync done"] * 2
    instances = [extension for _, extension in entered]
    assert instances[0] is instances[1] is instances[2]
    assert instances[3] is instances[4] is instances[5]
    assert instances[0] is not instances[3]


def test_strawberry_passes_errors_of_the_request_to_process_errors():
    """HealthcareSchema labels errors (codes, no echoed values) in `_process_errors`."""
    schema = build_schema(Settings())
    result = asyncio.run(schema.execute("{ me "))
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "GRAPHQL_PARSE_FAILED"}


def test_strawberry_keeps_graphql_cores_schema_and_info_where_execution_reads_them():
    schema = build_schema(Settings())
    assert isinstance(schema.graphql_schema, GraphQLSchema)
    seen: list[object] = []

    @strawberry.type
    class Query:
        @strawberry.field
        def probe(self, info: strawberry.Info) -> int:
            seen.append(raw_info(info))
            return 1

    asyncio.run(strawberry.Schema(query=Query).execute("{ probe }"))
    # graphql-core's resolve info, or strawberry's own named tuple of the same fields: what
    # graphql.auditing reads of it
    for name in ("field_nodes", "fragments", "variable_values", "context"):
        assert hasattr(seen[0], name), name


def test_strawberrys_validate_document_takes_schema_document_and_rules():
    from graphql import parse

    schema = build_schema(Settings()).graphql_schema
    errors = validate_document(schema, parse("{ nope }"), tuple(specified_rules))
    assert [error.message for error in errors] == ["Cannot query field 'nope' on type 'Query'."]


def test_both_websocket_protocols_run_operations_through_schema_stream():
    """HealthcareSchema.stream refuses oversized documents for both protocols."""
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
        BaseGraphQLTransportWSHandler,
    )
    from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

    assert "self.schema.stream(" in inspect.getsource(BaseGraphQLTransportWSHandler.run_operation)
    assert "self.schema.subscribe(" in inspect.getsource(BaseGraphQLWSHandler.handle_async_results)
    assert "self.stream(" in inspect.getsource(strawberry.Schema.subscribe)


def lean_schema(query: type) -> strawberry.Schema:
    return strawberry.Schema(query=query, execution_context_class=LeanExecutionContext)


def nested(item_type: type) -> strawberry.Schema:
    """A schema whose root field `item` returns one `item_type`: its fields are nested
    ones, the ones LeanExecutionContext steps."""

    @strawberry.type
    class Query:
        @strawberry.field
        def item(self) -> item_type:  # type: ignore[valid-type]
            return item_type()

    return lean_schema(Query)


def fields_noting_their_task(tasks: list[object]) -> type:
    """A type with two async fields, `first` and `second`, that note the task they run in
    and do not wait."""

    @strawberry.type
    class TwoFields:
        @strawberry.field
        async def first(self) -> int:
            tasks.append(asyncio.current_task())
            return 1

        @strawberry.field
        async def second(self) -> int:
            tasks.append(asyncio.current_task())
            return 2

    return TwoFields


def test_an_async_resolver_that_does_not_wait_runs_at_once_in_the_operations_task():
    """LeanExecutionContext steps the coroutine graphql-core hands `complete_awaitable_value`
    (from `execute_field`); without it, two async fields run in tasks of their own."""
    tasks: list[object] = []

    async def run() -> tuple[object, object]:
        result = await nested(fields_noting_their_task(tasks)).execute("{ item { first second } }")
        return result.data, asyncio.current_task()

    data, operation_task = asyncio.run(run())
    assert data == {"item": {"first": 1, "second": 2}}
    assert tasks == [operation_task, operation_task]


def test_a_root_field_is_left_to_graphql_core():
    """Root fields (mutations hold transactions and locks) are not stepped: two async root
    fields of a query run in tasks of their own, as graphql-core runs them."""
    tasks: list[object] = []

    async def run() -> object:
        result = await lean_schema(fields_noting_their_task(tasks)).execute("{ first second }")
        assert result.data == {"first": 1, "second": 2}
        return asyncio.current_task()

    operation_task = asyncio.run(run())
    assert len(set(tasks)) == 2
    assert operation_task not in tasks


SET_BY_A_RESOLVER: contextvars.ContextVar[str] = contextvars.ContextVar("set_by_a_resolver")


def test_what_a_stepped_resolver_sets_in_a_context_variable_stays_its_own():
    """As in a task of its own: each resolver sees what it set, across its awaits, and
    neither its siblings nor the operation see it. (A step run in the operation's context
    leaked what the first step set; a reset after an await would fail in a context other
    than the one the value was set in.)"""
    seen: dict[str, str] = {}

    @strawberry.type
    class Item:
        @strawberry.field
        async def sets(self) -> str:
            token = SET_BY_A_RESOLVER.set("sets")
            await asyncio.sleep(0)
            seen["sets, after its await"] = SET_BY_A_RESOLVER.get("unset")
            SET_BY_A_RESOLVER.reset(token)  # a ValueError in another context
            return "done"

        @strawberry.field
        async def sibling(self) -> str:
            seen["sibling"] = SET_BY_A_RESOLVER.get("unset")
            await asyncio.sleep(0)
            seen["sibling, after its await"] = SET_BY_A_RESOLVER.get("unset")
            return "done"

        @strawberry.field
        async def async_sets_without_waiting(self) -> str:
            SET_BY_A_RESOLVER.set("async, sets without waiting")
            return "done"

    async def run() -> None:
        text = "{ item { asyncSetsWithoutWaiting sets sibling } }"
        result = await nested(Item).execute(text)
        assert result.errors is None, result.errors
        seen["the operation"] = SET_BY_A_RESOLVER.get("unset")

    asyncio.run(run())
    assert seen == {
        "sets, after its await": "sets",
        "sibling": "unset",
        "sibling, after its await": "unset",
        "the operation": "unset",
    }


def test_an_async_resolver_that_waits_goes_on_and_its_errors_are_the_fields():
    @strawberry.type
    class Item:
        @strawberry.field
        async def waits(self) -> int:
            await asyncio.sleep(0)
            return 3

        @strawberry.field
        async def fails_after_waiting(self) -> int | None:
            await asyncio.sleep(0)
            raise ValueError("after")

        @strawberry.field
        async def fails_at_once(self) -> int | None:
            raise ValueError("at once")

    text = "{ item { waits failsAfterWaiting failsAtOnce } }"
    result = asyncio.run(nested(Item).execute(text))
    assert result.data == {"item": {"waits": 3, "failsAfterWaiting": None, "failsAtOnce": None}}
    assert sorted(error.message for error in result.errors or []) == ["after", "at once"]


def test_a_waiting_resolver_can_be_cancelled_from_where_it_waits():
    started, cancelled = asyncio.Event(), []

    @strawberry.type
    class Item:
        @strawberry.field
        async def slow(self) -> int:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return 1

    async def run() -> None:
        operation = asyncio.ensure_future(nested(Item).execute("{ item { slow } }"))
        await started.wait()
        operation.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await operation

    asyncio.run(run())
    assert cancelled == [True]


# ---- a subscription's events: a subfields memo of their own -------------------------------


def test_graphql_cores_per_event_executor_shares_the_subscriptions_subfields_memo():
    """What LeanExecutionContext.build_per_event_executor undoes: graphql-core memoizes
    collected subfields in `_relevant_sub_fields`, a dict keyed by (type, id of the field
    list), and a subscription's per-event copy shares that dict with the subscription, so
    each event's entries stayed until it ended. Should graphql-core give each event its
    own memo, this fails: the override may then go."""
    from graphql import parse

    @strawberry.type
    class Leaf:
        id: str

    @strawberry.type
    class Query:
        hello: str = "hi"

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def leaf(self) -> AsyncGenerator[Leaf, None]:
            yield Leaf(id="a")

    schema = strawberry.Schema(query=Query, subscription=Subscription)
    document = parse("subscription { leaf { id } }")
    context = StrawberryGraphQLCoreExecutionContext.build(schema._schema, document)
    assert isinstance(context, StrawberryGraphQLCoreExecutionContext), context  # not errors
    assert context._relevant_sub_fields == {}
    event = context.build_per_event_executor(Leaf(id="b"))  # what the stream yielded
    assert event is not context and event.root_value == Leaf(id="b")
    assert event._relevant_sub_fields is context._relevant_sub_fields  # shared
    result = event.execute_operation()
    assert not inspect.isawaitable(result)
    assert result.data == {"leaf": {"id": "b"}}, result  # type: ignore[union-attr]
    # what `collect_subfields` memoized, keyed as described
    ((key, (fields, _collected)),) = context._relevant_sub_fields.items()
    assert key == (schema._schema.get_type("Leaf"), id(fields))


def test_each_event_of_a_subscription_collects_subfields_into_a_memo_of_its_own():
    """graphql-core builds every event's executor with `build_per_event_executor` (from
    `map_source_to_response_event`) and collects into `self._relevant_sub_fields`: each
    event's memo is filled (its list's rows share one entry), the subscription's stays
    empty, and nothing the subscription's executor holds grows from event to event."""
    built: list[tuple[LeanExecutionContext, LeanExecutionContext]] = []
    held_by_subscription: list[dict[str, int]] = []

    class Recording(LeanExecutionContext):
        def build_per_event_executor(self, payload: object) -> LeanExecutionContext:
            event = super().build_per_event_executor(payload)
            built.append((self, event))
            held_by_subscription.append(
                {
                    name: len(value)
                    for name, value in vars(self).items()
                    if isinstance(value, Sized) and not isinstance(value, str)
                }
            )
            return event

    @strawberry.type
    class Leaf:
        id: str

    @strawberry.type
    class Tick:
        n: int

        @strawberry.field
        def leaves(self) -> list[Leaf]:
            return [Leaf(id=f"{self.n}.{i}") for i in range(3)]

    @strawberry.type
    class Query:
        hello: str = "hi"

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def tick(self) -> AsyncGenerator[Tick, None]:
            for n in range(EVENTS):
                yield Tick(n=n)

    EVENTS = 50
    schema = strawberry.Schema(
        query=Query, subscription=Subscription, execution_context_class=Recording
    )

    async def run() -> list[object]:
        stream = await schema.subscribe("subscription { tick { n leaves { id } } }")
        assert not isinstance(stream, strawberry.types.ExecutionResult), stream
        return [result.data async for result in stream]

    results = asyncio.run(run())
    assert results[-1] == {"tick": {"n": 49, "leaves": [{"id": f"49.{i}"} for i in range(3)]}}
    assert len(results) == len(built) == EVENTS
    subscription = built[0][0]
    assert all(parent is subscription for parent, _ in built)
    assert subscription._relevant_sub_fields == {}
    memos = [event._relevant_sub_fields for _, event in built]
    assert len({id(memo) for memo in memos}) == EVENTS  # each its own (all still alive)
    # Tick's subfields, and Leaf's once for the list's three rows
    assert [len(memo) for memo in memos] == [2] * EVENTS
    # the objects' plans too (Tick's, with `n` plain and `leaves` not; Leaf's, once for
    # the three rows; the root's fields go graphql-core's way, unplanned): in each event's
    # memo, none in the subscription's
    assert subscription._object_plans == {}
    plans = [[plan for _, plan in event._object_plans.values()] for _, event in built]
    assert [len(p) for p in plans] == [2] * EVENTS
    assert [sorted(len(plan.plain) for plan in p if plan) for p in plans] == [[1, 1]] * EVENTS
    assert held_by_subscription[-1] == held_by_subscription[0]


# ---- plain fields: what LeanExecutionContext.execute_field relies on, and what it does ------


def test_strawberry_marks_the_fields_it_resolves_as_plain_attributes():
    """`_plain_field` reads a field as its source's attribute when strawberry would: a
    StrawberryField behind the GraphQL field's `strawberry-definition` extension, with
    `is_basic_field` (no resolver, no extension such as a permission) and the default
    resolver `getattr`; or one whose silent permission's rules it applies itself."""
    from healthcare.graphql.permissions import IsAuthenticated, allow

    @strawberry.type
    class Row:
        plain: int
        guarded: int | None = strawberry.field(extensions=allow(IsAuthenticated(), silent=True))

        @strawberry.field
        def computed(self) -> int:
            return 1

    @strawberry.type
    class Query:
        row: Row

    fields = lean_schema(Query)._schema.get_type("Row").fields  # type: ignore[union-attr]
    definitions = {name: f.extensions["strawberry-definition"] for name, f in fields.items()}
    assert definitions["plain"].is_basic_field
    assert definitions["plain"].default_resolver is getattr
    assert definitions["plain"].python_name == "plain"
    assert not definitions["guarded"].is_basic_field
    assert not definitions["computed"].is_basic_field
    # what `_row_rules` reads of a permission extension
    (extension,) = definitions["guarded"].extensions
    assert extension.fail_silently is True and extension.return_empty_list is False
    assert [type(rule) for rule in extension.permissions] == [IsAuthenticated]


def test_graphql_core_gives_execute_field_what_the_plain_path_reads():
    """A field's details carry `fragment_variable_values`; the middleware manager says
    with `_middleware_resolvers` whether any extension wraps resolvers (None: none does);
    a leaf type coerces with `coerce_output_value`; execute_field takes (parent type,
    source, details, path, position context)."""
    from graphql import GraphQLInt
    from graphql.execution.collect_fields import FieldDetails
    from graphql.execution.middleware import MiddlewareManager

    assert "fragment_variable_values" in FieldDetails._fields
    assert MiddlewareManager()._middleware_resolvers is None
    assert GraphQLInt.coerce_output_value(3) == 3
    parameters = list(
        inspect.signature(StrawberryGraphQLCoreExecutionContext.execute_field).parameters
    )
    assert parameters == [
        "self",
        "parent_type",
        "source",
        "field_details_list",
        "path",
        "position_context",
    ]


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"


def plain_rows_schema(
    rows: list[dict[str, Any]], *, counting: list[str] | None = None
) -> strawberry.Schema:
    """`rows { id name colour note }`: four plain fields, and `loud` with a resolver.
    `counting` notes the field of each resolve info graphql-core builds."""

    @strawberry.type
    class Row:
        id: strawberry.ID
        name: str
        colour: Colour
        note: str | None

        @strawberry.field
        def loud(self) -> str:
            return self.name.upper()

    class Counting(LeanExecutionContext):
        def build_resolve_info(self, field_def, field_nodes, parent_type, path):
            if counting is not None:
                counting.append(field_nodes[0].name.value)
            return super().build_resolve_info(field_def, field_nodes, parent_type, path)

    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Row]:
            return [Row(**row) for row in rows]

    return strawberry.Schema(query=Query, execution_context_class=Counting)


def test_plain_fields_are_read_without_graphql_cores_field_machinery():
    # given: two rows, four plain fields each, and one with a resolver
    counting: list[str] = []
    rows = [
        {"id": "1", "name": "a", "colour": Colour.RED, "note": None},
        {"id": "2", "name": "b", "colour": Colour.RED, "note": "n"},
    ]
    schema = plain_rows_schema(rows, counting=counting)
    # when
    result = asyncio.run(schema.execute("{ rows { id name colour note loud } }"))
    # then: the same answer graphql-core gives, with a resolve info for the root field
    # and the resolver's field only
    assert result.errors is None
    assert result.data == {
        "rows": [
            {"id": "1", "name": "a", "colour": "RED", "note": None, "loud": "A"},
            {"id": "2", "name": "b", "colour": "RED", "note": "n", "loud": "B"},
        ]
    }
    assert counting == ["rows", "loud", "loud"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        # a null where the type says non-null
        (
            {"name": None, "colour": Colour.RED},
            "Cannot return null for non-nullable field Row.name.",
        ),
        # a value the enum does not have
        ({"name": "b", "colour": "PURPLE"}, "Enum 'Colour' cannot represent value: 'PURPLE'"),
    ],
)
def test_an_unusual_plain_value_is_reported_as_graphql_core_reports_it(row, message):
    rows = [{"id": "1", "note": None, **row}]
    # when
    result = asyncio.run(plain_rows_schema(rows).execute("{ rows { id name colour } }"))
    # then
    assert result.errors is not None
    assert [error.message for error in result.errors] == [message]
    assert result.errors[0].path is not None
    assert result.data is None  # the non-null item nulls the non-null list, and the root


def test_no_field_of_the_api_with_a_resolver_or_a_rule_but_row_rules_is_read_as_plain():
    """Generated from the schema: every field of every object type, as `execute_fields`
    would plan it in an operation of ours (a Context with a viewer). A plain field has no
    resolver of its own, and either no extension or one silent permission of `RowRule`s
    only, which the plan applies per row; every other field (an operation-level rule
    such as IsAuthenticated, a loud rule, a resolver) goes through strawberry. Outside
    our Context (no viewer to ask), no ruled field is plain."""
    from graphql import GraphQLObjectType, parse
    from graphql.execution.collect_fields import FieldDetails
    from strawberry.permission import PermissionExtension

    from healthcare.graphql.execution import plans
    from healthcare.graphql.permissions import RowRule

    schema = build_schema(Settings(jwt_secret="x" * 48))
    graphql_schema = schema._schema
    plain, ruled_plain, guarded = [], [], []
    for type_ in graphql_schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            node = parse(f"{{ {name} }}").definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]
            plan = plans.plain_field(graphql_schema, type_, [FieldDetails(node, None)], True)
            definition = field.extensions["strawberry-definition"]
            extensions = definition.extensions
            qualified = f"{type_.name}.{name}"
            if plan is None:
                if any(isinstance(e, PermissionExtension) for e in extensions):
                    guarded.append(qualified)
                continue
            assert definition.base_resolver is None, qualified
            rules = plan[-1]
            if not extensions:
                assert rules == (), qualified
                plain.append(qualified)
                continue
            (extension,) = extensions
            assert type(extension) is PermissionExtension and extension.fail_silently, qualified
            assert rules == tuple(extension.permissions), qualified
            assert all(isinstance(rule, RowRule) for rule in rules), qualified
            outside = plans.plain_field(graphql_schema, type_, [FieldDetails(node, None)], False)
            assert outside is None, qualified
            ruled_plain.append(qualified)
    assert "Appointment.startsAt" in plain and "User.firstName" in plain
    assert {"User.email", "Appointment.reason", "Consultation.treatmentPlan"} <= set(ruled_plain)
    assert "Query.appointments" in guarded and "Query.me" not in plain + ruled_plain
    assert len(plain) > 50 and len(ruled_plain) > 10


def test_row_rules_are_planned_only_in_an_operation_of_ours():
    """`LeanExecutionContext._object_plan` asks `plans` for row rules only where the
    context is ours (a Context, with a viewer to ask)."""
    from graphql import parse
    from graphql.execution.collect_fields import FieldDetails

    from healthcare.graphql.context import Context
    from healthcare.security.auth import ANONYMOUS

    graphql_schema = build_schema(Settings(jwt_secret="x" * 48))._schema
    ours = Context(scope=None, loaders=None, viewer=ANONYMOUS)  # type: ignore[arg-type]
    # one document for both (as a cached one is): their plans are kept apart all the same
    document = parse("{ __typename }")
    context = LeanExecutionContext.build(graphql_schema, document, None, ours)
    outside = LeanExecutionContext.build(graphql_schema, document)
    assert isinstance(context, LeanExecutionContext)
    assert isinstance(outside, LeanExecutionContext)
    node = parse("{ email }").definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]
    selection = {"email": [FieldDetails(node, None)]}
    user = graphql_schema.type_map["User"]
    # when
    planned = context._object_plan(user, selection)  # type: ignore[arg-type]
    not_planned = outside._object_plan(user, selection)  # type: ignore[arg-type]
    # then: `email` plain, with its rule, in ours; left to strawberry outside
    assert planned is not None and [p[0] for p in planned.plain] == ["email"]
    assert planned.plain[0][-1]
    assert not_planned is None


# ---- direct resolvers: what `use_direct_resolvers` relies on, and what it does ------------


def test_strawberry_passes_a_resolver_its_object_and_info_by_its_parameters():
    """strawberry's wrapper ends in the resolver's function, called with the object as its
    first argument when it takes `self`, as a keyword for `root` or `parent`, and an Info
    of the config's class made of graphql-core's info and the field; exception handlers
    are found per field, once, by `_get_field_exception_handlers`."""
    from strawberry.types.fields.resolver import StrawberryResolver

    def resolver(self: object, info: strawberry.Info) -> int:
        return 1

    def rooted(root: object, info: strawberry.Info) -> int:
        return 1

    described = StrawberryResolver(resolver)
    assert described.wrapped_func is resolver
    assert described.self_parameter is not None and described.info_parameter is not None
    assert described.root_parameter is None and described.parent_parameter is None
    assert StrawberryResolver(rooted).root_parameter is not None
    schema = lean_schema(_QueryWithAnswer)
    answer = schema._schema.query_type.fields["answer"]  # type: ignore[union-attr]
    definition = answer.extensions["strawberry-definition"]
    assert schema.schema_converter._get_field_exception_handlers(definition) == ()
    info = schema.config.info_class(_raw_info=None, _field=None)  # type: ignore[arg-type]
    assert isinstance(info, strawberry.Info)


@strawberry.type
class _QueryWithAnswer:
    @strawberry.field
    def answer(self) -> int:
        return 42


def test_a_resolver_of_the_object_and_info_alone_is_called_directly_and_answers_the_same():
    # given: resolvers taking self, root, parent, info, nothing; one with a permission
    from healthcare.graphql.execution import use_direct_resolvers
    from healthcare.graphql.permissions import IsAuthenticated, allow

    seen: list[tuple[str, object, object]] = []

    @strawberry.type
    class Row:
        n: int

        @strawberry.field
        def own(self, info: strawberry.Info) -> str:
            seen.append(("own", self.n, info.field_name))
            return f"own {self.n}"

        @strawberry.field
        @staticmethod
        def rooted(root: "Row") -> str:
            return f"rooted {root.n}"

        @strawberry.field
        @staticmethod
        async def parented(parent: strawberry.Parent["Row"], info: strawberry.Info) -> str:
            return f"parented {parent.n} {info.context['who']}"

        @strawberry.field
        @staticmethod
        def alone() -> str:
            return "alone"

        @strawberry.field(extensions=allow(IsAuthenticated(), silent=True))
        def guarded(self) -> str | None:
            return "never for an anonymous viewer"

        @strawberry.field
        def with_argument(self, times: int) -> int:
            return self.n * times

    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Row]:
            return [Row(n=1), Row(n=2)]

    document = "{ rows { own rooted parented alone withArgument(times: 3) } }"
    plain_schema = lean_schema(Query)
    expected = asyncio.run(plain_schema.execute(document, context_value={"who": "x"}))
    seen.clear()
    # when
    schema = lean_schema(Query)
    direct = use_direct_resolvers(schema)
    result = asyncio.run(schema.execute(document, context_value={"who": "x"}))
    # then: all but the one with an argument are direct; the same answer, and the
    # resolver saw its object and an Info naming its field
    assert sorted(direct) == [
        "Query.rows",
        "Row.alone",
        "Row.guarded",
        "Row.own",
        "Row.parented",
        "Row.rooted",
    ]
    assert result.errors is None and expected.errors is None
    assert result.data == expected.data
    assert result.data["rows"][1] == {  # type: ignore[index]
        "own": "own 2",
        "rooted": "rooted 2",
        "parented": "parented 2 x",
        "alone": "alone",
        "withArgument": 6,
    }
    assert seen == [("own", 1, "own"), ("own", 2, "own")]


def test_a_field_behind_permissions_runs_them_as_strawberry_does_when_resolved_directly():
    """Permissions on a field resolved directly run as strawberry's wrapper runs them: in
    its order (the last one declared first), each given the object and an Info of the
    field, in the order declared; a silent one gives null (or an empty list), a loud one
    its error; an attribute is read, a resolver called, an async one awaited."""
    from strawberry.permission import BasePermission

    from healthcare.graphql.auditing import denied
    from healthcare.graphql.execution import use_direct_resolvers
    from healthcare.graphql.permissions import allow

    asked: list[tuple[str, int, str]] = []

    def rule(name: str, answer: Any) -> BasePermission:
        class Rule(BasePermission):
            message = f"{name} says no."

            def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
                asked.append((name, source.n, info.field_name))
                return answer(source, info)

        return Rule()

    def odd(source: Any, info: Any) -> bool:
        return bool(source.n % 2)

    def allowed(source: Any, info: Any) -> bool:
        return True

    def refused_on_the_trail(source: Any, info: Any) -> bool:
        denied(info)
        return False

    @strawberry.type
    class Row:
        n: int
        secret: str | None = strawberry.field(
            default="s", extensions=allow(rule("first", allowed), rule("odd", odd), silent=True)
        )
        tags: list[str] = strawberry.field(
            default_factory=lambda: ["t"], extensions=allow(rule("odd", odd), silent=True)
        )
        loud: str = strawberry.field(default="l", extensions=allow(rule("odd", odd)))

        @strawberry.field(extensions=allow(rule("odd", odd), silent=True))
        def computed(self, info: strawberry.Info) -> str | None:
            return f"{info.field_name} {self.n}"

        @strawberry.field(extensions=allow(rule("odd", odd), silent=True))
        async def later(self) -> str | None:
            return f"later {self.n}"

        @strawberry.field(extensions=allow(rule("trail", refused_on_the_trail), silent=True))
        def refused(self) -> str | None:
            return "never"

    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Row | None]:
            return [Row(n=1), Row(n=2)]

    document = "{ rows { secret tags loud computed later refused } }"
    context = types.SimpleNamespace(viewer=types.SimpleNamespace(user=None), audit_buffer=[])
    expected = asyncio.run(strawberry.Schema(query=Query).execute(document, context_value=context))
    expected_asked, expected_trail = list(asked), list(context.audit_buffer)
    asked.clear()
    context.audit_buffer.clear()
    # when
    schema = lean_schema(Query)
    direct = use_direct_resolvers(schema)
    result = asyncio.run(schema.execute(document, context_value=context))
    # then
    assert sorted(direct) == [
        "Query.rows",
        "Row.computed",
        "Row.later",
        "Row.loud",
        "Row.refused",
        "Row.secret",
        "Row.tags",
    ]
    assert result.data == expected.data
    assert result.data == {
        "rows": [
            {
                "secret": "s",
                "tags": ["t"],
                "loud": "l",
                "computed": "computed 1",
                "later": "later 1",
                "refused": None,
            },
            None,  # the loud refusal: its error nulls the row
        ]
    }
    assert [(e.message, e.path) for e in result.errors or ()] == [
        (e.message, e.path) for e in expected.errors or ()
    ]
    assert [e.message for e in result.errors or ()] == ["odd says no."]
    # the same rules (an async field's run when its coroutine first steps: sooner here)
    assert sorted(asked) == sorted(expected_asked)
    assert asked[:2] == [("first", 1, "secret"), ("odd", 1, "secret")]
    trail = [record.fields_accessed for record in context.audit_buffer]
    # row 2's loud refusal ended it before `refused`, in both
    assert trail == [record.fields_accessed for record in expected_trail] == [("refused",)]


def test_every_field_of_the_api_resolved_directly_has_no_arguments_and_runs_its_rules():
    """Generated from the schema: every field whose resolver `use_direct_resolvers`
    replaced has no argument and no extension but permissions; one with permissions is
    resolved through them (`_after_permissions`), one without by its own function; every
    other field with a resolver of its own keeps strawberry's wrapper."""
    from graphql import GraphQLObjectType
    from strawberry.permission import PermissionExtension

    schema = build_schema(Settings(jwt_secret="x" * 48))
    direct = set(schema.direct_resolvers)
    ruled = []
    for type_ in schema.graphql_schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions["strawberry-definition"]
            extensions = definition.extensions
            qualified = f"{type_.name}.{name}"
            if extensions and all(type(e) is PermissionExtension for e in extensions):
                ruled.append(qualified)
            if qualified in direct:
                assert not field.args and not definition.arguments, name
                assert all(type(e) is PermissionExtension for e in extensions), name
                wrapper = "_after_permissions" if extensions else "direct_resolver"
                assert field.resolve.__qualname__.startswith(wrapper), name
            elif definition.base_resolver is not None or extensions:
                assert not field.resolve.__qualname__.startswith("direct_resolver"), name
                assert not field.resolve.__qualname__.startswith("_after_permissions"), name
    assert {"Appointment.patient", "Appointment.consultation", "User.fullName"} <= direct
    assert {"Appointment.reason", "User.email", "Consultation.treatmentPlan"} <= direct
    assert "Query.appointments" in ruled and "Query.appointments" not in direct


# ---- nested objects: what LeanExecutionContext._execute_nested does ----------------------------


def objects_schema(
    execution_context_class: type, calls: list[str], extensions: list[Any] | None = None
) -> strawberry.Schema:
    """Rows whose fields are single objects: an attribute, a resolver, an async one that
    returns at once, one that waits, null on a nullable and on a non-null field, a value
    of the wrong type, a resolver that raises, an object within an object; and a
    non-null string that raises. The resolvers note their calls in `calls`."""

    @strawberry.type
    class Leaf:
        n: int

    @strawberry.type
    class Branch:
        leaf: Leaf
        label: str

        @strawberry.field
        async def later(self) -> Leaf:
            await asyncio.sleep(0)
            return Leaf(n=self.leaf.n + 100)

        @strawberry.field
        def snag(self) -> str:
            raise ValueError(f"snag {self.label}")

        @strawberry.field
        def twigs(self) -> list[Leaf]:
            return [self.leaf, Leaf(n=self.leaf.n * 3)]

    @strawberry.type
    class Row:
        n: int
        branch: Branch

        @strawberry.field
        def computed(self) -> Leaf:
            calls.append(f"computed {self.n}")
            return Leaf(n=self.n * 10)

        @strawberry.field
        def broken(self) -> str:
            calls.append(f"broken {self.n}")
            raise ValueError(f"broken {self.n}")

        @strawberry.field
        async def fails_at_once(self) -> Leaf | None:
            calls.append(f"fails at once {self.n}")
            raise ValueError(f"fails at once {self.n}")

        @strawberry.field
        async def at_once(self) -> Leaf | None:
            return Leaf(n=self.n) if self.n % 2 else None

        @strawberry.field
        def missing(self) -> Leaf:
            return None  # type: ignore[return-value]

        @strawberry.field
        def wrong(self) -> Leaf | None:
            return self.branch  # type: ignore[return-value]

        @strawberry.field
        def failing(self) -> Leaf | None:
            raise ValueError(f"no leaf for {self.n}")

        # lists of objects: their items completed by `complete_list_item_value`
        @strawberry.field
        def leaves(self) -> list[Leaf]:
            return [Leaf(n=self.n), Leaf(n=self.n + 1)]

        @strawberry.field
        def maybe_leaves(self) -> list[Leaf | None]:
            return [Leaf(n=self.n), None]

        @strawberry.field
        def bad_leaves(self) -> list[Leaf]:
            return [Leaf(n=self.n), None]  # type: ignore[list-item]

        @strawberry.field
        def wrong_leaves(self) -> list[Leaf | None]:
            return [Leaf(n=self.n), self.branch]  # type: ignore[list-item]

        @strawberry.field
        async def async_leaves(self) -> list[Leaf]:
            await asyncio.sleep(0)
            return [Leaf(n=self.n * 2)]

        @strawberry.field
        def branches(self) -> list[Branch]:
            return [self.branch, Branch(leaf=Leaf(n=self.n + 5), label="other")]

    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Row | None]:
            return [Row(n=n, branch=Branch(leaf=Leaf(n=n), label=f"b{n}")) for n in (1, 2)]

    return strawberry.Schema(
        query=Query,
        execution_context_class=execution_context_class,
        extensions=extensions or [],
    )


OBJECTS = {
    "every kind that completes": (
        "{ rows { n branch { label leaf { n } later { n } } computed { n } atOnce { n } } }"
    ),
    "a null on a non-null field": "{ rows { n missing { n } } }",
    "a value of the wrong type": "{ rows { n wrong { n } } }",
    "a resolver that raises": "{ rows { n failing { n } computed { n } } }",
    # graphql-core stops an object's fields at a non-null field's error, in their order
    "a non-null error before a nested field": "{ rows { n broken computed { n } } }",
    "a non-null error after a nested field": "{ rows { n computed { n } broken } }",
    # graphql-core meets an async resolver's error when it awaits it, after the object's
    # other fields, and not at all if one of them nulled the object first
    "an async resolver that raises at once": "{ rows { n failsAtOnce { n } computed { n } } }",
    "an async error, then a non-null one": "{ rows { n failsAtOnce { n } broken } }",
    # graphql-core collects a nested object's fields when completing it, inside the
    # field's error handling: a null given for @include's variable fails that field
    "an @include whose variable is null": (
        "query ($x: Boolean = true) { rows { n branch { label @include(if: $x) } } }"
    ),
}


@pytest.mark.parametrize("document", OBJECTS.values(), ids=OBJECTS.keys())
def test_nested_objects_are_completed_as_graphql_core_completes_them(document):
    # given: graphql-core's own execution, and ours counting graphql-core's completions
    completed: list[str] = []

    class Counting(LeanExecutionContext):
        def complete_value(self, return_type, field_details_list, info, path, result, context):
            completed.append(f"{info.parent_type}.{info.field_name}")
            return super().complete_value(
                return_type, field_details_list, info, path, result, context
            )

    expected_calls: list[str] = []
    calls: list[str] = []
    variables = {"x": None}
    reference = objects_schema(StrawberryGraphQLCoreExecutionContext, expected_calls)
    expected = asyncio.run(reference.execute(document, variable_values=variables))
    # when
    result = asyncio.run(
        objects_schema(Counting, calls).execute(document, variable_values=variables)
    )
    # then: the same data, errors (message, path) and resolvers called (an async one's
    # body runs sooner here: its first step at once)
    assert result.data == expected.data
    assert [(e.message, e.path) for e in result.errors or ()] == [
        (e.message, e.path) for e in expected.errors or ()
    ]
    assert sorted(calls) == sorted(expected_calls)
    # and: graphql-core completed the root's list and the one resolver that waited, not
    # the objects nested in the rows (but a field whose selection it cannot collect)
    left_to_graphql_core = {"Query.rows", "Branch.later"}
    if "@include" in document:
        left_to_graphql_core.add("Row.branch")
    assert set(completed) <= left_to_graphql_core, completed


LISTS = {
    "lists of objects": (
        "{ rows { n leaves { n } maybeLeaves { n } branches { label leaf { n } } } }"
    ),
    "a null item in a list of non-null objects": "{ rows { n badLeaves { n } } }",
    "an item of the wrong type": "{ rows { n wrongLeaves { n } } }",
    "items whose fields wait": "{ rows { n branches { label later { n } } } }",
    "a list an async resolver gives": "{ rows { n asyncLeaves { n } } }",
    "an item whose non-null field raises": "{ rows { n branches { label snag } } }",
    "a list within an item": "{ rows { n branches { label twigs { n } } } }",
}


@pytest.mark.parametrize("document", LISTS.values(), ids=LISTS.keys())
def test_the_items_of_a_list_of_objects_are_completed_as_graphql_core_completes_them(document):
    # given: graphql-core's own execution, and ours noting the items graphql-core completes
    items_completed: list[str] = []

    class Counting(LeanExecutionContext):
        def complete_value(self, return_type, field_details_list, info, path, result, context):
            if isinstance(path.key, int):  # an item of a list
                items_completed.append(f"{info.parent_type}.{info.field_name}")
            return super().complete_value(
                return_type, field_details_list, info, path, result, context
            )

    expected_calls: list[str] = []
    calls: list[str] = []
    expected = asyncio.run(
        objects_schema(StrawberryGraphQLCoreExecutionContext, expected_calls).execute(document)
    )
    # when
    result = asyncio.run(objects_schema(Counting, calls).execute(document))
    # then: the same data, errors (message, path) and resolvers called
    assert result.data == expected.data
    assert [(e.message, e.path) for e in result.errors or ()] == [
        (e.message, e.path) for e in expected.errors or ()
    ]
    assert sorted(calls) == sorted(expected_calls)
    # and: no item of a list of objects was completed by graphql-core's `complete_value`
    assert items_completed == []


# ---- plans kept across operations: `plans.OperationPlans` ---------------------------------


def cached_objects_schema(calls: list[str]) -> strawberry.Schema:
    """`objects_schema` executed by ours, its documents parsed once (as served)."""
    cache = DocumentCache()
    return objects_schema(LeanExecutionContext, calls, [lambda: CachedDocuments(cache)])


def counting_plans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The object types `plans.object_plan` is asked to plan, from now on."""
    planned: list[str] = []
    original = lean.object_plan

    def counted(schema: Any, parent_type: Any, *args: Any) -> Any:
        planned.append(parent_type.name)
        return original(schema, parent_type, *args)

    monkeypatch.setattr(lean, "object_plan", counted)
    return planned


def test_a_cached_documents_plans_are_made_once_and_kept_for_its_next_operations(monkeypatch):
    # given: a document with nested objects and lists of them, parsed once
    document = (
        "query Rows { rows { n branch { label leaf { n } } leaves { n } "
        "branches { label twigs { n } } } }"
    )
    expected = asyncio.run(
        objects_schema(StrawberryGraphQLCoreExecutionContext, []).execute(document)
    )
    schema = cached_objects_schema([])
    planned = counting_plans(monkeypatch)
    # when: it runs three times
    results = [asyncio.run(schema.execute(document)) for _ in range(3)]
    # then: the same answers as graphql-core's, and every object planned by the first
    assert all(r.errors is None and r.data == expected.data for r in results)
    assert sorted(set(planned)) == ["Branch", "Leaf", "Row"]
    first = len(planned)
    results.append(asyncio.run(schema.execute(document)))
    assert len(planned) == first  # nothing planned again
    assert results[-1].data == expected.data


# Documents whose selections depend on the variables: a plan holds its nested objects'
# selections, so one made with one operation's variables could be wrong for the next.
VARIABLE_SELECTIONS = {
    "@include on a nested field": (
        "query Q($x: Boolean!) { rows { n branch { label leaf @include(if: $x) { n } } } }"
    ),
    "@skip on a field of a list's items": (
        "query Q($x: Boolean!) { rows { n leaves { n @skip(if: $x) } branch { label } } }"
    ),
    "@include on a fragment spread": (
        "query Q($x: Boolean!) { rows { n branch { ...B @include(if: $x) label } } } "
        "fragment B on Branch { leaf { n } }"
    ),
    "@skip inside a fragment": (
        "query Q($x: Boolean!) { rows { ...R } } "
        "fragment R on Row { n branch { label leaf @skip(if: $x) { n } } }"
    ),
    "@include on an inline fragment": (
        "query Q($x: Boolean!) { rows { n branch { ... on Branch @include(if: $x) { label } } } }"
    ),
}


@pytest.mark.parametrize("document", VARIABLE_SELECTIONS.values(), ids=VARIABLE_SELECTIONS.keys())
def test_a_document_whose_selections_depend_on_its_variables_is_planned_per_operation(document):
    # given: graphql-core's answers with each value of the variable
    reference = objects_schema(StrawberryGraphQLCoreExecutionContext, [])
    expected = {
        x: asyncio.run(reference.execute(document, variable_values={"x": x})).data
        for x in (True, False)
    }
    assert expected[True] != expected[False]
    schema = cached_objects_schema([])
    # when: the same cached document runs with the variable one way, then the other
    answers = [
        (x, asyncio.run(schema.execute(document, variable_values={"x": x})))
        for x in (True, False, True, False)
    ]
    # then: each answer is the one its own variables ask for
    for x, result in answers:
        assert result.errors is None
        assert result.data == expected[x], x


FIXED_SELECTIONS = {
    "fields": ("{ rows { n branch { label } } }", True),
    "fragments, inline fragments and aliases": (
        "query { rows { ...R other: branch { ... on Branch { label } } } } "
        "fragment R on Row { n branch { ...B } } fragment B on Branch { leaf { n } }",
        True,
    ),
    "a directive on the operation": ("query @foo { rows { n } }", False),
    "on a field": ("query ($x: Boolean!) { rows { n @include(if: $x) } }", False),
    "on a deep field": ("{ rows { branch { leaf { n @skip(if: true) } } } }", False),
    "on a spread": ("{ rows { ...R @include(if: true) } } fragment R on Row { n }", False),
    "on an inline fragment": ("{ rows { ... @include(if: false) { n } } }", False),
    "inside a fragment": (
        "{ rows { ...R } } fragment R on Row { branch { ...B } } "
        "fragment B on Branch { label @defer }",
        False,
    ),
    "on a fragment's definition": ("{ rows { ...R } } fragment R on Row @foo { n }", False),
}


@pytest.mark.parametrize(
    ("document", "fixed"), FIXED_SELECTIONS.values(), ids=FIXED_SELECTIONS.keys()
)
def test_selections_are_fixed_only_without_a_directive_anywhere_they_reach(document, fixed):
    from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
    from graphql.execution.collect_fields import FragmentDetails

    parsed = parse(document)
    (operation,) = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: FragmentDetails(d)
        for d in parsed.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    assert plans.selections_fixed(operation, fragments) is fixed


def test_the_plans_of_a_document_parsed_for_one_operation_go_with_it(monkeypatch):
    """Documents not kept by the cache (parsed per request) leave no plans behind."""
    import gc

    schema = objects_schema(LeanExecutionContext, [])  # no document cache: parsed each time
    planned = counting_plans(monkeypatch)
    gc.collect()
    before = len(plans._PLANS_BY_OPERATION)
    # when: twenty documents run, each parsed afresh
    for n in range(20):
        result = asyncio.run(schema.execute(f"query Q{n} {{ rows {{ n branch {{ label }} }} }}"))
        assert result.errors is None
    gc.collect()
    # then: each was planned, and no plan outlived its document
    assert planned.count("Branch") == 20
    assert len(plans._PLANS_BY_OPERATION) == before


ORDERS = {
    "plain fields, then nested ones": "{ rows { n __typename branch { label leaf { n } } } }",
    "a nested field first": "{ rows { branch { leaf { n } label } n } }",
    "__typename last": "{ rows { n branch { label __typename } __typename } }",
    "interleaved, with an alias": (
        "{ rows { computed { n } n other: branch { label } __typename atOnce { n } } }"
    ),
    "a field that waits in the middle": "{ rows { n branch { later { n } label } } }",
}


@pytest.mark.parametrize("document", ORDERS.values(), ids=ORDERS.keys())
def test_every_object_answers_its_fields_in_the_selections_order(document):
    # given: graphql-core's own answer, its objects' keys in the selection's order
    expected = asyncio.run(
        objects_schema(StrawberryGraphQLCoreExecutionContext, []).execute(document)
    )
    # when
    result = asyncio.run(objects_schema(LeanExecutionContext, []).execute(document))
    # then: the same answer, key for key in the same order (as JSON writes it)
    assert result.errors is None and expected.errors is None
    assert json.dumps(result.data) == json.dumps(expected.data)


def test_an_enum_is_answered_by_name_as_strawberry_answers_it():
    """`plans.member_names` keeps strawberry's answer for each member of every enum the
    API answers with, and leaves anything else to strawberry."""
    from strawberry.schema.schema_converter import CustomGraphQLEnumType

    graphql_schema = build_schema(Settings(jwt_secret="x" * 48))._schema
    enums = [t for t in graphql_schema.type_map.values() if isinstance(t, CustomGraphQLEnumType)]
    assert len(enums) >= 5
    for enum_type in enums:
        name_of = plans.member_names(enum_type)
        members: list[enum.Enum] = list(enum_type.wrapped_cls)
        for member in members:
            for _ in range(2):  # found, then kept
                assert name_of(member) == enum_type.coerce_output_value(member), member
        # another enum's member, and a value strawberry does not know: as strawberry
        other = next(e for e in enums if e is not enum_type).wrapped_cls
        for value in (next(iter(other)), "NOT A MEMBER"):
            assert _outcome(name_of, value) == _outcome(enum_type.coerce_output_value, value)
    assert _outcome(plans.member_names(enums[0]), "NOT A MEMBER")[0] == "raised"


def _outcome(function: Any, value: Any) -> tuple[str, str]:
    try:
        return "answered", repr(function(value))
    except Exception as error:
        return "raised", f"{type(error).__name__}: {error}"


# ---- what graphql.execution.compiled relies on ---------------------------------------------


class RootRecorder(StrawberryGraphQLCoreExecutionContext):
    """Notes how graphql-core executes an operation's root fields."""

    calls: list[tuple[str, bool, object]] = []  # noqa: RUF012 (the test's own record)

    def execute_root_grouped_field_set(
        self, root_type, root_value, grouped_field_set, serially, position_context
    ):
        RootRecorder.calls.append((root_type.name, serially, position_context))
        return super().execute_root_grouped_field_set(
            root_type, root_value, grouped_field_set, serially, position_context
        )


def test_graphql_core_executes_root_fields_through_execute_root_grouped_field_set():
    """`LeanExecutionContext.execute_root_grouped_field_set` answers a query's root
    fields by a compiled statement: graphql-core must run a query's (not serially) and a
    mutation's (serially) root fields through it, with no position context."""

    @strawberry.type
    class Query:
        @strawberry.field
        def one(self) -> int:
            return 1

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def two(self) -> int:
            return 2

    schema = strawberry.Schema(query=Query, mutation=Mutation, execution_context_class=RootRecorder)
    RootRecorder.calls = []
    assert asyncio.run(schema.execute("{ one }")).data == {"one": 1}
    assert asyncio.run(schema.execute("mutation { two }")).data == {"two": 2}
    assert RootRecorder.calls == [("Query", False, None), ("Mutation", True, None)]


def test_strawberry_converts_graphql_cores_arguments_as_a_resolver_receives_them():
    """graphql.execution.compiled gives the resolvers' own functions the arguments
    strawberry would: graphql-core's coerced values (by GraphQL name), converted by
    strawberry's `convert_arguments` with the schema's scalars and config, found where
    strawberry keeps them (its schema on graphql-core's, `_strawberry_schema`)."""
    from graphql import parse
    from graphql.execution.values import get_argument_values
    from strawberry.types.arguments import convert_arguments

    from healthcare import models

    schema = build_schema(Settings())
    graphql_schema = schema.graphql_schema
    assert graphql_schema._strawberry_schema is schema  # type: ignore[attr-defined]
    field = graphql_schema.query_type.fields["appointments"]  # type: ignore[union-attr]
    document = parse(
        '{ appointments(first: 5, status: CANCELLED, startsFrom: "2026-01-02T03:04:05Z") '
        "{ nodes { id } } }"
    )
    node = document.definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]
    given = get_argument_values(field, node)
    converted = convert_arguments(
        given,
        field.extensions[plans.STRAWBERRY_FIELD].arguments,
        scalar_registry=schema.schema_converter.scalar_registry,
        config=schema.config,
    )
    assert converted["first"] == 5 and converted["after"] is None
    assert converted["status"] is models.AppointmentStatus.CANCELLED
    assert converted["starts_from"].isoformat() == "2026-01-02T03:04:05+00:00"
    assert converted["doctor_id"] is None


def test_orjson_writes_a_fragment_given_by_default_as_it_is_and_so_does_the_fallback():
    """A compiled field's value is the JSON PostgreSQL wrote (`compiled.JsonText`): orjson
    writes it as it is where `default` gives an `orjson.Fragment` of it; the view's
    fallback (for a lone surrogate elsewhere in a response) writes it too."""
    import orjson

    from healthcare.graphql.execution.compiled import JsonText, fragment
    from healthcare.graphql.view import GraphQLView

    data = {"list": JsonText('{"edges":[],"n":1}'), "other": 2}
    assert orjson.dumps(data, default=fragment) == b'{"list":{"edges":[],"n":1},"other":2}'
    view = GraphQLView.__new__(GraphQLView)
    assert json.loads(view.encode_json(data)) == {"list": {"edges": [], "n": 1}, "other": 2}
    with_surrogate = {**data, "other": "\udfff"}
    assert json.loads(view.encode_json(with_surrogate))["list"] == {"edges": [], "n": 1}
