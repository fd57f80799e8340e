"""Error codes and the shared error types.

Two kinds of failure reach a client:
- expected failures of a mutation, returned as members of the mutation's result union,
  each implementing the `Error` interface (`message`, `code`): a domain service raises
  one of `healthcare.failures`, and `ExpectedFailures` (on every mutation, through
  `mutation()`) returns it as its result type (`result_of`);
- top-level GraphQL errors with `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
  BAD_USER_INPUT..., INTERNAL_SERVER_ERROR for bugs, whose text is masked, and
  SERVICE_UNAVAILABLE while a dependency (the database) cannot be reached.
"""

from __future__ import annotations

import logging
import re
import socket
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from asyncpg import PostgresError
from asyncpg import exceptions as postgres
from graphql import GraphQLError
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.responses import Response
from strawberry.extensions import MaskErrors
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension
from tortoise.exceptions import BaseORMException

from healthcare import failures
from healthcare.graphql.auditing import lookup_refused
from healthcare.graphql.context import Context, RequestScope
from healthcare.ops.middleware import request_id_of

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
    REVISION_CONFLICT = "REVISION_CONFLICT"
    CALL_WINDOW_CLOSED = "CALL_WINDOW_CLOSED"
    CALL_ENDED = "CALL_ENDED"
    INVALID_EMAIL_TOKEN = "INVALID_EMAIL_TOKEN"  # noqa: S105 (an error code)
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"


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


@strawberry.type(
    description="The consultation was saved by someone else after the revision your edit "
    "started from: nothing was changed. Read it again and merge."
)
class RevisionConflict(Error):
    current_revision: int = strawberry.field(description="Its newest revision number now.")


@strawberry.type(
    description="A video call can ring or be answered only from shortly before the "
    "appointment until a while after it: between `opensAt` and `closesAt`."
)
class CallWindowClosed(Error):
    opens_at: datetime
    closes_at: datetime


@strawberry.type(
    description="The video call has ended (hung up, declined, missed, or its window "
    "closed): its signals are gone. Start a new call."
)
class CallEnded(Error):
    state: str = strawberry.field(description="The call's state (a VideoCallState).")


@strawberry.type(
    description="The link is unknown, has expired, was used already, or is for an address "
    "the account no longer has. Ask for a new one."
)
class InvalidEmailToken(Error):
    pass


@strawberry.type(
    description="Confirm your email address first (open the link we sent you; "
    "`resendVerificationEmail` sends another)."
)
class EmailNotVerified(Error):
    pass


def result_of(failure: failures.ExpectedFailure) -> Error:
    """The member of a result union that tells the client of `failure`."""
    match failure:
        case failures.InputError():
            return validation_failed(failure.errors)
        case failures.NotFoundError():
            return not_found(failure.what)
        case failures.SlotUnavailableError():
            return SlotUnavailable(message=failure.message, code=ErrorCode.SLOT_UNAVAILABLE)
        case failures.InvalidTransitionError():
            return InvalidStatusTransition(
                message=failure.message,
                code=ErrorCode.INVALID_STATUS_TRANSITION,
                current_status=failure.current_status,
            )
        case failures.ConsultationSignedError():
            return ConsultationSigned(
                message="This consultation is signed and can no longer be changed; "
                "add an addendum instead.",
                code=ErrorCode.CONSULTATION_SIGNED,
            )
        case failures.RevisionConflictError():
            return RevisionConflict(
                message="This consultation was saved by someone else since you started "
                "editing; nothing was changed. Read it again and merge your edits.",
                code=ErrorCode.REVISION_CONFLICT,
                current_revision=failure.current_revision,
            )
        case failures.CallWindowClosedError():
            return CallWindowClosed(
                message="Video calls for this appointment open "
                f"{failure.opens_at.isoformat()} and close {failure.closes_at.isoformat()}.",
                code=ErrorCode.CALL_WINDOW_CLOSED,
                opens_at=failure.opens_at,
                closes_at=failure.closes_at,
            )
        case failures.CallEndedError():
            return CallEnded(
                message=failure.message, code=ErrorCode.CALL_ENDED, state=failure.state
            )
        case failures.InvalidCredentialsError():
            return InvalidCredentials(message=failure.message, code=ErrorCode.INVALID_CREDENTIALS)
        case failures.AccountDeactivatedError():
            return AccountDeactivated(
                message="This account is deactivated. Contact the clinic.",
                code=ErrorCode.ACCOUNT_DEACTIVATED,
            )
        case failures.InvalidRefreshTokenError():
            return InvalidRefreshToken(
                message="This refresh token cannot be used. Sign in again.",
                code=ErrorCode.INVALID_REFRESH_TOKEN,
            )
        case failures.InvalidEmailTokenError():
            return InvalidEmailToken(
                message="This link is invalid or has expired. Ask for a new one.",
                code=ErrorCode.INVALID_EMAIL_TOKEN,
            )
        case failures.EmailNotVerifiedError():
            return EmailNotVerified(
                message="Confirm your email address before booking: open the link we sent "
                "you, or ask for a new one.",
                code=ErrorCode.EMAIL_NOT_VERIFIED,
            )
    raise TypeError(f"no result type for {type(failure).__name__}")


