"""Users: the `User` type, who may read which of its fields, and account management."""

import uuid
from datetime import date, datetime
from typing import Annotated

import strawberry
from starlette.datastructures import URL
from strawberry.file_uploads import Upload

from healthcare import models
from healthcare.failures import NotFoundError
from healthcare.graphql.auditing import DeniedWhenNull, audited
from healthcare.graphql.errors import NotFound, ValidationFailed, arguments_checked, mutation
from healthcare.graphql.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.graphql.permissions import (
    IsAdmin,
    IsAuthenticated,
    IsSelfOrAdmin,
    allow,
    signed_in_user,
)
from healthcare.graphql.rate_limits import RateLimited
from healthcare.resolvers import availability
from healthcare.resolvers import users as resolvers
from healthcare.resolvers.visibility import find_visible, visible
from healthcare.schema.loaders import Info
from healthcare.security.ratelimit import UPLOAD

Role = models.Role
strawberry.enum(Role, description="What a user is to the clinic.")


STAFF_NAME = resolvers.STAFF_NAME


def staff_identity_hidden(actor_is_admin: bool, viewer: models.User | None) -> bool:
    """Whether an administrator who acted is shown to `viewer` as the clinic, by role
    only, rather than by name and id: to anyone but another administrator."""
    return actor_is_admin and not (viewer is not None and viewer.is_admin)


def someone_elses_patient_profile(user: "User", viewer: models.User | None) -> bool:
    """A patient's profile is health data when someone else reads it."""
    return user.role == Role.PATIENT and (viewer is None or viewer.id != user.key)


@strawberry.type(description="A patient, a doctor or an administrator.")
@audited(
    models.AuditEntity.PATIENT_PROFILE,
    patient=lambda user: user.key,
    when=someone_elses_patient_profile,
)
class User:
    id: strawberry.ID
    first_name: str
    last_name: str
    role: Role
    bio: str
    specialty: str | None = strawberry.field(description="The doctor's specialty; null for others.")
    created_at: datetime
    email: str | None = strawberry.field(
        description="Null unless you are this user or an administrator.",
        extensions=allow(IsSelfOrAdmin(), silent=True),
    )
    phone_number: str | None = strawberry.field(
        description="E.164 form, like +14155550123. "
        "Null unless you are this user or an administrator, or when not given.",
        extensions=allow(IsSelfOrAdmin(), silent=True),
    )
    is_active: bool | None = strawberry.field(
        description="Whether the account may sign in. "
        "Null unless you are this user or an administrator.",
        extensions=allow(IsSelfOrAdmin(), silent=True),
    )
    email_verified: bool | None = strawberry.field(
        description="Whether the owner confirmed the address (a link sent to it). "
        "Null unless you are this user or an administrator.",
        extensions=allow(IsSelfOrAdmin(), silent=True),
    )
    profile_picture: strawberry.Private[str | None]
    key: strawberry.Private[uuid.UUID]  # the id, as the loaders key it

    @strawberry.field(description="First and last name together.")
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @strawberry.field(description="Absolute URL of the profile picture, or null.")
    def profile_picture_url(self, info: Info) -> str | None:
        if not self.profile_picture:
            return None
        return media_url(info.context.request.base_url, self.profile_picture)

    @classmethod
    def from_model(cls, user: models.User) -> "User":
        return cls(
            id=strawberry.ID(str(user.id)),
            key=user.id,
            first_name=user.first_name,
            last_name=user.last_name,
            role=user.role,
            bio=user.bio,
            specialty=user.specialty,
            created_at=user.created_at,
            email=user.email,
            phone_number=user.phone_number,
            is_active=user.is_active,
            email_verified=user.email_verified_at is not None,
            profile_picture=user.profile_picture,
        )


UserConnection = Connection[User]


# A page served over a WebSocket has a ws:// or wss:// base; its pictures are http(s).
HTTP_SCHEMES = {"ws": "http", "wss": "https"}


def media_url(base: URL, name: str) -> str:
    """The URL under which `/media/` serves the file `name`, on the host asked."""
    http = base.replace(scheme=HTTP_SCHEMES.get(base.scheme, base.scheme))
    return f"{str(http).rstrip('/')}/media/{name}"


async def related_user(info: Info, user_id: uuid.UUID) -> User:
    """A user reached through a row the viewer may see; foreign keys guarantee it exists."""
    row = await info.context.loaders.user_by_id.load(user_id)
    if row is None:
        raise LookupError(f"user {user_id} referenced but missing")
    return User.from_model(row)


def viewer_id(args: dict[str, object], info: Info) -> str | None:
    """Whose uploads count: the signed-in user's."""
    user = info.context.viewer.user
    return str(user.id) if user is not None else None


@strawberry.input(description="Profile fields to change; leave a field out to keep it.")
class UpdateMyProfileInput:
    first_name: str | None = None
    last_name: str | None = None
    bio: str | None = None
    phone_number: str | None = strawberry.field(
        default=None,
        description="International form, like +14155550123; an empty string removes it.",
    )


@strawberry.input(description="A new account, created by an administrator.")
class CreateUserInput:
    email: str
    password: str = strawberry.field(description="At least 10 characters.")
    first_name: str
    last_name: str
    role: Role
    specialty: str | None = strawberry.field(default=None, description="Required for doctors.")
    phone_number: str | None = None
    bio: str = ""


