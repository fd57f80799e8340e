"""Users: the `User` type, who may read which of its fields, and account management."""

import uuid
from collections.abc import Awaitable
from datetime import date, datetime
from typing import Annotated, cast

import strawberry
from strawberry.file_uploads import Upload

from healthcare import audit, models
from healthcare.context import Info
from healthcare.errors import InputError, NotFound, ValidationFailed, bad_argument, not_found
from healthcare.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.permissions import IsAdmin, IsAuthenticated, IsSelfOrAdmin, allow, signed_in_user
from healthcare.ratelimit import UPLOAD, RateLimited
from healthcare.resolvers import availability
from healthcare.resolvers import users as resolvers

Role = models.Role
strawberry.enum(Role, description="What a user is to the clinic.")


def someone_elses_patient_profile(user: "User", viewer: models.User | None) -> bool:
    """A patient's profile is health data when someone else reads it."""
    return user.role == Role.PATIENT and (viewer is None or str(viewer.id) != user.id)


@strawberry.type(description="A patient, a doctor or an administrator.")
@audit.audited(
    models.AuditEntity.PATIENT_PROFILE,
    patient=lambda user: uuid.UUID(user.id),
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
    profile_picture: strawberry.Private[str | None]

    @strawberry.field(description="First and last name together.")
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @strawberry.field(description="Absolute URL of the profile picture, or null.")
    def profile_picture_url(self, info: Info) -> str | None:
        if not self.profile_picture:
            return None
        base = str(info.context.request.base_url).replace("ws", "http", 1)
        return f"{base.rstrip('/')}/media/{self.profile_picture}"

    @classmethod
    def from_model(cls, user: models.User) -> "User":
        return cls(
            id=strawberry.ID(str(user.id)),
            first_name=user.first_name,
            last_name=user.last_name,
            role=user.role,
            bio=user.bio,
            specialty=user.specialty,
            created_at=user.created_at,
            email=user.email,
            phone_number=user.phone_number,
            is_active=user.is_active,
            profile_picture=user.profile_picture,
        )


UserConnection = Connection[User]


def related_user(info: Info, user_id: uuid.UUID) -> User | Awaitable[User]:
    """A user reached through a row the viewer may see; foreign keys guarantee it exists.
    At once when the operation has loaded it ahead (declare the field `graphql_type=User`)."""

    def existing(row: models.User | None) -> User:
        if row is None:
            raise LookupError(f"user {user_id} referenced but missing")
        return User.from_model(row)

    return info.context.loaders.user_by_id.load_now_or_later(user_id, existing)


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


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user.", extensions=allow(IsAuthenticated()))
    def me(self, info: Info) -> User:
        return User.from_model(signed_in_user(info))

    @strawberry.field(
        description="A user by id: yourself, any doctor, or anyone for administrators. "
        "Null when there is no such user you may see.",
        extensions=[*allow(IsAuthenticated()), audit.DeniedWhenNull(models.AuditEntity.USER)],
    )
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        found = await resolvers.find_visible_user(signed_in_user(info), id)
        return User.from_model(found) if found is not None else None

    @strawberry.field(
        description="Every account. Administrators only.", extensions=allow(IsAdmin())
    )
    async def users(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        role: Role | None = None,
        active: bool | None = None,
    ) -> UserConnection:
        queryset = resolvers.visible_users(signed_in_user(info))
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
        queryset = resolvers.visible_users(signed_in_user(info)).filter(
            role=models.Role.DOCTOR, is_active=True
        )
        if specialty:
            try:
                wanted = resolvers.clean_text(specialty, "specialty", 100)
            except InputError as error:
                raise bad_argument("specialty", error.message) from None
            queryset = queryset.filter(specialty__iexact=wanted)
        if free_from is not None or free_to is not None:
            if free_from is None or free_to is None:
                raise bad_argument("freeTo", "give both freeFrom and freeTo.")
            candidates = cast(list[uuid.UUID], await queryset.values_list("id", flat=True))
            try:
                free = await availability.doctors_with_free_slots(candidates, free_from, free_to)
            except InputError as error:
                raise bad_argument("freeTo", error.message) from None
            queryset = queryset.filter(id__in=list(free))
        return await paginate(queryset, User.from_model, first, after)


@strawberry.type
class Mutation:
    @strawberry.mutation(
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
        try:
            user = await resolvers.update_profile(
                signed_in_user(info), changes, info.context.settings.default_phone_region
            )
        except InputError as error:
            return error.as_result()
        return user_payload(user)

    @strawberry.mutation(
        description="Upload a JPEG, PNG or WebP picture (GraphQL multipart request): at most "
        "16 megapixels (JPEG: 50). It is scaled to fit 1024x1024 and its metadata is "
        "removed. A few uploads an hour per account: over the limit, a top-level "
        "RATE_LIMITED error gives `retryAfterSeconds`.",
        extensions=[*allow(IsAuthenticated()), RateLimited(UPLOAD, account=viewer_id)],
    )
    async def upload_profile_picture(self, info: Info, file: Upload) -> ProfilePictureResult:
        settings = info.context.settings
        try:
            user = await resolvers.set_profile_picture(
                signed_in_user(info), file, settings.media_dir, settings.max_upload_bytes
            )
        except InputError as error:
            return error.as_result()
        return user_payload(user)

    @strawberry.mutation(
        description="Remove your profile picture.", extensions=allow(IsAuthenticated())
    )
    async def remove_profile_picture(self, info: Info) -> UserPayload:
        user = await resolvers.remove_profile_picture(
            signed_in_user(info), info.context.settings.media_dir
        )
        return user_payload(user)

    @strawberry.mutation(
        description="Create an account of any role. Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserResult:
        try:
            user = await resolvers.create_account(
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
        except InputError as error:
            return error.as_result()
        return user_payload(user)

    @strawberry.mutation(
        description="Deactivate (ends all their sessions at once) or reactivate an account. "
        "Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def set_user_active(
        self, info: Info, user_id: strawberry.ID, active: bool
    ) -> AdminUserChangeResult:
        admin = signed_in_user(info)
        target = await resolvers.find_visible_user(admin, user_id)
        if target is None:
            return not_found("user")
        try:
            return user_payload(await resolvers.set_active(admin, target, active))
        except InputError as error:
            return error.as_result()

    @strawberry.mutation(
        description="Change an account's role (ends all their sessions). Doctors need a "
        "specialty. Administrators only.",
        extensions=allow(IsAdmin()),
    )
    async def change_user_role(
        self, info: Info, user_id: strawberry.ID, role: Role, specialty: str | None = None
    ) -> AdminUserChangeResult:
        admin = signed_in_user(info)
        target = await resolvers.find_visible_user(admin, user_id)
        if target is None:
            return not_found("user")
        try:
            return user_payload(
                await resolvers.change_role(admin, target, models.Role(role), specialty)
            )
        except InputError as error:
            return error.as_result()
