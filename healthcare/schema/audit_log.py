"""The audit trail: administrators search it; patients see who accessed their records."""

import uuid
from datetime import datetime

import strawberry

from healthcare import models
from healthcare.graphql.errors import within_calendar
from healthcare.graphql.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.graphql.permissions import (
    HasRole,
    IsAdmin,
    SeenByAdministrators,
    allow,
    signed_in_user,
)
from healthcare.resolvers.visibility import visible
from healthcare.schema.loaders import Info
from healthcare.schema.users import STAFF_NAME, staff_identity_hidden
from healthcare.security import audit
from healthcare.validators import parse_id

AuditAction = models.AuditAction
strawberry.enum(AuditAction, description="What was done with the data.")
AuditEntity = models.AuditEntity
strawberry.enum(AuditEntity, description="Which kind of health data.")
# Fields a patient is not told were read: the author's own notes.
AUTHOR_ONLY_FIELDS = frozenset({"privateNotes"})


@strawberry.type(description="One access to health data, or one refused attempt.")
class AuditEvent:
    id: strawberry.ID
    created_at: datetime
    recorded_actor_id: strawberry.Private[uuid.UUID | None]
    actor_role: str | None
    patient_id: strawberry.ID | None = strawberry.field(description="The patient concerned.")
    entity: AuditEntity
    entity_id: str | None
    action: AuditAction
    fields_accessed: strawberry.Private[list[str]]
    allowed: bool
    client_address: str | None = strawberry.field(
        description="The client's IP address. Null for anyone but administrators.",
        extensions=allow(SeenByAdministrators(), silent=True),
    )
    request_id: str | None = strawberry.field(
        description="The request's id (X-Request-ID). Null for anyone but administrators.",
        extensions=allow(SeenByAdministrators(), silent=True),
    )

    @strawberry.field(
        description="The fields asked for (names only). The author's private notes are "
        "named to administrators only."
    )
    def fields(self, info: Info) -> list[str]:
        viewer = info.context.viewer.user
        if viewer is not None and viewer.is_admin:
            return self.fields_accessed
        return [name for name in self.fields_accessed if name not in AUTHOR_ONLY_FIELDS]

    def _staff_hidden(self, info: Info) -> bool:
        actor_is_admin = self.actor_role == models.Role.ADMIN.value
        return staff_identity_hidden(actor_is_admin, info.context.viewer.user)

    @strawberry.field(
        description="Who acted. Null when nobody was signed in, and, for anyone but "
        "administrators, when it was clinic staff (an administrator): `actorRole` is ADMIN."
    )
    def actor_id(self, info: Info) -> strawberry.ID | None:
        if self.recorded_actor_id is None or self._staff_hidden(info):
            return None
        return strawberry.ID(str(self.recorded_actor_id))

    @strawberry.field(
        description=f'The actor\'s name, when there is one; "{STAFF_NAME}" for an '
        "administrator, to anyone but administrators."
    )
    async def actor_name(self, info: Info) -> str | None:
        if self.recorded_actor_id is None:
            return None
        if self._staff_hidden(info):
            return STAFF_NAME
        actor = await info.context.loaders.user_by_id.load(self.recorded_actor_id)
        return actor.full_name if actor else None

    @classmethod
    def from_model(cls, row: models.AuditEvent) -> "AuditEvent":
        def as_id(value: uuid.UUID | None) -> strawberry.ID | None:
            return strawberry.ID(str(value)) if value else None

        return cls(
            id=strawberry.ID(str(row.id)),
            created_at=row.created_at,
            recorded_actor_id=row.actor_id,
            actor_role=row.actor_role,
            patient_id=as_id(row.patient_id),
            entity=row.entity,
            entity_id=row.entity_id,
            action=row.action,
            fields_accessed=list(row.fields_accessed or []),
            allowed=row.allowed,
            client_address=row.client_address,
            request_id=row.request_id,
        )


AuditEventConnection = Connection[AuditEvent]


@strawberry.type
class Query:
    @strawberry.field(
        description="The audit trail, oldest first (newest first with `newestFirst`), "
        "filtered. Administrators only. It "
        "cannot be changed or deleted through the API (nor, on PostgreSQL, at all).",
        extensions=allow(IsAdmin()),
    )
    async def audit_events(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        actor_id: strawberry.ID | None = None,
        patient_id: strawberry.ID | None = None,
        entity: AuditEntity | None = None,
        action: AuditAction | None = None,
        allowed: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest_first: bool = False,
    ) -> AuditEventConnection:
        await audit.written()
        rows = visible(signed_in_user(info), models.AuditEvent)
        if actor_id is not None:
            rows = rows.filter(actor_id=parse_id(actor_id))
        if patient_id is not None:
            rows = rows.filter(patient_id=parse_id(patient_id))
        if entity is not None:
            rows = rows.filter(entity=entity)
        if action is not None:
            rows = rows.filter(action=action)
        if allowed is not None:
            rows = rows.filter(allowed=allowed)
        if since is not None:
            rows = rows.filter(created_at__gte=within_calendar(since, "since"))
        if until is not None:
            rows = rows.filter(created_at__lt=within_calendar(until, "until"))
        return await paginate(rows, AuditEvent.from_model, first, after, newest_first=newest_first)

    @strawberry.field(
        description="Who else read or changed your records, and when, oldest first (newest "
        "first with `newestFirst`). Patients only.",
        extensions=allow(HasRole(models.Role.PATIENT)),
    )
    async def my_record_access(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        newest_first: bool = False,
    ) -> AuditEventConnection:
        me = signed_in_user(info)
        await audit.written()
        rows = visible(me, models.AuditEvent)
        return await paginate(rows, AuditEvent.from_model, first, after, newest_first=newest_first)