@strawberry.type(description="The user after the change.")
class UserPayload:
    user: User


UpdateMyProfileResult = Annotated[
    UserPayload | ValidationFailed, strawberry.union("UpdateMyProfileResult")
]
ProfilePictureResult = Annotated[
    UserPayload | ValidationFailed, strawberry.union("ProfilePictureResult")
]
CreateUserResult = Annotated[UserPayload | ValidationFailed, strawberry.union("CreateUserResult")]
AdminUserChangeResult = Annotated[
    UserPayload | NotFound | ValidationFailed, strawberry.union("AdminUserChangeResult")
]


def user_payload(user: models.User) -> UserPayload:
    return UserPayload(user=User.from_model(user))


async def visible_user(info: Info, user_id: strawberry.ID) -> models.User:
    found = await find_visible(signed_in_user(info), models.User, user_id)
    if found is None:
        raise NotFoundError("user", user_id)
    return found


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user.", extensions=allow(IsAuthenticated()))
    def me(self, info: Info) -> User:
        return User.from_model(signed_in_user(info))

    @strawberry.field(
        description="A user by id: yourself, any doctor, or anyone for administrators. "
        "Null when there is no such user you may see.",
        extensions=[*allow(IsAuthenticated()), DeniedWhenNull(models.AuditEntity.USER)],
    )
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        found = await find_visible(signed_in_user(info), models.User, id)
        return User.from_model(found) if found is not None else None

    @strawberry.field(
        description="Every account, optionally only those whose name or email contains "
        "every word of `search` (any case; at most 100 characters). Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def users(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        role: Role | None = None,
        active: bool | None = None,
        search: str | None = None,
    ) -> UserConnection:
        queryset = visible(signed_in_user(info), models.User)
        if search is not None:
            with arguments_checked():
                queryset = resolvers.matching(queryset, search)
        if role is not None:
            queryset = queryset.filter(role=role)
        if active is not None:
            queryset = queryset.filter(is_active=active)
        return await paginate(queryset, User.from_model, first, after)

    @strawberry.field(
        description="Active doctors, optionally of one specialty (any case), optionally only "
        "those with a free slot between two dates (their local dates, at most 31 days).",
        extensions=allow(IsAuthenticated()),
    )
    async def doctors(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        specialty: str | None = None,
        free_from: date | None = None,
        free_to: date | None = None,
    ) -> UserConnection:
        with arguments_checked():
            doctors = await availability.find_doctors(
                signed_in_user(info), specialty, free_from, free_to
            )
        return await paginate(doctors, User.from_model, first, after)


@strawberry.type
class Mutation:
    @mutation(
        description="Change your own name, bio or phone number.",
        extensions=allow(IsAuthenticated()),
    )
    async def update_my_profile(
        self, info: Info, input: UpdateMyProfileInput
    ) -> UpdateMyProfileResult:
        changes = resolvers.ProfileChanges(
            first_name=input.first_name,
            last_name=input.last_name,
            bio=input.bio,
            phone_number=input.phone_number,
        )
        user = await resolvers.update_profile(
            signed_in_user(info), changes, info.context.settings.default_phone_region
        )
        return user_payload(user)

    @mutation(
        description="Upload a JPEG, PNG or WebP picture (GraphQL multipart request): at most "
        "16 megapixels (JPEG: 50). It is scaled to fit 1024x1024 and its metadata is "
        "removed. A few uploads an hour per account: over the limit, a top-level "
        "RATE_LIMITED error gives `retryAfterSeconds`.",
        extensions=[*allow(IsAuthenticated()), RateLimited(UPLOAD, account=viewer_id)],
    )
    async def upload_profile_picture(self, info: Info, file: Upload) -> ProfilePictureResult:
        settings = info.context.settings
        user = await resolvers.set_profile_picture(
            signed_in_user(info), file, settings.media_dir, settings.max_upload_bytes
        )
        return user_payload(user)

    @mutation(description="Remove your profile picture.", extensions=allow(IsAuthenticated()))
    async def remove_profile_picture(self, info: Info) -> UserPayload:
        user = await resolvers.remove_profile_picture(
            signed_in_user(info), info.context.settings.media_dir
        )
        return user_payload(user)

    @mutation(
        description="Create an account of any role. Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserResult:
        user = await resolvers.create_account(
            signed_in_user(info),
            email=input.email,
            password=input.password,
            first_name=input.first_name,
            last_name=input.last_name,
            role=models.Role(input.role),
            specialty=input.specialty,
            phone_number=input.phone_number,
            bio=input.bio,
            default_phone_region=info.context.settings.default_phone_region,
        )
        return user_payload(user)

    @mutation(
        description="Deactivate (ends all their sessions at once) or reactivate an account. "
        "Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def set_user_active(
        self, info: Info, user_id: strawberry.ID, active: bool
    ) -> AdminUserChangeResult:
        target = await visible_user(info, user_id)
        return user_payload(await resolvers.set_active(signed_in_user(info), target, active))

    @mutation(
        description="Change an account's role (ends all their sessions). Doctors need a "
        "specialty. Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def change_user_role(
        self, info: Info, user_id: strawberry.ID, role: Role, specialty: str | None = None
    ) -> AdminUserChangeResult:
        target = await visible_user(info, user_id)
        changed = await resolvers.change_role(
            signed_in_user(info), target, models.Role(role), specialty
        )
        return user_payload(changed)
