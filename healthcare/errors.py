"""Error codes and the shared error types.

Two kinds of failure reach a client:
- expected failures of a mutation, returned as members of the mutation's result union,
  each implementing the `Error` interface (`message`, `code`);
- top-level GraphQL errors with `extensions.code`: UNAUTHENTICATED, FORBIDDEN, and
  INTERNAL_SERVER_ERROR for bugs, whose text is masked.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from asyncpg import PostgresError
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from tortoise.exceptions import BaseORMException

logger = logging.getLogger(__name__)


@strawberry.enum(description="Machine-readable reason for an expected mutation failure.")
class ErrorCode(Enum):
    VALIDATION_FAILED = "VALIDATION_FAILED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_DEACTIVATED = "ACCOUNT_DEACTIVATED"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"  # noqa: S105 (an error code)
    NOT_FOUND = "NOT_FOUND"
    SLOT_UNAVAILABLE = "SLOT_UNAVAILABLE"
    INVALID_STATUS_TRANSITION = "INVALID_STATUS_TRANSITION"
    CONSULTATION_SIGNED = "CONSULTATION_SIGNED"


@strawberry.interface(description="Implemented by every expected mutation failure.")
class Error:
    message: str = strawberry.field(description="Human-readable; safe to show to the user.")
    code: ErrorCode


@strawberry.type(description="One input field that was rejected, and why.")
class FieldError:
    field: str = strawberry.field(description="The input field's name, as in the schema.")
    message: str


@strawberry.type(description="The input was rejected; `fieldErrors` names each bad field.")
class ValidationFailed(Error):
    field_errors: list[FieldError]


@strawberry.type(description="The email and password do not match an account.")
class InvalidCredentials(Error):
    pass


@strawberry.type(description="The password was right, but the account is deactivated.")
class AccountDeactivated(Error):
    pass


@strawberry.type(
    description="The refresh token is unknown, expired, already used or revoked. Sign in again."
)
class InvalidRefreshToken(Error):
    pass


@strawberry.type(description="Nothing with that id exists that you may see.")
class NotFound(Error):
    pass


@strawberry.type(
    description="The time is taken (by the doctor or by you), off the doctor's hours, in "
    "their time off, or in the past. Pick another slot from `availableSlots`."
)
class SlotUnavailable(Error):
    pass


@strawberry.type(description="The appointment's status does not allow this change.")
class InvalidStatusTransition(Error):
    current_status: str = strawberry.field(description="The appointment's status now.")


@strawberry.type(
    description="The consultation is signed: it can no longer change; add an addendum."
)
class ConsultationSigned(Error):
    pass


class ExpectedFailure(Exception):
    """A resolver's expected failure; the schema returns `as_result()` in the union."""

    # Any: each mutation's result union lists the failures it can return, which mypy
    # cannot relate to this base class.
    def as_result(self) -> Any:
        raise NotImplementedError


class InputError(ExpectedFailure):
    """Raised by validators: one input field and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def as_result(self) -> ValidationFailed:
        return validation_failed({self.field: self.message})


class NotFoundError(ExpectedFailure):
    """No such row, or one the viewer may not see: the same answer for both."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def as_result(self) -> NotFound:
        return not_found(self.what)


class SlotUnavailableError(ExpectedFailure):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_result(self) -> SlotUnavailable:
        return SlotUnavailable(message=self.message, code=ErrorCode.SLOT_UNAVAILABLE)


class InvalidTransitionError(ExpectedFailure):
    def __init__(self, current_status: str, message: str) -> None:
        super().__init__(message)
        self.current_status = current_status
        self.message = message

    def as_result(self) -> InvalidStatusTransition:
        return InvalidStatusTransition(
            message=self.message,
            code=ErrorCode.INVALID_STATUS_TRANSITION,
            current_status=self.current_status,
        )


class ConsultationSignedError(ExpectedFailure):
    def as_result(self) -> ConsultationSigned:
        return ConsultationSigned(
            message="This consultation is signed and can no longer be changed; "
            "add an addendum instead.",
            code=ErrorCode.CONSULTATION_SIGNED,
        )


def validation_failed(errors: dict[str, str]) -> ValidationFailed:
    fields = ", ".join(errors)
    return ValidationFailed(
        message=f"Please correct: {fields}.",
        code=ErrorCode.VALIDATION_FAILED,
        field_errors=[FieldError(field=name, message=text) for name, text in errors.items()],
    )


