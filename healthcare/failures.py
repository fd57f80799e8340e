"""Expected failures: what a domain service refuses, and why, in words a person can read.

Domain services raise them; the GraphQL layer turns each into a member of the mutation's
result union (`graphql.errors.result_of`), or a top-level error for a query. Nothing here
knows GraphQL.
"""

from __future__ import annotations

from datetime import datetime


class ExpectedFailure(Exception):
    """A refusal the client is told about, as opposed to a bug."""


class InputError(ExpectedFailure):
    """One input field and what is wrong with it (raised by validators)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    @property
    def errors(self) -> dict[str, str]:
        """Every bad field and its message."""
        return {self.field: self.message}


class InputErrors(InputError):
    """Several bad input fields at once, so that a form can mark them all."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self._errors = errors

    @property
    def errors(self) -> dict[str, str]:
        return self._errors


class NotFoundError(ExpectedFailure):
    """No such row, or one the viewer may not see: the same answer for both. `what` is
    the kind of row asked for, `row_id` the id the client gave (for the audit trail's
    record of the refused attempt; never shown back)."""

    def __init__(self, what: str, row_id: object = None) -> None:
        super().__init__(what)
        self.what = what
        self.row_id = row_id


class SlotUnavailableError(ExpectedFailure):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTransitionError(ExpectedFailure):
    def __init__(self, current_status: str, message: str) -> None:
        super().__init__(message)
        self.current_status = current_status
        self.message = message


class ConsultationSignedError(ExpectedFailure):
    """The consultation is signed: it takes addenda only."""


class RevisionConflictError(ExpectedFailure):
    """Someone saved the consultation since the revision the edit started from."""

    def __init__(self, current_revision: int) -> None:
        super().__init__(f"Saved by someone else since (now revision {current_revision}).")
        self.current_revision = current_revision


class InvalidCredentialsError(ExpectedFailure):
    """A password (or email and password) that does not match."""

    def __init__(self, message: str = "Email or password is incorrect.") -> None:
        super().__init__(message)
        self.message = message


class AccountDeactivatedError(ExpectedFailure):
    """The right password, for an account that may not sign in."""


class InvalidRefreshTokenError(ExpectedFailure):
    """A refresh token that is unknown, expired, spent or revoked."""


class CallWindowClosedError(ExpectedFailure):
    """The appointment's video call window is not open now."""

    def __init__(self, opens_at: datetime, closes_at: datetime) -> None:
        super().__init__("outside the call window")
        self.opens_at = opens_at
        self.closes_at = closes_at


class CallEndedError(ExpectedFailure):
    """The video call has ended (or, for declining, was answered): `state` is its state."""

    def __init__(self, state: str, message: str | None = None) -> None:
        super().__init__(state)
        self.state = state
        self.message = message or f"This video call has ended ({state}); start a new one."


class InvalidEmailTokenError(ExpectedFailure):
    """A link sent by email that is unknown, expired, already used, or for something
    that has changed since (the address it was sent to is no longer the account's)."""


class EmailNotVerifiedError(ExpectedFailure):
    """The account's address has not been confirmed yet, and this needs it to be."""
