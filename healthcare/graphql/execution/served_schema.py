"""`HealthcareSchema`: the schema as served, with our error handling and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSchema
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from healthcare.graphql.context import RequestScope
from healthcare.graphql.errors import label_request_error, masked, request_scope
from healthcare.graphql.execution.compiled import CompiledSql
from healthcare.graphql.execution.direct import use_direct_resolvers
from healthcare.graphql.execution.documents import DocumentCache
from healthcare.graphql.execution.hooks import LeanExtensionsRunner
from healthcare.graphql.execution.prepared import Preparation, execute_prepared
from healthcare.graphql.limits import oversized_document


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
        compiled_sql: CompiledSql | None = None,
        prepared: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.direct_resolvers = use_direct_resolvers(self) if direct_resolvers else []
        self.compiled_sql = compiled_sql  # root fields answered in one statement (compiled)
        self.max_chars = max_chars
        self.suggestions = suggestions
        self.documents = documents  # parsed and validated, shared by every operation
        # How a query or mutation whose document validates runs without strawberry's
        # machinery (`prepared`); None: every operation is strawberry's.
        self.preparation = Preparation.of(self) if prepared else None

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Queries and mutations. Subscriptions run over the WebSocket (`stream`); over
        HTTP they would resolve as a query and fail: refuse them with a 400 instead. A
        prepared operation (`prepared`) skips strawberry's machinery."""
        if too_large := oversized_document(query, self.max_chars):
            return PreExecutionError(data=None, errors=[too_large])
        if allowed_operation_types is None:
            allowed_operation_types = DEFAULT_ALLOWED_OPERATION_TYPES
        allowed = set(allowed_operation_types) - {OperationType.SUBSCRIPTION}
        if self.preparation is not None:
            result = await execute_prepared(
                self,
                self.preparation,
                query,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_name=operation_name,
                allowed_operation_types=allowed,
                operation_extensions=operation_extensions,
            )
            if result is not None:
                return result
        return await super().execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed,
            operation_extensions=operation_extensions,
        )

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return LeanExtensionsRunner(execution_context=execution_context, extensions=extensions)

    async def stream(self, query: str | None, *args: Any, **kwargs: Any) -> Any:
        """Operations over the WebSocket, both protocols (`subscribe` comes here too)."""
        if too_large := oversized_document(query, self.max_chars):
            return refused(too_large)
        return await super().stream(query, *args, **kwargs)

    def _process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        self.process_request_errors(
            errors, request_scope(getattr(execution_context, "context", None))
        )

    def process_request_errors(
        self, errors: list[GraphQLError], scope: RequestScope | None
    ) -> None:
        """Errors without a path, in place: what code raised masked; what the request got
        wrong labelled with its code, without suggestions where they are off. (Errors a
        resolver raised are MaskUnexpectedErrors's.)"""
        for index, error in enumerate(errors):
            if error.path is not None:
                continue  # raised by a resolver: handled by MaskUnexpectedErrors
            if raised_by_code(error):  # a subscription's stream or an extension: not the request
                errors[index] = masked(error, scope)
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