class ExpectedFailures(FieldExtension):
    """On a mutation: an expected failure its domain service raises is returned as the
    member of its result union that tells of it, and the operation is noted as having
    failed so (`Context.expected_failure`, which the metrics read); a row asked for by id
    and not found is a refused attempt on the audit trail. Every mutation has it (see
    `mutation`): no resolver catches failures by hand."""

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Any, **kwargs: Any
    ) -> Any:
        try:
            result = await next_(source, info, **kwargs)
        except failures.ExpectedFailure as failure:
            if isinstance(failure, failures.NotFoundError):
                lookup_refused(info, failure)
            result = result_of(failure)
        if isinstance(result, Error):
            info.context.expected_failure = True
        return result


def mutation(
    *, description: str, extensions: Sequence[FieldExtension] = ()
) -> Callable[[Callable[..., Any]], Any]:
    """`strawberry.mutation`, with `ExpectedFailures` next to the resolver: the field's
    own extensions (strawberry runs the last of a list outermost: permissions, rate
    limits) see what it made of a failure, the member of the result union."""
    declare: Callable[[Callable[..., Any]], Any] = strawberry.mutation(
        description=description, extensions=[ExpectedFailures(), *extensions]
    )
    return declare


def validation_failed(errors: dict[str, str]) -> ValidationFailed:
    fields = ", ".join(errors)
    return ValidationFailed(
        message=f"Please correct: {fields}.",
        code=ErrorCode.VALIDATION_FAILED,
        field_errors=[FieldError(field=name, message=text) for name, text in errors.items()],
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
RATE_LIMITED = "RATE_LIMITED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
# A request refused before any operation ran (HTTP 4xx, see graphql.view.request_error):
# not JSON, no query, a method or content type the endpoint does not take, ...
BAD_REQUEST = "BAD_REQUEST"
# ... or no operation in the document matches `operationName`, or it has none. (Several
# operations and no `operationName`: strawberry runs the first; not refused.)
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # HTTP 413: MAX_JSON_BODY_BYTES, MAX_REQUEST_BYTES
# What a client is told to wait before retrying while a dependency is down (the header
# Retry-After over HTTP, `extensions.retryAfterSeconds` everywhere).
RETRY_AFTER_SECONDS = 5


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


# Failures to reach a dependency, not bugs: refused or dropped connections, a server
# shutting down or starting up, no connection slot free, SQLite's file locked by another
# process past the busy timeout.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, broken pipe; Tortoise's DBConnectionError too
    socket.gaierror,  # the database's host name does not resolve
    postgres.PostgresConnectionError,  # SQLSTATE class 08: the connection failed or was lost
    postgres.CannotConnectNowError,  # 57P03: starting up or shutting down
    postgres.AdminShutdownError,  # 57P01: terminated by a shutdown or an administrator
    postgres.CrashShutdownError,  # 57P02
    postgres.TooManyConnectionsError,  # 53300
    RedisConnectionError,
)
_SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def unavailable(error: BaseException | None) -> bool:
    """Whether `error`, or one it was raised from or while handling, says that a
    dependency cannot be reached just now (Tortoise wraps the driver's errors)."""
    for _ in range(10):  # a chain is short; never loop on a cycle
        if error is None:
            return False
        if isinstance(error, _UNREACHABLE):
            return True
        if isinstance(error, sqlite3.OperationalError):
            return getattr(error, "sqlite_errorcode", None) in _SQLITE_BUSY
        error = error.__cause__ or error.__context__
    return False


