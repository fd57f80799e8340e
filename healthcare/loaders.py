"""Per-operation DataLoaders: one per (thing, key). Each batch runs one query.

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

from healthcare import db, models
from healthcare.resolvers import chat

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


T = TypeVar("T")


class DataLoader(StrawberryDataLoader[Any, Any]):
    """A DataLoader whose callers cannot cancel each other, and that answers at once what
    the operation has loaded already.

    graphql-core cancels the sibling resolvers of a field that failed; a resolver awaiting
    a shared batch future would cancel that future for every other resolver waiting on
    it. `shield` lets each caller stop waiting without cancelling the shared load.
    """

    def load(self, key: Any) -> Any:
        return asyncio.shield(super().load(key))

    def load_now_or_later(self, key: Any, convert: Callable[[Any], T]) -> T | Awaitable[T]:
        """`convert` of the value for `key`: at once when this operation has loaded it
        already (a list's resolver loads its rows' relations with `load_ahead`), else
        awaitable. A resolver that returns the value itself lets graphql-core complete
        the field without a task; declare such a field's type with `graphql_type=`."""
        future = self.cache_map.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return self._load_then(key, convert)
        return convert(future.result())

    async def _load_then(self, key: Any, convert: Callable[[Any], T]) -> T:
        return convert(await self.load(key))

    async def load_ahead(self, keys: Iterable[Any]) -> None:
        """Load `keys` now, in one batch, for `load_now_or_later` to answer at once."""
        missing = [key for key in dict.fromkeys(keys) if self.cache_map.get(key) is None]
        if missing:
            self.prime_many(dict(zip(missing, await self.load_fn(missing), strict=True)))


class Loaders:
    """The loaders of one operation. Build a new one per operation: they cache."""

    def __init__(self) -> None:
        self.user_by_id = DataLoader(load_fn=one_by(models.User))
        self.changes_by_appointment = DataLoader(
            load_fn=many_by(models.AppointmentChange, "appointment_id", "created_at")
        )
        self.consultation_by_appointment = DataLoader(
            load_fn=one_by(models.Consultation, "appointment_id")
        )
        self.prescriptions_by_consultation = DataLoader(
            load_fn=many_by(models.PrescriptionItem, "consultation_id", "position")
        )
        self.revisions_by_consultation = DataLoader(
            load_fn=many_by(models.ConsultationRevision, "consultation_id", "number")
        )
        self.addenda_by_consultation = DataLoader(
            load_fn=many_by(models.ConsultationAddendum, "consultation_id", "created_at")
        )
        self.unread_count = DataLoader(load_fn=chat.count_unread)
        self.message_by_seq = DataLoader(load_fn=chat.messages_by_seq)

    def release(self) -> None:
        """Let go of every row loaded; call it when the operation ends. A loader, its
        batch and the batch's task refer to each other, a cycle only the garbage collector
        frees: left filled, it would keep every row it loaded until a collection."""
        for loader in vars(self).values():
            loader.clear_all()
            loader.batch = None
