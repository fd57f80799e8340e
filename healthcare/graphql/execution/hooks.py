"""Schema extensions' hooks, found once per extension class instead of once per operation.

strawberry builds the extensions of each operation afresh and, for each of its four
stages (operation, parsing, validation, execution), asks each extension whether it has a
hook for the stage: `inspect` on the method, then `contextlib.contextmanager` around it,
bound to the instance. With seven extensions that is 28 such lookups an operation, about
a tenth of a small query's work (`me`). Whether a class has a hook, and of which kind,
does not change: `LeanExtensionsRunner` finds it once per (class, stage) and binds the
context manager it made then to each new instance. Hooks that are plain functions stay
strawberry's (none of ours is one).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

# (extension class, stage) -> None without a hook; ("sync" or "async", the hook as a
# context manager of the instance); or ("other", None): left to strawberry.
Found = tuple[str, Callable[..., Any] | None] | None
_found: dict[tuple[type, str], Found] = {}


def _find(cls: type, stage: str, default: Any) -> Found:
    hook = getattr(cls, stage)
    if hook is default:
        return None
    if inspect.isgeneratorfunction(hook):
        return "sync", contextlib.contextmanager(hook)
    if inspect.isasyncgenfunction(hook):
        return "async", contextlib.asynccontextmanager(hook)
    return "other", None


class _HooksFoundOnce(ExtensionContextManagerBase):
    __slots__ = ()

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        key = (type(extension), self.HOOK_NAME)
        if key in _found:
            found = _found[key]
        else:
            found = _found[key] = _find(type(extension), self.HOOK_NAME, self.default_hook)
        if found is None:
            return None
        kind, manager = found
        if manager is None:
            return super().get_hook(extension)
        return WrappedHook(
            extension=extension,
            hook=functools.partial(manager, extension),
            is_async=kind == "async",
        )


class _Operation(_HooksFoundOnce, OperationContextManager):
    __slots__ = ()


class _Validation(_HooksFoundOnce, ValidationContextManager):
    __slots__ = ()


class _Parsing(_HooksFoundOnce, ParsingContextManager):
    __slots__ = ()


class _Executing(_HooksFoundOnce, ExecutingContextManager):
    __slots__ = ()


class LeanExtensionsRunner(SchemaExtensionsRunner):
    """strawberry's runner, its four stages' hooks found as `_HooksFoundOnce` finds them."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)
