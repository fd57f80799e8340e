"""Permission classes: who may use an operation or read a field.

Attach them where the field is declared, through `allow(...)`:

    @strawberry.field(extensions=allow(IsAdmin()))
    async def users(...): ...

    email: str | None = strawberry.field(extensions=allow(IsSelfOrAdmin(), silent=True))

Operation-level classes raise a top-level error (UNAUTHENTICATED or FORBIDDEN). With
`silent=True` a field the viewer may not see resolves to null instead; say so in the
field's description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from healthcare import models
from healthcare.graphql.auditing import denied
from healthcare.graphql.context import AnyInfo as Info
from healthcare.graphql.errors import FORBIDDEN, UNAUTHENTICATED
from healthcare.security.auth import Viewer


def unauthenticated_error(viewer: Viewer) -> StrawberryGraphQLError:
    return StrawberryGraphQLError(
        viewer.rejection or "Sign in to do this.", extensions={"code": UNAUTHENTICATED}
    )


def forbidden_error(message: str = "You are not allowed to do this.") -> StrawberryGraphQLError:
    return StrawberryGraphQLError(message, extensions={"code": FORBIDDEN})


def signed_in_user(info: Info) -> models.User:
    """The current user, or an UNAUTHENTICATED error."""
    viewer = info.context.viewer
    if viewer.user is None:
        denied(info)
        raise unauthenticated_error(viewer)
    return viewer.user


class IsAuthenticated(BasePermission):
    """Any signed-in, active user."""

    message = "Sign in to do this."
    error_extensions = {"code": UNAUTHENTICATED}  # noqa: RUF012 (strawberry's API)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        signed_in_user(info)
        return True


class HasRole(BasePermission):
    """A signed-in user with one of the given roles; others get FORBIDDEN."""

    message = "Your role does not allow this."
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012 (strawberry's API)

    def __init__(self, *roles: models.Role) -> None:
        self.roles = frozenset(roles)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        allowed = signed_in_user(info).role in self.roles
        if not allowed:
            denied(info)
        return allowed


def IsAdmin() -> HasRole:
    return HasRole(models.Role.ADMIN)


class RowRule(BasePermission):
    """A rule of who sees a field of a row, decided by the viewer and the row alone
    (`allows`): nothing else of the operation, no refusal recorded. Used silently, the
    executor applies it per row without building a resolve info (graphql.execution's
    plain fields); through strawberry, `has_permission` asks the same question."""

    def allows(self, user: models.User | None, source: Any) -> bool:
        raise NotImplementedError

    def sql(self, user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
        """What `allows` answers, as an SQL condition on a row in the database, for
        `user`: `columns` gives the SQL of the source's attributes (`"patient_id"` ->
        `t0.patient_id`), `viewer` the placeholder of the user's id. It may decide by the
        user's role, never by their id (only through `viewer`): the condition is written
        once per role (graphql.execution.compiled; tests/test_compiled.py asks every rule
        both ways). A rule without one raises NotImplementedError: fields behind it are
        left to the executor."""
        raise NotImplementedError

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return self.allows(info.context.viewer.user, source)


class IsSelfOrAdmin(RowRule):
    """On a `User` field: the user it describes, or an admin."""

    message = "Only this user and administrators may see this."
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012 (strawberry's API)

    def allows(self, user: models.User | None, source: Any) -> bool:
        if user is None:
            return False
        return user.is_admin or str(user.id) == str(source.id)

    def sql(self, user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
        if user is None:
            return "FALSE"
        return "TRUE" if user.is_admin else f"{columns['id']} = {viewer}"


def is_party(user: models.User | None, source: Any) -> bool:
    """Whether `user` is the patient or the doctor of `source` (with `patient_id` and
    `doctor_id`) in their current role: a doctor who became a patient is no longer the
    doctor of their former patients' records."""
    if user is None:
        return False
    if user.role == models.Role.PATIENT:
        return bool(user.id == source.patient_id)
    return user.is_doctor and user.id == source.doctor_id


def party_sql(user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
    """`is_party` as an SQL condition (see `RowRule.sql`)."""
    if user is None:
        return "FALSE"
    if user.role == models.Role.PATIENT:
        return f"{columns['patient_id']} = {viewer}"
    return author_sql(user, columns, viewer)


def is_author(user: models.User | None, source: Any) -> bool:
    """Whether `user` is, still as a doctor, the doctor of `source`."""
    return user is not None and user.is_doctor and user.id == source.doctor_id


def author_sql(user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
    """`is_author` as an SQL condition (see `RowRule.sql`)."""
    if user is None or not user.is_doctor:
        return "FALSE"
    return f"{columns['doctor_id']} = {viewer}"


class SeenByAdministrators(RowRule):
    """On a field of a row others may see too, that only administrators see: null for
    everyone else. Not a refused attempt: the row is theirs to see."""

    message = "Only administrators may see this."
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012 (strawberry's API)

    def allows(self, user: models.User | None, source: Any) -> bool:
        return user is not None and user.is_admin

    def sql(self, user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
        return "TRUE" if self.allows(user, None) else "FALSE"


class IsAppointmentParty(RowRule):
    """On a field of an appointment-like source (with `patient_id` and `doctor_id`): its
    patient or its doctor, not administrators nor anyone else."""

    message = "Only the patient and the doctor may see this."
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012 (strawberry's API)

    def allows(self, user: models.User | None, source: Any) -> bool:
        return is_party(user, source)

    def sql(self, user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
        return party_sql(user, columns, viewer)


def allow(*permissions: BasePermission, silent: bool = False) -> list[FieldExtension]:
    return [
        PermissionExtension(
            permissions=list(permissions), fail_silently=silent, use_directives=False
        )
    ]


class IsConsultationAuthor(RowRule):
    """On a `Consultation` field: the doctor who wrote it, and nobody else."""

    message = "Only the consultation's author may see this."
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012 (strawberry's API)

    def allows(self, user: models.User | None, source: Any) -> bool:
        return is_author(user, source)

    def sql(self, user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
        return author_sql(user, columns, viewer)


class IsConsultationAuthorOrPatient(RowRule):
    """On a `Consultation` field: its author or its patient; not administrators, who see
    who and when but no clinical content."""

    message = "Only the consultation's author and patient may see this."
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012 (strawberry's API)

    def allows(self, user: models.User | None, source: Any) -> bool:
        return is_party(user, source)

    def sql(self, user: models.User | None, columns: Mapping[str, str], viewer: str) -> str:
        return party_sql(user, columns, viewer)
