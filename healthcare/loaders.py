"""Per-operation DataLoaders: one per (thing, key). Batch functions run one query."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from healthcare import models

M = TypeVar("M", bound=Model)


def by_id(model: type[M]) -> Callable[[Sequence[uuid.UUID]], Awaitable[list[M | None]]]:
    """A batch function loading `model` rows by primary key, in key order."""

    async def load(keys: Sequence[uuid.UUID]) -> list[M | None]:
        rows = await model.filter(id__in=list(keys))
        found: dict[Any, M] = {row.pk: row for row in rows}
        return [found.get(key) for key in keys]

    return load


@dataclass
class Loaders:
    user_by_id: DataLoader[uuid.UUID, models.User | None] = field(
        default_factory=lambda: DataLoader(load_fn=by_id(models.User))
    )