def invalid_credentials() -> InvalidCredentials:
    return InvalidCredentials(
        message="Email or password is incorrect.", code=ErrorCode.INVALID_CREDENTIALS
    )


def not_found(what: str) -> NotFound:
    return NotFound(message=f"No {what} with that id.", code=ErrorCode.NOT_FOUND)


# Top-level error codes, in `extensions.code` (the names Apollo's tooling knows).
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


# Where graphql-core's account of a bad variable starts quoting the value it was given.
_QUOTED_VALUE = re.compile(r"\s*[,;.]?\s*(?:but encountered error|[Ff]ound)\b.*\Z", re.DOTALL)
_ENUM_VALUE = re.compile(r"\AValue .* does not exist in '(\w+)' enum", re.DOTALL)
# Quoted names of types and fields ('RegisterInput!', 'role'), which say nothing of values.
_QUOTED = re.compile(r"'([^']*)'")
_TYPE_OR_NAME = re.compile(r"[\w\[\]!]*")


def without_variable_values(message: str) -> str:
    """graphql-core's message for a variable that does not fit its type, without the
    value: `Variable '$input' has invalid value.role: Expected ... found: {'password':
    ...}` quoted the whole input back, passwords included. The variable, the path in it
    and what was expected stay; a message that could still quote a value becomes a plain
    one."""
    if not message.startswith("Variable '$"):
        return message
    head, separator, detail = message.partition(": ")
    if not separator:
        return message
    detail = _QUOTED_VALUE.sub("", detail)
    detail = _ENUM_VALUE.sub(r"Not a value of the enum '\1'", detail)
    detail = detail.split(": ")[0]  # "Int cannot represent non-integer value: 'x'"
    if not all(_TYPE_OR_NAME.fullmatch(quoted) for quoted in _QUOTED.findall(detail)):
        detail = "not a valid value of its type"
    detail = detail.rstrip(".")
    return f"{head}: {detail}" + ("" if detail.endswith("?") else ".")


def label_request_error(error: GraphQLError) -> None:
    """Give an error about the request itself (not raised by a resolver) its code; never
    echo a variable's value."""
    error.message = without_variable_values(error.message)
    extensions = dict(error.extensions or {})
    if "code" in extensions:
        return
    if error.message.startswith("Syntax Error"):
        extensions["code"] = GRAPHQL_PARSE_FAILED
    elif error.message.startswith("Variable "):
        extensions["code"] = BAD_USER_INPUT
    else:
        extensions["code"] = GRAPHQL_VALIDATION_FAILED
    error.extensions = extensions


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by code (bugs), never the ones we raise on purpose.

    Only errors raised while resolving a field carry a `path`; syntax, validation and
    variable-coercion errors ("got invalid value ...; unknown field 'role'") do not, and
    their text is graphql-core's description of the request. Permission errors and other
    deliberate errors are GraphQLErrors that carry an `extensions.code`.
    """
    original = error.original_error
    if isinstance(original, (BaseORMException, PostgresError, OverflowError)):
        return True  # the database's own words never reach a client, path or not
    if original is None or error.path is None:
        return False
    if not isinstance(original, GraphQLError):
        return True
    return not (original.extensions or {}).get("code")


class MaskUnexpectedErrors(MaskErrors):
    """Replace bugs with a generic message and INTERNAL_SERVER_ERROR; log them here."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Unexpected error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        logger.error(
            "unexpected error at %s",
            ".".join(str(part) for part in error.path or []),
            exc_info=error.original_error,
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL_SERVER_ERROR}
        return masked


def bad_argument(argument: str, message: str) -> GraphQLError:
    """A query argument is out of range: a top-level error naming the argument."""
    return GraphQLError(
        f"Argument '{argument}': {message}",
        extensions={"code": BAD_USER_INPUT, "argument": argument},
    )


def in_calendar(moment: datetime) -> bool:
    """Whether the database can compare `moment`: years 1900 to 9000, with an offset."""
    return (
        moment.tzinfo is not None
        and 1900 <= moment.year <= 9000
        and 1900 <= moment.astimezone(UTC).year <= 9000
    )


def within_calendar(moment: datetime, argument: str) -> datetime:
    """A time argument the database can compare (see `in_calendar`)."""
    if moment.tzinfo is None:
        raise bad_argument(argument, "give the time with a UTC offset, like 2027-01-01T00:00Z.")
    if not in_calendar(moment):
        raise bad_argument(argument, "give a time between the years 1900 and 9000.")
    return moment
