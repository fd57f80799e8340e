"""The outbox: what a transaction leaves to do once it has committed.

Write path: a domain service opens `atomic()`, writes its change, and queues doorbell
events (`queue`) and actions (`after_commit`); `atomic()` runs and publishes them only
after the transaction commits, never for one rolled back. Events carry ids and sequence
numbers only, never health data: a subscriber reloads the rows through the normal
permission checks. The database is the source of truth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from healthcare.realtime import pubsub


@dataclass(frozen=True)
class Event:
    channel: str
    payload: dict[str, Any]


@dataclass
class Outbox:
    """What a transaction leaves for after its commit."""

    events: list[Event] = field(default_factory=list)
    actions: list[Callable[[], None]] = field(default_factory=list)


_outbox: ContextVar[Outbox | None] = ContextVar("healthcare_outbox", default=None)


@asynccontextmanager
async def atomic() -> AsyncIterator[None]:
    """A transaction whose queued events are published once it has committed.

    Nested inside another `atomic()`, the outermost one publishes. On an error nothing is
    published: the rows were rolled back, so there is nothing to hear about. A nested one
    that fails rolls back to its savepoint and drops what it queued, even if the outer
    one goes on to commit.
    """
    outer = _outbox.get()
    if outer is not None:
        events, actions = len(outer.events), len(outer.actions)
        try:
            async with in_transaction():
                yield
        except BaseException:
            del outer.events[events:], outer.actions[actions:]
            raise
        return
    outbox = Outbox()
    token = _outbox.set(outbox)
    try:
        async with in_transaction():
            yield
    finally:
        _outbox.reset(token)
    for action in outbox.actions:
        action()
    for event in outbox.events:
        await pubsub.publish(event.channel, event.payload)


def _current_outbox() -> Outbox:
    outbox = _outbox.get()
    if outbox is None:
        raise RuntimeError("this belongs inside atomic(): it is done after the commit")
    return outbox


def require_transaction() -> None:
    """Raise unless called inside `atomic()`."""
    _current_outbox()


def queue(event: Event) -> None:
    """Publish `event` after the current `atomic()` transaction commits."""
    _current_outbox().events.append(event)


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` once the current `atomic()` transaction has committed, before its
    events are published (so that what a subscriber reads on hearing them is in place)."""
    _current_outbox().actions.append(action)
