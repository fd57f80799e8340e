"""Prepared operations: a query or mutation whose document parses and validates, run by
the steps its schema extensions take, without strawberry's machinery around them.

For every operation strawberry's `Schema.execute` builds an execution context, the
schema extensions' instances and a runner that enters each extension's hook for each of
four stages (operation, parsing, validation, execution) through context managers; for a
document already parsed and validated most of that does nothing. Measured in one process
against PostgreSQL (the ASGI app called directly, 1,000 requests a batch, batches of
both paths interleaved, median of 10), CPU a request: `me` 517 to 398 µs, an
appointment's lookup 889 to 661 µs (docs/benchmarks.md).

`execute_prepared` takes, in their order, the steps the schema's extensions take for
such an operation, by the same functions:

- CachedDocuments, MaxTokensLimiter, AddValidationRules: the document from the same
  cache, parsed with the same token limit, validated by the same rules (any error, and
  it is not prepared: strawberry reports it);
- OperationScope: `open_operation` before, `close_operation` however it ends, then
  `note_operation_name`;
- `HealthcareSchema.process_request_errors` on the result's errors, where strawberry's
  `_execute_operation` calls `_process_errors`;
- MaskUnexpectedErrors: what it masks, masked by `errors.mask_unexpected`;
- OperationMetrics: `record_operation`, timed around all of it.

Anything else is strawberry's: a document that does not parse or validate, no
operation or several without a name, an operation type the transport does not allow (a
mutation over GET, any subscription over HTTP), a context that is not a request's (tests
execute the schema directly). (A document that does not parse is parsed again there:
parse errors are not cached. Only malformed requests pay it.)

By construction: what it needs (the cache, the token limit, the rules, the loaders) is
read off the schema's own extensions (`Preparation.of`), and a schema with an extension
it does not know (or a directive, which brings strawberry's DirectivesExtension) is
never prepared. tests/test_prepared.py compares its answers with strawberry's, and pins
the extensions it mirrors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, Protocol

from graphql import GraphQLError, GraphQLSchema, execute, get_operation_ast
from graphql.execution import Executor
from graphql.validation import ASTValidationRule
from strawberry import Schema
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from healthcare.graphql.context import RequestScope
from healthcare.graphql.errors import MaskUnexpectedErrors, mask_unexpected
from healthcare.graphql.execution.documents import CachedDocuments, DocumentCache
from healthcare.graphql.execution.operation import (
    OperationScope,
    close_operation,
    note_operation_name,
    open_operation,
)
from healthcare.graphql.operation_metrics import (
    ERROR,
    OperationMetrics,
    outcome_of,
    record_operation,
)


class ServedSchema(Protocol):
    """What of `served_schema.HealthcareSchema` a prepared operation uses (a protocol, so
    that this module, which the schema imports, does not import it back)."""

    @property
    def graphql_schema(self) -> GraphQLSchema: ...

    @property
    def execution_context_class(self) -> type[Executor[Any]] | None: ...

    def process_request_errors(
        self, errors: list[GraphQLError], scope: RequestScope | None
    ) -> None: ...


# The schema extensions whose steps `execute_prepared` takes, in the schema's order (the
# metrics' time includes the others'; errors are masked after the reads are flushed).
MIRRORED = (
    OperationMetrics,
    MaskUnexpectedErrors,
    MaxTokensLimiter,
    AddValidationRules,
    CachedDocuments,
    OperationScope,
)


@dataclass(frozen=True)
class Preparation:
    """What the schema's extensions parse, validate and open an operation with."""

    documents: DocumentCache
    max_tokens: int
    rules: tuple[type[ASTValidationRule], ...]
    make_loaders: Callable[[], Any]

    @classmethod
    def of(cls, schema: Schema) -> Preparation | None:
        """Read off one set of `schema`'s extensions; None unless they are exactly the
        ones `execute_prepared` mirrors, in its order, and strawberry would run them by
        graphql-core's `execute` (not its incremental delivery)."""
        instances = schema.get_extensions()
        if tuple(type(extension) for extension in instances) != MIRRORED:
            return None
        if schema.config.enable_experimental_incremental_execution:
            return None
        _metrics, _masking, limiter, added, cached, scope = instances  # MIRRORED's order
        assert isinstance(limiter, MaxTokensLimiter)
        assert isinstance(added, AddValidationRules)
        assert isinstance(cached, CachedDocuments)
        assert isinstance(scope, OperationScope)
        # strawberry's own rules first, then the added ones, as AddValidationRules adds them
        default = ExecutionContext(
            query=None, schema=schema, allowed_operations=()
        ).validation_rules
        return cls(
            documents=cached.cache,
            max_tokens=limiter.max_token_count,
            rules=(*default, *added.validation_rules),
            make_loaders=scope.make_loaders,
        )


async def execute_prepared(
    schema: ServedSchema,
    preparation: Preparation,
    query: str | None,
    *,
    variable_values: dict[str, Any] | None,
    context_value: Any,
    root_value: Any,
    operation_name: str | None,
    allowed_operation_types: Iterable[OperationType],
    operation_extensions: dict[str, Any] | None,
) -> ExecutionResult | None:
    """The operation's result, or None when it is not prepared (see the module)."""
    if not query or not isinstance(context_value, RequestScope):
        return None
    started = time.perf_counter()  # as OperationMetrics times it: parsing included
    # Any error in parsing or validating (a syntax error; a rule that raises, as the
    # depth limiter does on a fragment that is not there) is strawberry's to report.
    try:
        cached = preparation.documents.document(query, preparation.max_tokens)
        operation = get_operation_ast(cached.document, operation_name)
        if operation is None:
            return None
        kind = operation.operation.value
        if OperationType(kind) not in allowed_operation_types:
            return None
        if cached.validation_errors(schema.graphql_schema, preparation.rules):
            return None
    except Exception:
        return None
    name = operation.name.value if operation.name is not None else None
    scope = context_value
    outcome = ERROR  # unless it ends
    try:
        context = open_operation(scope, preparation.make_loaders)
        try:
            result = execute(
                schema.graphql_schema,
                cached.document,
                root_value=root_value,
                variable_values=variable_values,
                operation_name=name,
                context_value=context,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type] # as strawberry passes it
                executor_class=schema.execution_context_class,
                operation_extensions=operation_extensions,
            )
            if isawaitable(result):
                result = await result
            if result.errors:
                schema.process_request_errors(result.errors, scope)
        finally:
            await close_operation(context)
        note_operation_name(scope, name)
        errors = mask_unexpected(result.errors, scope) if result.errors else result.errors
        outcome = outcome_of(errors, context.expected_failure)
        return ExecutionResult(data=result.data, errors=errors, extensions={})
    except Exception as exception:  # as strawberry's `execute` answers it
        error = (
            exception
            if isinstance(exception, GraphQLError)
            else GraphQLError(str(exception), original_error=exception)
        )
        errors = [error]
        schema.process_request_errors(errors, scope)
        return PreExecutionError(data=None, errors=errors, extensions={})
    finally:
        record_operation(kind, name, outcome, time.perf_counter() - started)
