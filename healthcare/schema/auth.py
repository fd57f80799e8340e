"""Sign-up, sign-in, tokens and passwords."""

from datetime import datetime
from typing import Annotated, Any

import strawberry

from healthcare.failures import (
    AccountDeactivatedError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
)
from healthcare.graphql.errors import (
    AccountDeactivated,
    InvalidCredentials,
    InvalidEmailToken,
    InvalidRefreshToken,
    ValidationFailed,
    mutation,
)
from healthcare.graphql.permissions import IsAuthenticated, allow, signed_in_user
from healthcare.graphql.rate_limits import RateLimited
from healthcare.resolvers import auth as resolvers
from healthcare.schema.loaders import Info
from healthcare.schema.users import User
from healthcare.security.auth import Viewer
from healthcare.security.ratelimit import (
    EMAIL_LINK,
    EMAIL_TOKEN,
    PASSWORD_CHECK,
    PASSWORD_RESET,
    SIGN_IN,
    SIGN_UP,
    TOKEN_REFRESH,
)
from healthcare.validators import normalize_email


def viewer_email(args: dict[str, Any], info: Info) -> str | None:
    """The signed-in user's email: whose password a `changePassword` guesses."""
    user = info.context.viewer.user
    return user.email if user is not None else None


@strawberry.type(
    description="A signed-in session. Send `accessToken` as `Authorization: Bearer <token>` "
    "(or as `authorization` in the WebSocket `connection_init` payload); before it expires, "
    "trade `refreshToken` for a new pair with `refreshToken`. Each refresh token works once."
)
class AuthPayload:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime = strawberry.field(
        description="When this sign-in ends; after that, sign in again."
    )
    user: User

    @classmethod
    def signed_in(cls, info: Info, tokens: resolvers.IssuedTokens) -> "AuthPayload":
        """The payload; the rest of this operation now runs as the user who signed in."""
        info.context.viewer = Viewer(user=tokens.user, session_id=tokens.session_id)
        return cls(
            access_token=tokens.access_token,
            access_token_expires_at=tokens.access_token_expires_at,
            refresh_token=tokens.refresh_token,
            refresh_token_expires_at=tokens.refresh_token_expires_at,
            user=User.from_model(tokens.user),
        )


@strawberry.input(
    description="Self-service sign-up. It always creates a patient account: roles are "
    "given by administrators only."
)
class RegisterInput:
    email: str
    password: str = strawberry.field(description="At least 10 characters.")
    first_name: str
    last_name: str


@strawberry.type(
    description="Sign-up received. The answer is the same whether the address is new or "
    "already has an account, so that sign-up tells nobody who has one: sign in with the "
    "address and password to continue."
)
class SignUpReceived:
    message: str = strawberry.field(description="Safe to show: what to do next.")


SIGN_UP_RECEIVED = SignUpReceived(
    message="Thank you. We sent an email to this address: open the link in it to confirm "
    "the address (you can sign in before that, but not book). If the address already has "
    "an account, the email says what to do instead."
)


@strawberry.type(
    description="Asked for: an email is on its way if there is an account to send it to. "
    "The answer is the same either way."
)
class EmailSent:
    message: str = strawberry.field(description="Safe to show: what to do next.")


@strawberry.type(description="The password is changed and every session has ended.")
class PasswordReset:
    message: str = strawberry.field(description="Safe to show: sign in with the new password.")


@strawberry.type(description="The address is confirmed (and, after a change, the account's).")
class EmailVerified:
    email: str


RESET_REQUESTED = EmailSent(
    message="If an account has this address, we sent it a link to choose a new password. "
    "Check your inbox (and spam folder)."
)
RequestPasswordResetResult = Annotated[
    EmailSent | ValidationFailed, strawberry.union("RequestPasswordResetResult")
]
ResetPasswordResult = Annotated[
    PasswordReset | InvalidEmailToken | ValidationFailed, strawberry.union("ResetPasswordResult")
]
VerifyEmailResult = Annotated[
    EmailVerified | InvalidEmailToken | ValidationFailed, strawberry.union("VerifyEmailResult")
]
ChangeEmailResult = Annotated[
    EmailSent | InvalidCredentials | ValidationFailed, strawberry.union("ChangeEmailResult")
]

RegisterResult = Annotated[SignUpReceived | ValidationFailed, strawberry.union("RegisterResult")]
LoginResult = Annotated[
    AuthPayload | InvalidCredentials | AccountDeactivated, strawberry.union("LoginResult")
]
RefreshTokenResult = Annotated[
    AuthPayload | InvalidRefreshToken, strawberry.union("RefreshTokenResult")
]
ChangePasswordResult = Annotated[
    AuthPayload | InvalidCredentials | ValidationFailed, strawberry.union("ChangePasswordResult")
]


