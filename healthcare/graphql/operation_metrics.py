"""GraphQL operations in the metrics (ops/metrics.py has the series): how many, how long,
with what outcome, and the subscriptions running.

One schema extension, first in the schema's list so that its time includes the others'
(`graphql.execution.prepared` records a prepared operation by `record_operation` too).
Each more hook costs about 5 µs an operation in strawberry's machinery, so it has two:
the operation (counted and timed when it ends) and its execution (where a subscription
is known to have started). A mutation's expected failure is noted in the operation's
context by `graphql.errors.ExpectedFailures`; nothing is counted per field.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from healthcare.graphql import errors
from healthcare.ops.metrics import DURATION, OPERATIONS, OTHER, SUBSCRIPTIONS

ANONYMOUS = "(anonymous)"  # parentheses: no GraphQL name can take these values
UNKNOWN = "unknown"
SUBSCRIPTION = OperationType.SUBSCRIPTION.value
OK, FAILURE, REFUSED, ERROR = "ok", "failure", "refused", "error"
# Top-level error codes that mean "the request was not allowed or not valid", not "broken".
REFUSAL_CODES = frozenset(
    {
        errors.UNAUTHENTICATED,
        errors.FORBIDDEN,
        errors.BAD_USER_INPUT,
        errors.GRAPHQL_PARSE_FAILED,
        errors.GRAPHQL_VALIDATION_FAILED,
        errors.ErrorCode.NOT_FOUND.value,
        errors.RATE_LIMITED,
    }
)
# Operation names are chosen by front-end developers; the cap stops a client that makes
# up names from growing the registry without bound (later names count as "(other)").
MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

_operation_names: dict[str, str] = {}
_operation_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def operation_label(name: str | None, admit: bool = True) -> str:
    """The operation's name as a label: only plain names, only the first few hundred, and
    a new name only from an operation that was not refused (`admit`), so that nobody can
    fill the labels with made-up names in requests that are turned away."""
    if name is None:
        return ANONYMOUS
    label = _operation_names.get(name)
    if label is not None:
        return label
    if admit and len(_operation_names) < MAX_OPERATION_NAMES and _OPERATION_NAME.fullmatch(name):
        _operation_names[name] = name
        return name
    return OTHER


def outcome_of(found: Iterable[GraphQLError] | None, typed_failure: bool) -> str:
    if found:
        for error in found:
            if (error.extensions or {}).get("code") not in REFUSAL_CODES:
                return ERROR
        return REFUSED
    return FAILURE if typed_failure else OK


def record_operation(kind: str, operation_name: str | None, outcome: str, seconds: float) -> None:
    """One operation that ended: counted and, unless a subscription, timed."""
    key = (operation_label(operation_name, admit=outcome != REFUSED), kind, outcome)
    children = _operation_children.get(key)
    if children is None:
        children = (OPERATIONS.labels(*key), DURATION.labels(*key))
        _operation_children[key] = children
    children[0].inc()
    if kind != SUBSCRIPTION:
        children[1].observe(seconds)


class OperationMetrics(SchemaExtension):
    """Counts and times each operation (see the module's docstring)."""

    _subscription: Any = None  # its gauge, while a subscription runs

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        outcome = None
        try:
            yield
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            outcome = REFUSED  # no query, no such operation, or a subscription over HTTP
            raise
        except (GeneratorExit, asyncio.CancelledError):
            # A subscription ends so when its client stops it; anything else was cut short.
            outcome = None if self._subscription is not None else ERROR
            raise
        except BaseException:
            outcome = ERROR
            raise
        finally:
            self._finish(outcome, time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        """Reached once the operation parsed and validated: a subscription starts here."""
        context = self.execution_context
        kind = _operation_kind(context.graphql_document, context.operation_name)
        if self._subscription is None and kind == SUBSCRIPTION:
            self._subscription = SUBSCRIPTIONS.labels(operation_label(context.operation_name))
            self._subscription.inc()
        yield

    def _finish(self, outcome: str | None, seconds: float) -> None:
        context = self.execution_context
        if self._subscription is not None:
            self._subscription.dec()
        kind = _operation_kind(context.graphql_document, context.operation_name)
        if outcome is None:
            found = getattr(context.result, "errors", None) or context.pre_execution_errors
            failed = getattr(context.context, "expected_failure", False)
            outcome = outcome_of(found, failed)
        record_operation(kind, context.operation_name, outcome, seconds)


def _operation_kind(document: DocumentNode | None, name: str | None) -> str:
    """`ExecutionContext.operation_type` as a label, without its slower enum lookups."""
    for definition in document.definitions if document is not None else ():
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition.operation.value
    return UNKNOWN  # unparsable, or no operation of the given name
