"""Notifications: what someone else did that you must hear about, live and persisted."""

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from healthcare import models
from healthcare.failures import NotFoundError
from healthcare.graphql.auditing import DeniedWhenNull
from healthcare.graphql.errors import mutation
from healthcare.graphql.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.graphql.permissions import IsAuthenticated, allow, signed_in_user
from healthcare.realtime import pubsub
from healthcare.resolvers import notifications as resolvers
from healthcare.resolvers.visibility import visible
from healthcare.schema.loaders import Info

NotificationKind = models.NotificationKind
strawberry.enum(NotificationKind, description="What a notification is about.")


@strawberry.type(
    description="Something another person did that concerns you. Title and body never "
    "carry clinical details; follow the link ids to the record."
)
class Notification:
    id: strawberry.ID
    seq: int = strawberry.field(
        description="Your notifications are numbered in the order they were written (rising; "
        "one about something you may no longer see is skipped): pass the last one you saw "
        "as `afterSeq` when you subscribe again."
    )
    kind: NotificationKind
    title: str
    body: str
    appointment_id: strawberry.ID | None
    consultation_id: strawberry.ID | None
    conversation_id: strawberry.ID | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def from_model(cls, row: models.Notification) -> "Notification":
        def ref(value: object) -> strawberry.ID | None:
            return strawberry.ID(str(value)) if value else None

        return cls(
            id=strawberry.ID(str(row.id)),
            seq=row.seq,
            kind=row.kind,
            title=row.title,
            body=row.body,
            appointment_id=ref(row.appointment_id),
            consultation_id=ref(row.consultation_id),
            conversation_id=ref(row.conversation_id),
            created_at=row.created_at,
            read_at=row.read_at,
        )


NotificationConnection = Connection[Notification]


@strawberry.type
class MarkedRead:
    count: int = strawberry.field(description="How many notifications were newly marked read.")
    unread_count: int = strawberry.field(description="How many remain unread.")


@strawberry.type
class Query:
    @strawberry.field(
        description="Your notifications, oldest first, or newest first with `newestFirst` "
        "(a bell's list: its cursors page on to older ones).",
        extensions=allow(IsAuthenticated()),
    )
    async def my_notifications(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        unread_only: bool = False,
        newest_first: bool = False,
    ) -> NotificationConnection:
        rows = visible(signed_in_user(info), models.Notification)
        if unread_only:
            rows = rows.filter(read_at__isnull=True)
        return await paginate(
            rows, Notification.from_model, first, after, newest_first=newest_first
        )

    @strawberry.field(
        description="One of your notifications, which opening marks read; null if none.",
        extensions=[
            *allow(IsAuthenticated()),
            DeniedWhenNull(models.AuditEntity.NOTIFICATION),
        ],
    )
    async def notification(self, info: Info, id: strawberry.ID) -> Notification | None:
        try:
            row = await resolvers.open_notification(signed_in_user(info), id)
        except NotFoundError:
            return None
        return Notification.from_model(row)

    @strawberry.field(
        description="How many of your notifications are unread.",
        extensions=allow(IsAuthenticated()),
    )
    async def unread_notification_count(self, info: Info) -> int:
        return await resolvers.unread_count(signed_in_user(info))

    @strawberry.field(
        description="The `seq` of your newest notification (0 before any): read it with "
        "the count, then subscribe to `notificationAdded(afterSeq:)` with it, and nothing "
        "that arrives in between is missed.",
        extensions=allow(IsAuthenticated()),
    )
    async def last_notification_seq(self, info: Info) -> int:
        return await resolvers.last_seq(signed_in_user(info))


@strawberry.type
class Mutation:
    @mutation(
        description="Mark some of your notifications read (at most 100 ids; ids that are "
        "not yours change nothing).",
        extensions=allow(IsAuthenticated()),
    )
    async def mark_notifications_read(self, info: Info, ids: list[strawberry.ID]) -> MarkedRead:
        user = signed_in_user(info)
        count = await resolvers.mark_read(user, ids)
        return MarkedRead(count=count, unread_count=await resolvers.unread_count(user))

    @mutation(description="Mark all your notifications read.", extensions=allow(IsAuthenticated()))
    async def mark_all_notifications_read(self, info: Info) -> MarkedRead:
        user = signed_in_user(info)
        count = await resolvers.mark_all_read(user)
        return MarkedRead(count=count, unread_count=0)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Your new notifications as they happen. Pass `afterSeq` (the last `seq` "
        "you saw) to first get those you missed, then live ones: none missed, no duplicate.",
        extensions=allow(IsAuthenticated()),
    )
    async def notification_added(
        self, info: Info, after_seq: int | None = None
    ) -> AsyncGenerator[Notification, None]:
        user = signed_in_user(info)
        if after_seq is None:
            after_seq = await resolvers.last_seq(user)

        async def fetch_after(seq: int, announced: int | None) -> list[models.Notification]:
            return await resolvers.after_seq(user, seq)

        async for row in pubsub.stream(
            pubsub.notifications_channel(user.id), after_seq, fetch_after, lambda r: r.seq
        ):
            yield Notification.from_model(row)