@strawberry.type
class Mutation:
    @mutation(
        description="Create a patient account, then sign in with `login`. The answer is the "
        "same for a new address and one that has an account (which is left as it is). "
        "Sign-ups are limited per network: over the limit, a top-level RATE_LIMITED error "
        "gives `retryAfterSeconds`.",
        extensions=[RateLimited(SIGN_UP)],
    )
    async def register(self, info: Info, input: RegisterInput) -> RegisterResult:
        await resolvers.register_patient(
            email=input.email,
            password=input.password,
            first_name=input.first_name,
            last_name=input.last_name,
        )
        return SIGN_UP_RECEIVED

    @mutation(
        description="Sign in. A wrong password and an unknown email give the same answer. "
        "Attempts are limited per email and per network (a successful sign-in does not count "
        "against the email): over a limit, a top-level RATE_LIMITED error gives "
        "`retryAfterSeconds`, even if the password is right.",
        extensions=[RateLimited(SIGN_IN, account=lambda args, info: args["email"])],
    )
    async def login(self, info: Info, email: str, password: str) -> LoginResult:
        user = await resolvers.login(email, password)
        if user is None:
            raise InvalidCredentialsError()
        if not user.is_active:
            raise AccountDeactivatedError()
        return AuthPayload.signed_in(
            info, await resolvers.start_session(user, info.context.settings)
        )

    @mutation(
        description="Trade a refresh token for a new pair. The old one stops working; "
        "presenting it again ends the whole sign-in. Limited per network: over the limit, a "
        "top-level RATE_LIMITED error gives `retryAfterSeconds`.",
        extensions=[RateLimited(TOKEN_REFRESH)],
    )
    async def refresh_token(self, info: Info, refresh_token: str) -> RefreshTokenResult:
        tokens = await resolvers.refresh(refresh_token, info.context.settings)
        if tokens is None:
            raise InvalidRefreshTokenError()
        return AuthPayload.signed_in(info, tokens)

    @mutation(
        description="Sign out: ends this session (or, with `everywhere`, all of yours). "
        "Its access and refresh tokens stop working at once.",
        extensions=allow(IsAuthenticated()),
    )
    async def logout(self, info: Info, everywhere: bool = False) -> bool:
        user = signed_in_user(info)
        await resolvers.sign_out(user, info.context.viewer.session_id, everywhere)
        return True

    @mutation(
        description="Change your password. Ends every session, then signs you in afresh. "
        "Wrong current passwords count with sign-in attempts, per account and per network: "
        "over a limit, a top-level RATE_LIMITED error gives `retryAfterSeconds`.",
        extensions=[
            # Only a wrong current password is a guess: a refused new password, checked
            # first, gives the account's attempt back.
            RateLimited(
                PASSWORD_CHECK,
                account=viewer_email,
                succeeded=lambda result: not isinstance(result, InvalidCredentials),
            ),
            *allow(IsAuthenticated()),
        ],
    )
    async def change_password(
        self, info: Info, current_password: str, new_password: str
    ) -> ChangePasswordResult:
        tokens = await resolvers.change_password(
            signed_in_user(info), current_password, new_password, info.context.settings
        )
        if tokens is None:
            raise InvalidCredentialsError("The current password is incorrect.")
        return AuthPayload.signed_in(info, tokens)

    @mutation(
        description="Forgot your password? Emails the account with this address a link to "
        "choose a new one (`resetPassword`). The answer is the same, and as quick, whether "
        "or not an account has the address. Limited per address asked about and per "
        "network: over a limit, a top-level RATE_LIMITED error gives `retryAfterSeconds`.",
        extensions=[RateLimited(PASSWORD_RESET, account=lambda args, info: args["email"])],
    )
    async def request_password_reset(self, info: Info, email: str) -> RequestPasswordResetResult:
        address = normalize_email(email)
        resolvers.start_password_reset(address)
        return RESET_REQUESTED

    @mutation(
        description="Choose a new password with the token from a reset link. Every session "
        "ends (sign in again with the new password); the link then stops working, and so "
        "does any earlier one. A refused password leaves the link usable.",
        extensions=[RateLimited(EMAIL_TOKEN)],
    )
    async def reset_password(
        self, info: Info, token: str, new_password: str
    ) -> ResetPasswordResult:
        await resolvers.reset_password(token, new_password)
        return PasswordReset(message="Your password is changed. Sign in with it.")

    @mutation(
        description="Confirm an email address with the token from the link sent to it: "
        "after sign-up, or after `changeEmail` (the new address then becomes the "
        "account's). No sign-in needed.",
        extensions=[RateLimited(EMAIL_TOKEN)],
    )
    async def verify_email(self, info: Info, token: str) -> VerifyEmailResult:
        return EmailVerified(email=await resolvers.verify_email(token))

    @mutation(
        description="Send the link that confirms your address again (nothing if it is "
        "confirmed). A few an hour: over the limit, a top-level RATE_LIMITED error.",
        extensions=[RateLimited(EMAIL_LINK, account=viewer_email), *allow(IsAuthenticated())],
    )
    async def resend_verification_email(self, info: Info) -> EmailSent:
        await resolvers.resend_verification(signed_in_user(info))
        return EmailSent(message="If your address is not confirmed yet, a new link is on its way.")

    @mutation(
        description="Move your account to another email address: a link goes to the new "
        "address, and the change happens when it is opened (`verifyEmail`); your current "
        "address is told. Needs your password; wrong ones count with sign-in attempts.",
        extensions=[
            RateLimited(
                PASSWORD_CHECK,
                account=viewer_email,
                succeeded=lambda result: not isinstance(result, InvalidCredentials),
            ),
            *allow(IsAuthenticated()),
        ],
    )
    async def change_email(
        self, info: Info, new_email: str, current_password: str
    ) -> ChangeEmailResult:
        if not await resolvers.change_email(signed_in_user(info), new_email, current_password):
            raise InvalidCredentialsError("The current password is incorrect.")
        return EmailSent(message="We sent a link to the new address: open it to finish the change.")
