"""The mail worker: sends what the outbox holds, once, from any number of instances.

Claiming: one statement takes a batch of due rows and leases them to this worker
(`lease_id`, `leased_until`); on PostgreSQL the batch is chosen `FOR UPDATE SKIP LOCKED`,
so two instances polling at once take different rows, and a row leased by one is not due
for another until its lease runs out (SQLite has a single writer: the statement is
atomic there as it is). A worker that dies mid-batch leaves its rows leased; they are due
again when the lease ends, with the same Message-ID. Outcomes are written only while the
lease is still this worker's.

Retries: a temporary failure (the server down, busy, 4xx) is tried again after
EMAIL_RETRY_BASE_SECONDS, doubling each time up to an hour; after EMAIL_MAX_ATTEMPTS, or
at once on a permanent failure (5xx), the row is FAILED and shows in `emailDeliveries`.
Once a row is SENT or FAILED its body and invite are erased (they can hold one-time
links); who, what kind and when stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections

from healthcare import db, models
from healthcare.config import Settings
from healthcare.mail.transport import Failure, Outcome, Transport, compose, transport_for
from healthcare.security.auth import utcnow

logger = logging.getLogger(__name__)

BATCH_SIZE = 50
# A worker begins no message after half its lease: the last one (a few SMTP commands,
# each with its own 30 s timeout) ends before the lease does, so no other instance can
# claim a row while it is being sent.
LEASE_SECONDS = 300
SEND_WINDOW_SECONDS = LEASE_SECONDS / 2
# How long stopping waits for the batch in hand (a deploy): rows it could not finish are
# sent again, by any instance, once their lease runs out.
STOP_GRACE_SECONDS = 20
MAX_RETRY_DELAY_SECONDS = 3600

Status = models.EmailStatus

CLAIM_SQL = """
UPDATE "email_messages"
SET "lease_id" = $1, "leased_until" = $2, "attempts" = "attempts" + 1
WHERE "id" IN (
    SELECT "id" FROM "email_messages"
    WHERE "status" = 'PENDING' AND "not_before" <= $3
      AND ("leased_until" IS NULL OR "leased_until" < $3)
    ORDER BY "not_before"
    LIMIT $4
    {lock}
)
RETURNING *
"""


def retry_delay(attempts: int, settings: Settings) -> timedelta:
    """30 s, 1 min, 2 min, ... at most an hour (with the default base)."""
    seconds = settings.email_retry_base_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, MAX_RETRY_DELAY_SECONDS))


async def always(email: models.EmailMessage) -> bool:
    return True


class MailWorker:
    """`still_needed` is asked about each email when its turn comes (the domain's rule:
    an email about an unread chat message is not needed once it has been read); those
    that are not are SKIPPED."""

    def __init__(
        self,
        settings: Settings,
        transport: Transport | None = None,
        still_needed: Callable[[models.EmailMessage], Awaitable[bool]] = always,
    ) -> None:
        self.settings = settings
        self.transport = transport or transport_for(settings)
        self.still_needed = still_needed
        self._bell = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Something was just committed to the outbox: look now, not at the next poll."""
        self._bell.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-worker")

    async def stop(self) -> None:
        """Finish the batch in hand (within STOP_GRACE_SECONDS), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._bell.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._bell.clear()
            try:
                handled = await self.deliver_due()
            except Exception:  # the database is away: try again at the next poll
                logger.exception("mail worker: could not look at the outbox")
                handled = 0
            if handled == BATCH_SIZE or self._stopping:
                continue  # there may be more; or stop now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bell.wait(), self.settings.email_poll_seconds)

    async def claim(self, now: datetime) -> tuple[uuid.UUID, list[models.EmailMessage]]:
        lease = uuid.uuid4()
        postgres = connections.get("default").capabilities.dialect == "postgres"
        sql = CLAIM_SQL.format(lock="FOR UPDATE SKIP LOCKED" if postgres else "")
        rows = await db.fetch_all(
            sql, lease, now + timedelta(seconds=LEASE_SECONDS), now, BATCH_SIZE
        )
        return lease, [db.model_from_row(models.EmailMessage, row) for row in rows]

    async def deliver_due(self, now: datetime | None = None) -> int:
        """Send one batch of due emails; how many were handled."""
        lease, rows = await self.claim(now or utcnow())
        if not rows:
            return 0
        to_send = [row for row in rows if await self.still_needed(row)]
        skipped = [row.id for row in rows if row not in to_send]
        if skipped:
            await self._finish(lease, skipped, Status.SKIPPED)
        if to_send:
            await self._record(lease, to_send, await self._send(to_send))
        return len(rows)

    async def _send(self, rows: list[models.EmailMessage]) -> list[Outcome]:
        """What became of each row: a message that cannot be composed fails for good; an
        unexpected error of the transport fails the batch for now (retried, counted)."""
        outcomes: list[Outcome] = [None] * len(rows)
        messages = {}
        for index, row in enumerate(rows):
            try:
                messages[index] = compose(row, self.settings)
            except Exception as error:
                logger.exception("email could not be composed", extra={"email_id": str(row.id)})
                outcomes[index] = Failure(True, f"could not be composed: {type(error).__name__}")
        until = time.monotonic() + SEND_WINDOW_SECONDS
        try:
            sent = await self.transport.send(list(messages.values()), until)
        except Exception as error:
            logger.exception("mail worker: the transport failed")
            sent = [Failure(False, f"transport error: {type(error).__name__}")] * len(messages)
        for index, outcome in zip(messages, sent, strict=True):
            outcomes[index] = outcome
        return outcomes

    async def _record(
        self, lease: uuid.UUID, rows: list[models.EmailMessage], outcomes: list[Outcome]
    ) -> None:
        now = utcnow()
        sent = [row.id for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
        if sent:
            await self._finish(lease, sent, Status.SENT, sent_at=now)
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome is not None:
                await self._failed(lease, row, outcome, now)

    async def _failed(
        self, lease: uuid.UUID, row: models.EmailMessage, failure: Failure, now: datetime
    ) -> None:
        log = {"email_id": str(row.id), "kind": row.kind.value, "attempts": row.attempts}
        if failure.permanent or row.attempts >= self.settings.email_max_attempts:
            logger.warning("email failed for good", extra={**log, "reason": failure.reason})
            await self._finish(
                lease, [row.id], Status.FAILED, failed_at=now, last_error=failure.reason
            )
            return
        logger.info("email will be tried again", extra={**log, "reason": failure.reason})
        await models.EmailMessage.filter(id=row.id, lease_id=lease).update(
            lease_id=None,
            leased_until=None,
            not_before=now + retry_delay(row.attempts, self.settings),
            last_error=failure.reason,
        )

    @staticmethod
    async def _finish(
        lease: uuid.UUID, ids: list[uuid.UUID], status: models.EmailStatus, **values: Any
    ) -> None:
        await models.EmailMessage.filter(id__in=ids, lease_id=lease).update(
            status=status, lease_id=None, leased_until=None, body="", calendar=None, **values
        )
