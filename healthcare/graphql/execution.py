"""The one module that touches strawberry's and graphql-core's internals. Each thing it
relies on is pinned by tests/test_execution.py, so that an upgrade that changes one fails
there, by name, and nowhere else.

- `HealthcareSchema`: strawberry's Schema with our error handling (it overrides
  `_process_errors`), subscriptions refused over HTTP, and documents over the size cap
  refused before parsing, over HTTP and WebSocket (`execute`, `stream`).
- `LeanExecutionContext`: graphql-core's execution context without its one reference
  cycle (`async_helpers`), running an async resolver that does not wait at once
  (`complete_awaitable_value`), reading a plain attribute field without the generic
  field machinery (`execute_fields`, strawberry's `_is_default` resolvers, and attribute
  fields behind a silent permission of `RowRule`s, applied per row), completing a
  field whose value is one object without `complete_value`'s dispatch
  (`_execute_nested`: the same resolve info, resolver call, `is_type_of` and errors as
  graphql-core's `execute_field`), and giving
  each event of a subscription memos of its own (`build_per_event_executor`,
  `_relevant_sub_fields`).
- `use_direct_resolvers`: a field without arguments whose resolver asks for nothing but
  its object and the info, or whose only extensions are permissions, is resolved by
  calling its function (or reading its attribute) behind strawberry's own permission
  extensions, without strawberry's per-call argument conversion and extension chain.
  tests/test_execution_differential.py proves the served schema answers every field as
  graphql-core and strawberry alone do.
- `OperationScope`: each operation's own context, loaders and audit reads (strawberry's
  `execution_context.context`, replaced before execution).
- `DocumentCache` and `CachedDocuments`: parsing and validation cached within bounds
  (strawberry's `validate_document`).
"""

from __future__ import annotations

import contextvars
import weakref
from collections import OrderedDict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from functools import partial, reduce
from types import CoroutineType
from typing import Any, Generic, Protocol, TypeVar

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
    parse,
)
from graphql.execution.executor import invalid_return_type_error
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers
from graphql.validation import ASTValidationRule
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.field_extension import build_field_extension_resolvers
from strawberry.permission import PermissionExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
    validate_document,
)
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types import Info as StrawberryInfo
from strawberry.types.execution import PreExecutionError
from strawberry.types.field import StrawberryField
from strawberry.types.graphql import OperationType

from healthcare.graphql.context import Context, RequestScope
from healthcare.graphql.errors import label_request_error, masked, request_scope
from healthcare.graphql.limits import oversized_document
from healthcare.graphql.permissions import RowRule
from healthcare.security import audit


class Releasable(Protocol):
    """What an operation's loaders offer: letting go of what they loaded."""

    def release(self) -> None: ...


L = TypeVar("L", bound=Releasable)
MAX_LOGGED_OPERATION_NAMES = 20
# strawberry's key, in a GraphQL field's `extensions`, for the StrawberryField it came from.
STRAWBERRY_FIELD = "strawberry-definition"
# A plain field: read `attribute` of the source, coerce it with the leaf type's
# `coerce_output_value` (a str as it is for `String` and `ID`, which would give it back:
# `text`); `nullable` says whether None is an answer; null instead unless every one of the
# `RowRule`s allows the viewer the row.
PlainField = tuple[str, Callable[[Any], Any], bool, bool, tuple[RowRule, ...]]
TEXT_TYPES = (GraphQLString, GraphQLID)


@dataclass(frozen=True)
class NestedField:
    """A field whose value is one object (of `object_type`; null allowed if `nullable`),
    without arguments: its response name, graphql-core's field, its field details and
    their nodes, and the object's own selection (a grouped field set, without @defer)."""

    name: str
    definition: GraphQLField
    details: Any
    nodes: list[FieldNode]
    object_type: GraphQLObjectType
    nullable: bool
    selection: Any


