"""`OperationScope`: each operation's own context, loaders and audit reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, Protocol, TypeVar

from strawberry.extensions import SchemaExtension

from healthcare.graphql.context import Context, RequestScope
from healthcare.security import audit


class Releasable(Protocol):
    """What an operation's loaders offer: letting go of what they loaded."""

    def release(self) -> None: ...


L = TypeVar("L", bound=Releasable)
MAX_LOGGED_OPERATION_NAMES = 20


def open_operation(scope: RequestScope, make_loaders: Callable[[], L]) -> Context[L]:
    """An operation's own context (see `OperationScope`)."""
    return Context(scope=scope, loaders=make_loaders(), viewer=scope.viewer)


async def close_operation(context: Context[Any]) -> None:
    """However the operation ended: its loaders let go, its buffered reads and refusals
    to the audit trail's writer."""
    context.loaders.release()
    await audit.flush(context.audit_buffer)


def note_operation_name(scope: RequestScope, operation_name: str | None) -> None:
    """The operation's name in the request's ASGI state, for the request log line."""
    names = scope.request.scope.setdefault("state", {}).setdefault("graphql_operations", [])
    name = (operation_name or "anonymous")[:100]
    if len(names) < MAX_LOGGED_OPERATION_NAMES and name not in names:
        names.append(name)


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

    Its three steps are the functions above, which `prepared` calls too.
    """

    def __init__(self, make_loaders: Callable[[], L]) -> None:
        self.make_loaders = make_loaders

    async def on_operation(self) -> AsyncIterator[None]:
        scope = self.execution_context.context
        if not isinstance(scope, RequestScope):  # executed outside a request (tests)
            yield
            return
        # strawberry hands `execution_context.context` to graphql-core after this point.
        context = open_operation(scope, self.make_loaders)
        self.execution_context.context = context
        try:
            yield
        finally:  # a subscription stopped by its client ends here too
            await close_operation(context)
        note_operation_name(scope, self.execution_context.operation_name)

    async def on_stream_result(self, result: Any) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            await audit.flush(context.audit_buffer)
        yield
        if isinstance(context, Context):
            context.loaders.release()
            context.loaders = self.make_loaders()
            context.audited = set()  # the next event's reads are reads of their own
