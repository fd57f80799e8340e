"""`LeanExecutionContext`: graphql-core's execution context, with the plans of `plans`
executed directly and the costs described on the class left out."""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Awaitable, Coroutine, Generator, Sequence
from types import CoroutineType
from typing import Any

from graphql import GraphQLObjectType, GraphQLOutputType, GraphQLResolveInfo, Undefined
from graphql.execution.executor import invalid_return_type_error
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from healthcare.graphql.context import Context
from healthcare.graphql.execution import compiled
from healthcare.graphql.execution.plans import (
    NestedField,
    ObjectPlan,
    ObjectValue,
    in_order,
    object_plan,
    object_value,
    operation_plans,
)


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
        self._list_items = {}

    def build_per_event_executor(self, payload: Any) -> LeanExecutionContext:
        """The copy that runs one event of a subscription, with memos of its own
        (graphql-core's copy shares the subscription's, which grew every event)."""
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, LeanExecutionContext)  # a copy of this one
        executor._relevant_sub_fields = {}
        executor._object_plans = {}
        executor._list_items = {}
        return executor

    # What `execute_fields` learnt of each object selection of the operation: keyed by the
    # identity of graphql-core's grouped field set (one per selection and object type,
    # shared by every row of a list, memoized by `collect_subfields`), which the value
    # holds so that the identity cannot be reused while the operation runs.
    _object_plans: dict[int, tuple[Any, ObjectPlan | None]]
    # How the items of each list field of the operation are completed, by the identity of
    # its field details (held, as above), with the item type asked for.
    _list_items: dict[int, tuple[Any, GraphQLOutputType, ObjectValue | None]]

    def execute_root_grouped_field_set(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: Any,
        serially: bool,
        position_context: Any,
    ) -> Any:
        """A query's root fields, by one SQL statement each where `compiled` can write
        it; else, and for mutations, graphql-core's way."""

        def otherwise() -> Any:
            return super(LeanExecutionContext, self).execute_root_grouped_field_set(
                root_type, root_value, grouped_field_set, serially, position_context
            )

        if not serially and position_context is None and self.abort_signal is None:
            answered = compiled.answer(self, root_type, grouped_field_set, otherwise)
            if answered is not None:
                return answered
        return otherwise()

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
                return values if plan.ordered else in_order(plan, values, {})
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
            return in_order(plan, values, results)
        return self._merged_later(plan, values, results, waiting)

    def _waits(self, completed: Any) -> bool:
        """Whether an object's completion is still to come: a null or an object's values
        are not, without asking `is_awaitable` (once per nested object)."""
        if completed is None or type(completed) is dict:
            return False
        return self.is_awaitable(completed)

    @staticmethod
    async def _merged_later(
        plan: ObjectPlan, values: dict[str, Any], results: dict[str, Any], waiting: list[str]
    ) -> dict[str, Any]:
        """As graphql-core's `execute_fields` ends when fields wait: one awaited where it
        is, several gathered."""
        if len(waiting) == 1:
            results[waiting[0]] = await results[waiting[0]]
        else:
            done = await gather_with_cancel(*(results[name] for name in waiting))
            results.update(zip(waiting, done, strict=True))
        return in_order(plan, values, results)

    def _execute_nested(
        self, parent_type: GraphQLObjectType, source: Any, path: Path, nested: NestedField
    ) -> Any:
        """graphql-core's `execute_field` for a `NestedField`: the same resolve info,
        resolver call and error handling, an async resolver that does not wait run to its
        end at once (as `complete_awaitable_value`), and the object completed without
        `complete_value`'s dispatch on its type (`_complete_object`)."""
        field_path = Path(path, nested.name, parent_type.name)
        definition = nested.definition
        details = nested.value.details
        info = self.build_resolve_info(definition, nested.nodes, parent_type, field_path)
        try:
            result = definition.resolve(source, info)  # type: ignore[misc]
            if type(result) is CoroutineType and self.abort_signal is None:
                ended, result = _first_step(result)
                if not ended:
                    return super().complete_awaitable_value(
                        definition.type, details, info, field_path, result, None
                    )
            elif self.is_awaitable(result):
                return super().complete_awaitable_value(
                    definition.type, details, info, field_path, result, None
                )
            completed = self._complete_object(nested.value, info, field_path, result)
            if self._waits(completed):
                return self._completed_later(completed, definition.type, details, field_path)
            return completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, definition.type, details, field_path)
            return None

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        item_path: Path,
        position_context: Any,
    ) -> bool:
        """graphql-core's, for an item of a list of objects (the edges of a connection):
        the item completed by `_complete_object`, without `complete_value`'s dispatch on
        its type and `complete_object_value`'s collection of its subfields, with the same
        error handling. Other items, and streamed ones, go graphql-core's way."""
        if position_context is not None:
            return super().complete_list_item_value(
                item,
                complete_results,
                item_type,
                field_details_list,
                info,
                item_path,
                position_context,
            )
        key = id(field_details_list)
        known = self._list_items.get(key)
        if known is None or known[1] is not item_type:
            value = object_value(item_type, field_details_list, self.collect_subfields)
            known = self._list_items[key] = (field_details_list, item_type, value)
        value = known[2]
        if value is None:
            return super().complete_list_item_value(
                item, complete_results, item_type, field_details_list, info, item_path, None
            )
        try:
            completed = self._complete_object(value, info, item_path, item)
            if self._waits(completed):
                complete_results.append(
                    self._completed_later(completed, item_type, field_details_list, item_path)
                )
                return True
            complete_results.append(completed)
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            complete_results.append(None)
        return False

    def _complete_object(
        self, value: ObjectValue, info: GraphQLResolveInfo[Any], path: Path, result: Any
    ) -> Any:
        """graphql-core's `complete_value` for an object type, non-null or not:
        `complete_object_value` and `collect_and_execute_subfields` without @defer."""
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            if value.nullable:
                return None
            message = (
                f"Cannot return null for non-nullable field {info.parent_type}.{info.field_name}."
            )
            raise TypeError(message)
        object_type = value.object_type
        if object_type.is_type_of:
            is_type_of = object_type.is_type_of(result, info)
            if is_type_of is not True and self.is_awaitable(is_type_of):
                return self._complete_object_later(value, is_type_of, path, result)
            if not is_type_of:
                raise invalid_return_type_error(object_type, result, value.details)
        return self.execute_fields(object_type, result, path, value.selection, None)

    async def _complete_object_later(
        self, value: ObjectValue, is_type_of: Awaitable[bool], path: Path, result: Any
    ) -> Any:
        if not await self.with_abort_signal(is_type_of):
            raise invalid_return_type_error(value.object_type, result, value.details)
        fields = self.execute_fields(value.object_type, result, path, value.selection, None)
        return await fields if self.is_awaitable(fields) else fields

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

    def _object_plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: Any
    ) -> ObjectPlan | None:
        """What `execute_fields` plans for this selection (`plans.object_plan`), kept
        across operations where the operation's selections cannot depend on its variables
        (`plans.OperationPlans`); nothing where a schema extension wraps every resolver
        (graphql-core's middleware: let it). Row rules are planned only in an operation
        of ours, which has a viewer."""
        middleware = self.middleware_manager
        if middleware is not None and middleware._middleware_resolvers is not None:
            return None
        viewer_at_hand = isinstance(self.context_value, Context)

        def build() -> ObjectPlan | None:
            return object_plan(
                self.schema, parent_type, grouped_field_set, self.collect_subfields, viewer_at_hand
            )

        kept = operation_plans(self.operation, self.fragments)
        return kept.plan(self.schema, parent_type, grouped_field_set, viewer_at_hand, build)

    async def _completed_later(
        self, completed: Awaitable[Any], return_type: GraphQLOutputType, details: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None