@dataclass(frozen=True)
class ObjectPlan:
    """An object selection's fields: the response names in order, the plain ones (name,
    then the `PlainField`), and the rest in the selection's order, each a `NestedField`
    or, for graphql-core, its field details."""

    order: tuple[str, ...]
    typename: tuple[str, ...]  # the response names asking `__typename`: the type's name
    plain: tuple[tuple[str, str, Callable[[Any], Any], bool, bool, tuple[RowRule, ...]], ...]
    rest: tuple[tuple[str, Any], ...]
    ruled: bool  # whether a plain field has rules: the viewer is needed


def _in_order(
    order: tuple[str, ...], values: dict[str, Any], rest: dict[str, Any]
) -> dict[str, Any]:
    """The plain values and graphql-core's results as one result, in the selection's
    order (graphql-core leaves out a field it found no definition for)."""
    return {
        name: values[name] if name in values else rest[name]
        for name in order
        if name in values or name in rest
    }


class OperationScope(SchemaExtension, Generic[L]):
    """Per-operation set-up and bookkeeping.

    - A context of its own for each operation (`Context`): fresh loaders (made by
      `make_loaders`), buffered reads and caches. A WebSocket's request scope serves
      every operation on the connection; a cache must not outlive the operation that
      filled it, nor serve another one running beside it.
    - The operation's name goes into the request's ASGI state, for the request log line.
    - The reads and refusals it buffered go to the audit trail's writer, however it ends.
    - A subscription's events are operations of their own in these two respects: each
      one's reads (nested fields included) go to the writer before it is sent, and the
      next one starts with fresh loaders and reads of its own.
    """

    def __init__(self, make_loaders: Callable[[], L]) -> None:
        self.make_loaders = make_loaders

    async def on_operation(self) -> AsyncIterator[None]:
        scope = self.execution_context.context
        if not isinstance(scope, RequestScope):  # executed outside a request (tests)
            yield
            return
        # strawberry hands `execution_context.context` to graphql-core after this point.
        context = Context(scope=scope, loaders=self.make_loaders(), viewer=scope.viewer)
        self.execution_context.context = context
        try:
            yield
        finally:  # a subscription stopped by its client ends here too
            context.loaders.release()
            await audit.flush(context.audit_buffer)
        names = scope.request.scope.setdefault("state", {}).setdefault("graphql_operations", [])
        name = (self.execution_context.operation_name or "anonymous")[:100]
        if len(names) < MAX_LOGGED_OPERATION_NAMES and name not in names:
            names.append(name)

    async def on_stream_result(self, result: Any) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            await audit.flush(context.audit_buffer)
        yield
        if isinstance(context, Context):
            context.loaders.release()
            context.loaders = self.make_loaders()
            context.audited = set()  # the next event's reads are reads of their own


class Resumed:
    """A coroutine that has already taken its first step, to be awaited from where it
    stopped: it hands on what the coroutine yielded (the future it waits for) and, when
    the awaiting task resumes it, sends or throws into the coroutine, in the coroutine's
    own context (`contextvars`), the one its first step ran in."""

    __slots__ = ("context", "coroutine", "waiting_on")

    def __init__(
        self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any, context: contextvars.Context
    ) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on
        self.context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting_on, run = self.coroutine, self.waiting_on, self.context.run
        try:
            while True:
                try:
                    sent = yield waiting_on
                except GeneratorExit:
                    coroutine.close()
                    raise
                except BaseException as error:
                    waiting_on = run(coroutine.throw, error)
                else:
                    waiting_on = run(coroutine.send, sent)
        except StopIteration as done:
            return done.value


