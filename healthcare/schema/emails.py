"""Email: each user's choice of emails, and the delivery list administrators watch."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import strawberry

from healthcare import models
from healthcare.failures import InvalidEmailTokenError
from healthcare.graphql.errors import InvalidEmailToken, mutation, result_of
from healthcare.graphql.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.graphql.permissions import IsAdmin, allow, signed_in_user
from healthcare.resolvers import emails as resolvers
from healthcare.resolvers.visibility import visible
from healthcare.schema.loaders import Info
from healthcare.schema.users import User, related_user

EmailKind = models.EmailKind
strawberry.enum(EmailKind, description="What an email is about.")
EmailStatus = models.EmailStatus
strawberry.enum(EmailStatus, description="Where an email is on its way.")


@strawberry.type(
    description="Which emails you get, per topic (on: true). Emails about your account "
    "(password, address) always come. Defaults: patients get all four; doctors appointment "
    "changes and unread messages; administrators unread messages."
)
class EmailPreferences:
    appointment_changes: bool = strawberry.field(
        description="An appointment booked, moved or cancelled, with a calendar invite."
    )
    reminders: bool = strawberry.field(
        description="Before each appointment (by default a day and an hour before)."
    )
    chat_messages: bool = strawberry.field(
        description="A chat message you have not read in the app some minutes after it came."
    )
    consultation_updates: bool = strawberry.field(
        description="Your visit notes written, changed or signed, if not seen in the app."
    )

    @classmethod
    def of(cls, preferences: resolvers.Preferences) -> "EmailPreferences":
        return cls(**asdict(preferences))


@strawberry.input(description="Topics to change; leave one out to keep it.")
class EmailPreferencesInput:
    appointment_changes: bool | None = None
    reminders: bool | None = None
    chat_messages: bool | None = None
    consultation_updates: bool | None = None


EmailPreferencesResult = Annotated[
    EmailPreferences | InvalidEmailToken, strawberry.union("EmailPreferencesResult")
]
UpdateEmailPreferencesResult = Annotated[
    EmailPreferences | InvalidEmailToken, strawberry.union("UpdateEmailPreferencesResult")
]


@strawberry.type(
    description="One email and how its delivery went. Never its content: who, what kind, when."
)
class EmailDelivery:
    id: strawberry.ID
    message_id: str = strawberry.field(description="Its Message-ID header, the same on retries.")
    kind: EmailKind
    to_address: str
    status: EmailStatus
    attempts: int
    last_error: str | None = strawberry.field(
        description="The SMTP server's answer (or what failed) at the last failed attempt."
    )
    created_at: datetime
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried (again); null once sent, failed or skipped."
    )
    sent_at: datetime | None
    failed_at: datetime | None
    recipient_id: strawberry.Private[object]

    @strawberry.field(description="The account it was sent to; null if deleted since.")
    async def recipient(self, info: Info) -> User | None:
        if self.recipient_id is None:
            return None
        return await related_user(info, self.recipient_id)  # type: ignore[arg-type]

    @classmethod
    def from_model(cls, row: models.EmailMessage) -> "EmailDelivery":
        return cls(
            id=strawberry.ID(str(row.id)),
            message_id=row.message_id,
            kind=row.kind,
            to_address=row.to_address,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            next_attempt_at=row.not_before if row.status == EmailStatus.PENDING else None,
            sent_at=row.sent_at,
            failed_at=row.failed_at,
            recipient_id=row.recipient_id,
        )


async def preferences_owner(info: Info, token: str | None) -> models.User:
    """With a token, the link's user; without, the signed-in user (UNAUTHENTICATED if
    nobody is signed in)."""
    if token is None:
        return signed_in_user(info)
    return await resolvers.preferences_owner(token, info.context.settings)


@strawberry.type
class Query:
    @strawberry.field(
        description="Your email preferences: signed in, or with the token from the link at "
        "the end of any email (which needs no sign-in)."
    )
    async def email_preferences(
        self, info: Info, token: str | None = None
    ) -> EmailPreferencesResult:
        try:
            owner = await preferences_owner(info, token)
        except InvalidEmailTokenError as failure:
            return result_of(failure)  # type: ignore[return-value]
        return EmailPreferences.of(await resolvers.preferences_of(owner))

    @strawberry.field(
        description="Emails sent, waiting or failed, newest last; filter by status (FAILED: "
        "what needs attention), kind or address. Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def email_deliveries(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        status: EmailStatus | None = None,
        kind: EmailKind | None = None,
        to_address: str | None = None,
    ) -> Connection[EmailDelivery]:
        queryset = visible(signed_in_user(info), models.EmailMessage)
        if status is not None:
            queryset = queryset.filter(status=status)
        if kind is not None:
            queryset = queryset.filter(kind=kind)
        if to_address is not None:
            queryset = queryset.filter(to_address=to_address.strip().lower())
        return await paginate(queryset, EmailDelivery.from_model, first, after)


@strawberry.type
class Mutation:
    @mutation(
        description="Change which emails you get: signed in, or with the token from the link "
        "at the end of any email."
    )
    async def update_email_preferences(
        self, info: Info, input: EmailPreferencesInput, token: str | None = None
    ) -> UpdateEmailPreferencesResult:
        owner = await preferences_owner(info, token)
        changes = {key: value for key, value in vars(input).items() if value is not None}
        return EmailPreferences.of(await resolvers.update_preferences(owner, changes))
