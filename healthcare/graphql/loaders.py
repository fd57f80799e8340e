"""DataLoaders: batch functions for rows by key, and a loader whose callers cannot cancel
each other. The schema's loaders (schema/loaders.py) are built from these, one set per
operation.

Loaders fetch by key and apply no row-level rule: use them only for rows reached through
a parent the viewer may already see (an appointment's doctor, a consultation's
prescriptions). Top-level lookups go through the domain's `visible_*` function.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader as StrawberryDataLoader
from tortoise.models import Model

from healthcare import db

M = TypeVar("M", bound=Model)
Key = uuid.UUID


def one_by(model: type[M], key: str = "id") -> Callable[[Sequence[Key]], Awaitable[list[M | None]]]:
    """Batch-load at most one `model` row per value of the unique column `key`."""

    async def load(keys: Sequence[Key]) -> list[M | None]:
        rows = await db.fetch_by_keys(model, key, keys)
        found: dict[Any, M] = {getattr(row, key): row for row in rows}
        return [found.get(k) for k in keys]

    return load


def many_by(
    model: type[M], key: str, order_by: str
) -> Callable[[Sequence[Key]], Awaitable[list[list[M]]]]:
    """Batch-load every `model` row per value of the foreign key column `key`, in order."""

    async def load(keys: Sequence[Key]) -> list[list[M]]:
        grouped: dict[Any, list[M]] = defaultdict(list)
        for row in await db.fetch_by_keys(model, key, keys, order_by):
            grouped[getattr(row, key)].append(row)
        return [grouped.get(k, []) for k in keys]

    return load


class DataLoader(StrawberryDataLoader[Any, Any]):
    """A DataLoader whose callers cannot cancel each other, and that loads ahead.

    graphql-core cancels the sibling resolvers of a field that failed; a resolver awaiting
    a shared batch future would cancel that future for every other resolver waiting on
    it. `shield` lets each caller stop waiting without cancelling the shared load.
    """

    def load(self, key: Any) -> Any:
        loaded = self.cache_map.get(key)
        if loaded is not None and loaded.done() and not loaded.cancelled():
            return loaded  # what shield gives for a settled future: the future itself
        return asyncio.shield(super().load(key))

    async def load_ahead(self, keys: Iterable[Any]) -> None:
        """Load `keys` now, in one batch: a list's resolver does it for its rows'
        relations, which then find their values loaded already."""
        missing = [key for key in dict.fromkeys(keys) if self.cache_map.get(key) is None]
        if missing:
            self.prime_many(dict(zip(missing, await self.load_fn(missing), strict=True)))

    def release(self) -> None:
        """Let go of every row loaded; call it when the operation ends. A loader, its
        batch and the batch's task refer to each other, a cycle only the garbage collector
        frees: left filled, it would keep every row it loaded until a collection."""
        self.clear_all()
        self.batch = None