def _first_step(coroutine: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run a coroutine's first step in a copy of the context, as a task of its own would:
    (True, its value) if it ended there, else (False, an awaitable for the rest: a
    `Resumed`, or, if the step raised, one that raises it when awaited, where graphql-core
    would meet the error, after the object's other fields and only if still wanted)."""
    context = contextvars.copy_context()
    try:
        waiting_on = context.run(coroutine.send, None)
    except StopIteration as done:
        return True, done.value
    except Exception as error:
        return False, _raised(error)
    return False, Resumed(coroutine, waiting_on, context)


async def _raised(error: Exception) -> Any:
    raise error


class LeanExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution context, without three costs an operation paid for nothing.

    - Its one reference cycle: its `async_helpers` hold two bound methods of the context
      itself, so the context, and everything an operation made through it (collected
      fields, resolve infos, our context with its loaders and rows), was freed only by
      the cyclic garbage collector: about 170 objects per list request. Reaching the
      context through a weak reference instead, all of it is freed by reference counting
      when the operation ends. The context outlives every call through the helpers: they
      are made while it runs one of its own methods, or (a subscription's per-event copy)
      while the subscription holds it.
    - A task and an await for a resolver that does not wait: an async resolver of a
      nested field whose value is at hand (a relation its list loaded ahead) is run to
      its end at once and completed like a plain value, so a row of a list completes
      without a task of its own (a list of 50 with its patients and consultations: 10.9
      ms of CPU a request without this, 8.6 with it). A resolver that does wait goes on
      as before, from where it stopped. Every step runs in a copy of the context of its
      own, as in a task of its own: what it sets in a `ContextVar` stays its own. Root
      fields (mutations, which hold transactions and locks) are left to graphql-core, and
      so is everything while an abort signal is set: that path must be able to cancel.

      The one thing a nested resolver must not do is hold task-bound state across an
      await: its first step runs in the operation's task, the rest in the task that
      awaits it, so `asyncio.timeout()` or an anyio cancel scope entered before its
      first await would be left in another task. Wrap such work in a task of its own.
      A first step that raises is met where graphql-core meets it (when awaited, after
      the object's other fields). One difference is left: an error in completing a value
      at hand is reported even when a later sibling's non-null error nulls the object,
      where graphql-core, completing it later, would drop it; the data is the same.
    - Memory held by a subscription for each event it delivered: graphql-core memoizes
      the subfields it collects for an object (`collect_subfields`) in a dict on the
      context (`_relevant_sub_fields`), keyed by the object's type and the identity of
      its field list, holding the list and what was collected. A subscription's events
      run in copies of its context (`build_per_event_executor`, a shallow `copy`) that
      shared that dict, while each event collects its root fields afresh: new lists,
      so new keys, every event, and nothing ever hit across events. Every event left
      its entries until the subscription ended (measured with tracemalloc on the
      server: 1.06 KB an event for `typingChanged { userId typing }`, 2.1 KB with
      `user { id }` too). Each event's copy gets a memo of its own instead, freed with
      the event: it still serves what it is for, an object's subfields collected once
      for all the rows of a list within the event, as for a query, and a subscription
      open for a day holds what it held after one event (tests/test_subscription_memory).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        context = weakref.ref(self)

        def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
            return context().gather_async_work(values)  # type: ignore[union-attr]

        def track(values: Sequence[Any]) -> None:
            context().track_async_work(values)  # type: ignore[union-attr]

        self.async_helpers = GraphQLResolveInfoHelpers(gather=gather, track=track)
        self._object_plans = {}

    def build_per_event_executor(self, payload: Any) -> LeanExecutionContext:
        """The copy that runs one event of a subscription, with memos of its own
        (graphql-core's copy shares the subscription's, which grew every event)."""
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, LeanExecutionContext)  # a copy of this one
        executor._relevant_sub_fields = {}
        executor._object_plans = {}
        return executor

    # What `execute_fields` learnt of each object selection of the operation: keyed by the
    # identity of graphql-core's grouped field set (one per selection and object type,
    # shared by every row of a list, memoized by `collect_subfields`), which the value
    # holds so that the identity cannot be reused while the operation runs.
    _object_plans: dict[int, tuple[Any, ObjectPlan | None]]

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """An object's fields. A plain field (strawberry's: no resolver, no extension such
        as a permission, no arguments; a scalar or enum) is the source's attribute, coerced
        by its type, as graphql-core would complete it, without a path, a resolve info, the
        resolver wrappers or `complete_value`: about 3 in 4 fields of a list. So is an
        attribute field whose one extension is a silent permission of `RowRule`s (who sees
        `reason`, `email`...): null unless every rule allows the viewer the row, as
        strawberry's PermissionExtension answers. A field whose value is one object (no
        arguments, not a list, union or interface) is executed by `_execute_nested`. The
        others go graphql-core's way, and so do the root's fields and deferred ones. An
        unusual plain value (None where the type says non-null, an attribute or coercion
        that fails) sends the whole object graphql-core's way, which reports it as
        before."""
        if path is None or position_context is not None:  # root fields; deferred ones
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        known = self._object_plans.get(id(grouped_field_set))
        if known is None:
            known = self._object_plans[id(grouped_field_set)] = (
                grouped_field_set,
                self._object_plan(parent_type, grouped_field_set),
            )
        plan = known[1]
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        values: dict[str, Any] = (
            dict.fromkeys(plan.typename, parent_type.name) if plan.typename else {}
        )
        user = self.context_value.viewer.user if plan.ruled else None
        for name, attribute, coerce, text, nullable, rules in plan.plain:
            try:
                if rules and not all(rule.allows(user, source_value) for rule in rules):
                    values[name] = None  # as strawberry's silent permission answers
                    continue
                value = getattr(source_value, attribute)
                if value is None or value is Undefined:  # graphql-core's null
                    if not nullable:
                        break
                    values[name] = None
                    continue
                if text and type(value) is str:
                    values[name] = value
                    continue
                coerced = coerce(value)
            except Exception:  # graphql-core's path reports it
                break
            if coerced is None or coerced is Undefined:
                break
            values[name] = coerced
        else:
            if not plan.rest:
                return _in_order(plan.order, values, {}) if plan.typename else values
            return self._execute_the_rest(plan, parent_type, source_value, path, values)
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def _execute_the_rest(
        self,
        plan: ObjectPlan,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path,
        values: dict[str, Any],
    ) -> Any:
        """The fields of an object past its plain ones (`values`), in the selection's
        order, as graphql-core's `execute_fields` executes them: the object's result, or a
        coroutine for it when some field waits (what waits is settled if a field fails)."""
        results: dict[str, Any] = {}
        waiting: list[str] = []
        try:
            for name, field_plan in plan.rest:
                if type(field_plan) is NestedField:
                    result = self._execute_nested(parent_type, source_value, path, field_plan)
                else:
                    field_path = Path(path, name, parent_type.name)
                    result = self.execute_field(
                        parent_type, source_value, field_plan, field_path, None
                    )
                    if result is Undefined:  # no such field
                        continue
                results[name] = result
                if self._waits(result):
                    waiting.append(name)
        except Exception:
            if waiting:
                self.settle_in_background([results[name] for name in waiting])
            raise
        if not waiting:
            return _in_order(plan.order, values, results)
        return self._merged_later(plan.order, values, results, waiting)

    def _waits(self, completed: Any) -> bool:
        """Whether an object's completion is still to come: a null or an object's values
        are not, without asking `is_awaitable` (once per nested object)."""
        if completed is None or type(completed) is dict:
            return False
        return self.is_awaitable(completed)

    @staticmethod
    async def _merged_later(
        order: tuple[str, ...], values: dict[str, Any], results: dict[str, Any], waiting: list[str]
    ) -> dict[str, Any]:
        """As graphql-core's `execute_fields` ends when fields wait: one awaited where it
        is, several gathered."""
        if len(waiting) == 1:
            results[waiting[0]] = await results[waiting[0]]
        else:
            done = await gather_with_cancel(*(results[name] for name in waiting))
            results.update(zip(waiting, done, strict=True))
        return _in_order(order, values, results)

    def _execute_nested(
        self, parent_type: GraphQLObjectType, source: Any, path: Path, nested: NestedField
    ) -> Any:
        """graphql-core's `execute_field` for a `NestedField`: the same resolve info,
        resolver call and error handling, an async resolver that does not wait run to its
        end at once (as `complete_awaitable_value`), and the object completed without
        `complete_value`'s dispatch on its type (`_complete_nested`)."""
        field_path = Path(path, nested.name, parent_type.name)
        definition = nested.definition
        info = self.build_resolve_info(definition, nested.nodes, parent_type, field_path)
        try:
            result = definition.resolve(source, info)  # type: ignore[misc]
            if type(result) is CoroutineType and self.abort_signal is None:
                ended, result = _first_step(result)
                if not ended:
                    return super().complete_awaitable_value(
                        definition.type, nested.details, info, field_path, result, None
                    )
            elif self.is_awaitable(result):
                return super().complete_awaitable_value(
                    definition.type, nested.details, info, field_path, result, None
                )
            completed = self._complete_nested(nested, info, field_path, result)
            if self._waits(completed):
                return self._completed_later(completed, definition.type, nested.details, field_path)
            return completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, definition.type, nested.details, field_path)
            return None

    def _complete_nested(
        self, nested: NestedField, info: GraphQLResolveInfo[Any], path: Path, result: Any
    ) -> Any:
        """graphql-core's `complete_value` for an object type, non-null or not:
        `complete_object_value` and `collect_and_execute_subfields` without @defer."""
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            if nested.nullable:
                return None
            message = (
                f"Cannot return null for non-nullable field {info.parent_type}.{info.field_name}."
            )
            raise TypeError(message)
        object_type = nested.object_type
        if object_type.is_type_of:
            is_type_of = object_type.is_type_of(result, info)
            if is_type_of is not True and self.is_awaitable(is_type_of):
                return self._complete_nested_later(nested, is_type_of, path, result)
            if not is_type_of:
                raise invalid_return_type_error(object_type, result, nested.details)
        return self.execute_fields(object_type, result, path, nested.selection, None)

    async def _complete_nested_later(
        self, nested: NestedField, is_type_of: Awaitable[bool], path: Path, result: Any
    ) -> Any:
        if not await self.with_abort_signal(is_type_of):
            raise invalid_return_type_error(nested.object_type, result, nested.details)
        fields = self.execute_fields(nested.object_type, result, path, nested.selection, None)
        return await fields if self.is_awaitable(fields) else fields

    def _object_plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: Any
    ) -> ObjectPlan | None:
        """Which fields of the selection are plain and which nested (see `execute_fields`),
        or None if none is."""
        middleware = self.middleware_manager
        if middleware is not None and middleware._middleware_resolvers is not None:
            return None  # a schema extension wraps every resolver: let it
        typename = []
        plain = []
        rest: list[tuple[str, Any]] = []
        for name, details in grouped_field_set.items():
            if details[0].node.name.value == "__typename":
                typename.append(name)
                continue
            read = self._plain_field(parent_type, details)
            if read is not None:
                plain.append((name, *read))
                continue
            one_object = self._nested_field(parent_type, name, details)
            rest.append((name, one_object if one_object is not None else details))
        if not typename and not plain and not any(type(f) is NestedField for _, f in rest):
            return None  # nothing planned: graphql-core's way
        ruled = any(rules for *_, rules in plain)
        order = tuple(grouped_field_set)
        return ObjectPlan(order, tuple(typename), tuple(plain), tuple(rest), ruled)

    def _nested_field(
        self, parent_type: GraphQLObjectType, name: str, details: Any
    ) -> NestedField | None:
        """How to execute a field whose value is one object (see `_execute_nested`), or
        None for any other: arguments, a list, a union or interface, @defer below it."""
        field_def = self._field_without_arguments(parent_type, details)
        if field_def is None or field_def.resolve is None:
            return None
        object_type = get_nullable_type(field_def.type)
        if not isinstance(object_type, GraphQLObjectType):
            return None
        try:  # graphql-core collects them when completing a value, inside the field's
            selection, deferred, _ = self.collect_subfields(object_type, details)
        except Exception:  # error handling: let it (a variable of @include given null)
            return None
        if deferred:
            return None
        nullable = not is_non_null_type(field_def.type)
        nodes = [each.node for each in details]  # graphql-core's `to_nodes`
        return NestedField(name, field_def, details, nodes, object_type, nullable, selection)

    def _field_without_arguments(
        self, parent_type: GraphQLObjectType, details: Any
    ) -> GraphQLField | None:
        """The field the details ask for, if it takes no arguments; else None."""
        first = details[0]
        node = first.node
        if node.arguments or first.fragment_variable_values is not None:
            return None
        field_def = self.schema.get_field(parent_type, node.name.value)
        if field_def is None or field_def.args:
            return None
        return field_def

    def _plain_field(self, parent_type: GraphQLObjectType, details: Any) -> PlainField | None:
        """How to read a plain field (see `execute_fields`), or None for any other."""
        field_def = self._field_without_arguments(parent_type, details)
        if field_def is None:
            return None
        definition = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
        if definition is None or definition.default_resolver is not getattr:
            return None
        # no resolver of its own, no extension: strawberry's own test for the fields it
        # resolves without an Info (`_get_basic_result`); or, no resolver either, only
        # row rules that answer null (a silent permission), for a viewer at hand
        rules = () if definition.is_basic_field else self._row_rules(definition)
        if rules is None:
            return None
        nullable = not is_non_null_type(field_def.type)
        leaf = get_nullable_type(field_def.type)
        if not is_leaf_type(leaf):
            return None
        text = leaf in TEXT_TYPES
        return definition.python_name, leaf.coerce_output_value, text, nullable, rules

    def _row_rules(self, definition: StrawberryField) -> tuple[RowRule, ...] | None:
        """A field's rules if it has no resolver and its one extension is a silent
        permission of `RowRule`s only (nullable, not a list: it answers null), and the
        operation has a viewer (our Context); else None."""
        if definition.base_resolver is not None or not isinstance(self.context_value, Context):
            return None
        if len(definition.extensions) != 1:
            return None
        (extension,) = definition.extensions
        if (
            type(extension) is not PermissionExtension
            or not extension.fail_silently
            or extension.return_empty_list
        ):
            return None
        rules = [rule for rule in extension.permissions if isinstance(rule, RowRule)]
        return tuple(rules) if len(rules) == len(extension.permissions) else None

    def complete_awaitable_value(  # a value at once, or an awaitable
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """Called by `execute_field` with what a resolver returned, when awaitable; its
        errors are handled there as the field's."""
        if type(result) is not CoroutineType or self.abort_signal is not None or path.prev is None:
            return super().complete_awaitable_value(
                return_type, field_details_list, info, path, result, position_context
            )
        ended, result = _first_step(result)
        if not ended:
            return super().complete_awaitable_value(
                return_type, field_details_list, info, path, result, position_context
            )
        completed = self.complete_value(
            return_type, field_details_list, info, path, result, position_context
        )
        if self.is_awaitable(completed):
            return self._completed_later(completed, return_type, field_details_list, path)
        return completed

    async def _completed_later(
        self, completed: Awaitable[Any], return_type: GraphQLOutputType, details: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None


def raw_info(info: StrawberryInfo[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's info behind strawberry's (strawberry keeps it private)."""
    return info._raw_info


async def refused(error: GraphQLError) -> AsyncIterator[PreExecutionError]:
    """A stream whose one result refuses the operation, as the WebSocket handlers expect."""
    yield PreExecutionError(data=None, errors=[error])


# strawberry's accounts of a request it cannot run (no query, no such operation, an
# operation type not allowed here), carried as an error's original error.
REQUEST_FAULTS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


def raised_by_code(error: GraphQLError) -> bool:
    """Whether an error without a path stands for an exception code raised (strawberry
    wraps what a subscription's stream or an extension raised, text and all), rather than
    for graphql-core's or strawberry's account of a bad request: those carry no original
    error, a GraphQLError (a variable's value), or one of `REQUEST_FAULTS`."""
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, *REQUEST_FAULTS))


def direct_resolver(
    definition: StrawberryField, info_class: type[StrawberryInfo[Any, Any]]
) -> Callable[..., Any] | None:
    """What strawberry's resolver wrapper ends in for a field without GraphQL arguments
    (strawberry converts those) whose resolver takes only its object (`self`, `root` or
    `parent`) and the info, or that has no resolver but a permission: the function called
    at once, or the permissions' own `resolve` (strawberry's `PermissionExtension`, in
    strawberry's order) and then the function or the attribute. None for a field that
    needs the wrapper (arguments, an extension other than a permission) and for a plain
    attribute (`execute_fields`')."""
    if definition.arguments or definition.is_subscription:
        return None
    extensions = definition.extensions
    if not all(type(extension) is PermissionExtension for extension in extensions):
        return None
    resolver = definition.base_resolver
    if resolver is None:
        if not extensions or definition.default_resolver is not getattr:
            return None
        name = definition.python_name

        def read(source: Any, info: StrawberryInfo[Any, Any]) -> Any:
            return getattr(source, name)

        return _after_permissions(definition, info_class, read)
    if not callable(resolver.wrapped_func):
        return None
    function = resolver.wrapped_func
    takes_self = resolver.self_parameter is not None
    source_names = tuple(
        parameter.name
        for parameter in (resolver.root_parameter, resolver.parent_parameter)
        if parameter is not None
    )
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None

    def call(source: Any, info: StrawberryInfo[Any, Any] | None) -> Any:
        keywords = dict.fromkeys(source_names, source)
        if info_name is not None:
            keywords[info_name] = info
        return function(source, **keywords) if takes_self else function(**keywords)

    if extensions:
        return _after_permissions(definition, info_class, call)

    def resolve(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=definition) if info_name else None
        return call(source, strawberry_info)

    return resolve


def _after_permissions(
    definition: StrawberryField,
    info_class: type[StrawberryInfo[Any, Any]],
    inner: Callable[[Any, StrawberryInfo[Any, Any]], Any],
) -> Callable[..., Any]:
    """`inner` behind the field's permissions, chained as strawberry chains them (the
    last extension outermost; `resolve_async` for an async field), without strawberry's
    argument conversion around each call."""
    chain = reduce(
        lambda chained, next_: partial(next_, chained),
        build_field_extension_resolvers(definition),
        inner,
    )

    def resolve(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return chain(source, info_class(_raw_info=info, _field=definition))

    return resolve


def use_direct_resolvers(schema: strawberry.Schema) -> list[str]:
    """Resolve every field `direct_resolver` allows directly: its permissions, then its
    function or attribute (graphql-core still builds the info, runs any middleware,
    completes the value and reports errors, as for any resolver). Not where the schema
    has exception handlers (strawberry wraps every resolver to apply them). The fields
    changed, as `Type.field`."""
    converter = schema.schema_converter
    info_class = schema.config.info_class
    changed = []
    for type_ in schema._schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field_def in type_.fields.items():
            definition = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
            if not isinstance(definition, StrawberryField):
                continue
            if converter._get_field_exception_handlers(definition):
                continue
            resolve = direct_resolver(definition, info_class)
            if resolve is not None and field_def.subscribe is None:
                field_def.resolve = resolve
                changed.append(f"{type_.name}.{name}")
    return changed


class HealthcareSchema(strawberry.Schema):
    """The schema, with our own error handling and limits.

    Strawberry logs every error with the query text, which may hold health data typed
    into a literal; MaskUnexpectedErrors logs the bugs instead. Suggestions ("Did you
    mean ...?") leak the schema where introspection is off: with `suggestions` off they
    are cut everywhere graphql-core adds them, not only for unknown fields.
    """

    def __init__(
        self,
        *args: Any,
        max_chars: int,
        suggestions: bool,
        documents: DocumentCache,
        direct_resolvers: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.direct_resolvers = use_direct_resolvers(self) if direct_resolvers else []
        self.max_chars = max_chars
        self.suggestions = suggestions
        self.documents = documents  # parsed and validated, shared by every operation

    async def execute(self, query: str | None, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Queries and mutations. Subscriptions run over the WebSocket (`stream`); over
        HTTP they would resolve as a query and fail: refuse them with a 400 instead."""
        if too_large := oversized_document(query, self.max_chars):
            return PreExecutionError(data=None, errors=[too_large])
        allowed = kwargs.get("allowed_operation_types") or DEFAULT_ALLOWED_OPERATION_TYPES
        kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        return await super().execute(query, *args, **kwargs)

    async def stream(self, query: str | None, *args: Any, **kwargs: Any) -> Any:
        """Operations over the WebSocket, both protocols (`subscribe` comes here too)."""
        if too_large := oversized_document(query, self.max_chars):
            return refused(too_large)
        return await super().stream(query, *args, **kwargs)

    def _process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for index, error in enumerate(errors):
            if error.path is not None:
                continue  # raised by a resolver: handled by MaskUnexpectedErrors
            if raised_by_code(error):  # a subscription's stream or an extension: not the request
                errors[index] = masked(
                    error, request_scope(getattr(execution_context, "context", None))
                )
                continue
            label_request_error(error)
            if not self.suggestions and " Did you mean " in error.message:
                error.message = error.message.split(" Did you mean ")[0]

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None

    @property
    def graphql_schema(self) -> GraphQLSchema:
        """graphql-core's schema that strawberry built (strawberry keeps it private)."""
        return self._schema


@dataclass
class _CachedDocument:
    document: DocumentNode
    # Validation errors by the validation rules they were found with.
    errors: dict[tuple[type[ASTValidationRule], ...], list[GraphQLError]] = field(
        default_factory=dict
    )


class DocumentCache:
    """Parsed documents and their validation errors, by document text, least recently
    used out first: at most `max_entries` documents and `max_chars` characters of
    document text in all. A parsed document takes about 100 bytes per character of its
    text (measured: a dense 32 KiB document parses to 3.2 MiB), so the defaults hold at
    most about 26 MiB, and a front end's few hundred operations of a kilobyte or two fit.
    strawberry's ParserCache and ValidationCache bound entries only."""

    def __init__(self, max_entries: int = 500, max_chars: int = 256 * 1024) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._entries: OrderedDict[tuple[str, int | None], _CachedDocument] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        return self._chars

    def document(self, query: str, max_tokens: int | None) -> _CachedDocument:
        """The parsed `query`; a parse error is raised, never kept."""
        key = (query, max_tokens)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        found = _CachedDocument(parse(query, max_tokens=max_tokens))
        if len(query) <= self.max_chars:
            self._entries[key] = found
            self._chars += len(query)
            self._evict()
        return found

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self._chars > self.max_chars:
            (query, _), _ = self._entries.popitem(last=False)
            self._chars -= len(query)


class CachedDocuments(SchemaExtension):
    """Parse and validate through a `DocumentCache` shared by every operation."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache
        self._cached: _CachedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            max_tokens = context.parse_options.get("max_tokens")
            self._cached = self.cache.document(context.query, max_tokens)
            context.graphql_document = self._cached.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self._cached is not None:
            rules = tuple(context.validation_rules)
            errors = self._cached.errors.get(rules)
            if errors is None:
                errors = validate_document(context.schema._schema, self._cached.document, rules)
                self._cached.errors[rules] = errors
            context.pre_execution_errors = errors
        yield
