"""The one Strawberry schema: every domain's Query and Mutation merged."""

import weakref
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError, lexicographic_sort_schema, print_schema
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from healthcare import audit, limits, metrics
from healthcare.context import Context
from healthcare.errors import MaskUnexpectedErrors, label_request_error
from healthcare.loaders import Loaders
from healthcare.schema import (
    appointments,
    audit_log,
    auth,
    availability,
    chat,
    consultations,
    notifications,
    users,
)

Query = merge_types(
    "Query",
    (
        users.Query,
        availability.Query,
        appointments.Query,
        consultations.Query,
        notifications.Query,
        chat.Query,
        audit_log.Query,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        auth.Mutation,
        users.Mutation,
        availability.Mutation,
        appointments.Mutation,
        consultations.Mutation,
        notifications.Mutation,
        chat.Mutation,
    ),
)
Subscription = merge_types(
    "Subscription", (appointments.Subscription, notifications.Subscription, chat.Subscription)
)


MAX_LOGGED_OPERATION_NAMES = 20


class OperationScope(SchemaExtension):
    """Per-operation set-up and bookkeeping.

    - A context of its own for each operation (`Context.for_operation`): fresh loaders,
      buffered reads and fields-read cache. A WebSocket's context serves every operation
      on the connection; a cache must not outlive the operation that filled it, nor serve
      another one running beside it.
    - The operation's name goes into the request's ASGI state, for the request log line.
    - The reads and refusals it buffered go to the audit trail's writer, however it ends.
    - A subscription's events are operations of their own in these two respects: each
      one's reads (nested fields included) go to the writer before it is sent, and the
      next one starts with fresh loaders. Resolvers that push events do neither.
    """

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            # strawberry hands `execution_context.context` to graphql-core after this point.
            context = self.execution_context.context = context.for_operation()
        try:
            yield
        finally:  # a subscription stopped by its client ends here too
            if isinstance(context, Context):
                context.loaders.release()
                await audit.flush(context.audit_buffer)
        if isinstance(context, Context):
            names = context.request.scope.setdefault("state", {}).setdefault(
                "graphql_operations", []
            )
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
            context.loaders = Loaders()
            context.audited = set()  # the next event's reads are reads of their own


class AcyclicExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution context without its one reference cycle.

    Its `async_helpers` hold two bound methods of the context itself, so the context, and
    everything an operation made through it (collected fields, resolve infos, our context
    with its loaders and rows), was freed only by the cyclic garbage collector: about 170
    objects per list request, and young collections of 10 ms that waited on them.
    Reaching the context through a weak reference instead, all of it is freed by
    reference counting when the operation ends. The context outlives every call through
    the helpers: they are made while it runs one of its own methods, or (a
    subscription's per-event copy) while the subscription holds it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        context = weakref.ref(self)

        def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
            return context().gather_async_work(values)  # type: ignore[union-attr]

        def track(values: Sequence[Any]) -> None:
            context().track_async_work(values)  # type: ignore[union-attr]

        self.async_helpers = GraphQLResolveInfoHelpers(gather=gather, track=track)


async def refused(error: GraphQLError) -> AsyncIterator[PreExecutionError]:
    """A stream whose one result refuses the operation, as the WebSocket handlers expect."""
    yield PreExecutionError(data=None, errors=[error])


class HealthcareSchema(strawberry.Schema):
    """The schema, with our own error handling.

    Strawberry logs every error with the query text, which may hold health data typed
    into a literal; MaskUnexpectedErrors logs the bugs instead. Suggestions ("Did you
    mean ...?") leak the schema where introspection is off: `suggestions` turns them off
    everywhere graphql-core adds them, not only for unknown fields.
    """

    suggestions: bool = True

    async def execute(self, query: str | None, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Queries and mutations. Subscriptions run over the WebSocket (`subscribe`); over
        HTTP they would resolve as a query and fail: refuse them with a 400 instead."""
        if too_large := limits.oversized_document(query, limits.current.max_chars):
            return PreExecutionError(data=None, errors=[too_large])
        allowed = kwargs.get("allowed_operation_types") or DEFAULT_ALLOWED_OPERATION_TYPES
        kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        return await super().execute(query, *args, **kwargs)

    async def stream(self, query: str | None, *args: Any, **kwargs: Any) -> Any:
        """Operations over the WebSocket, both protocols (`subscribe` comes here too)."""
        if too_large := limits.oversized_document(query, limits.current.max_chars):
            return refused(too_large)
        return await super().stream(query, *args, **kwargs)

    def _process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if error.path is not None:
                continue  # raised by a resolver: handled by MaskUnexpectedErrors
            label_request_error(error)
            if not self.suggestions and " Did you mean " in error.message:
                error.message = error.message.split(" Did you mean ")[0]

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None


# Parsed and validated documents, shared by every operation of the process.
DOCUMENTS = limits.DocumentCache()
# One schema per process; create_app sets `schema.suggestions` from the settings.
schema = HealthcareSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    # Not `sort_schema=True`: it rebuilds the types after strawberry has bound union
    # resolution to the unsorted ones, and every result union then fails. `sdl()` sorts.
    config=StrawberryConfig(auto_camel_case=True),
    execution_context_class=AcyclicExecutionContext,
    extensions=[
        metrics.OperationMetrics,  # first: its time includes the others'
        MaskUnexpectedErrors,
        *limits.schema_extensions(DOCUMENTS),
        OperationScope,
    ],
)
metrics.instrument(schema)


def sdl() -> str:
    """The schema in SDL, types sorted by name so that the committed file diffs well."""
    return print_schema(lexicographic_sort_schema(schema._schema)) + "\n"