def request_scope(context: object) -> RequestScope | None:
    """The request (or socket) an operation's context belongs to, if any."""
    if isinstance(context, Context):
        return context.scope
    return context if isinstance(context, RequestScope) else None


def masked(error: GraphQLError, scope: RequestScope | None) -> GraphQLError:
    """What a client is told of an error raised by code, never its text.

    - A dependency that cannot be reached: SERVICE_UNAVAILABLE with `retryAfterSeconds`
      (over HTTP, status 503 and Retry-After), logged as a warning without a traceback:
      an outage is not a bug, and every request during it would log one.
    - Anything else is a bug: INTERNAL_SERVER_ERROR, logged with its traceback.

    Each carries the request id the log line carries: over HTTP in the `X-Request-Id`
    header; over a WebSocket, which has no header per message, in `extensions.requestId`.
    """
    request_id = request_id_of(scope.request.scope) if scope is not None else None
    where = ".".join(str(part) for part in error.path or []) or "(operation)"
    if unavailable(error.original_error):
        logger.warning(
            "dependency unavailable at %s",
            where,
            extra={"request_id": request_id, "error": type(error.original_error).__name__},
        )
        message = "The service is unavailable for a moment; retry shortly."
        extensions: dict[str, Any] = {
            "code": SERVICE_UNAVAILABLE,
            "retryAfterSeconds": RETRY_AFTER_SECONDS,
        }
        if scope is not None and isinstance(scope.response, Response):
            scope.response.status_code = 503
            scope.response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    else:
        logger.error(
            "unexpected error at %s",
            where,
            exc_info=error.original_error,
            extra={"request_id": request_id},
        )
        message = "Unexpected error."
        extensions = {"code": INTERNAL_SERVER_ERROR}
    if scope is not None and not isinstance(scope.response, Response) and request_id:
        extensions["requestId"] = request_id
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class MaskUnexpectedErrors(MaskErrors):
    """Replace what a resolver raised by code with a generic error (see `masked`).

    Errors with no path (a subscription's stream or an extension that raised) are masked
    in `HealthcareSchema._process_errors`, before they could be taken for a bad request.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Unexpected error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error, request_scope(self.execution_context.context))


def mask_unexpected(errors: list[GraphQLError], scope: RequestScope | None) -> list[GraphQLError]:
    """`errors` as MaskUnexpectedErrors leaves them (for `execution.prepared`)."""
    return [masked(error, scope) if _is_unexpected(error) else error for error in errors]


def bad_argument(argument: str, message: str) -> GraphQLError:
    """A query argument is out of range: a top-level error naming the argument."""
    return GraphQLError(
        f"Argument '{argument}': {message}",
        extensions={"code": BAD_USER_INPUT, "argument": argument},
    )


@contextmanager
def arguments_checked() -> Iterator[None]:
    """For queries, which have no result union: an input a domain service refuses
    becomes a top-level BAD_USER_INPUT error naming the argument."""
    try:
        yield
    except failures.InputError as error:
        raise bad_argument(error.field, error.message) from None


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
