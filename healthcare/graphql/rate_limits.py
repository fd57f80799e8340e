"""Rate limits where fields declare them: `RateLimited(action)` counts each resolution of
the field as an attempt (see security.ratelimit for the counting)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension

from healthcare.graphql.context import AnyInfo
from healthcare.graphql.errors import RATE_LIMITED, Error
from healthcare.security.ratelimit import Action, RateLimitExceeded


def rate_limited_error(refused: RateLimitExceeded) -> StrawberryGraphQLError:
    return StrawberryGraphQLError(
        refused.message,
        extensions={"code": RATE_LIMITED, "retryAfterSeconds": refused.retry_after_seconds},
    )


class RateLimited(FieldExtension):
    """Counts each resolution of the field as one attempt of `action`, per client address
    and, given `account`, per account; over a limit, a top-level RATE_LIMITED error with
    `retryAfterSeconds` (and, over HTTP, a Retry-After header).

        @strawberry.mutation(
            extensions=[RateLimited(SIGN_IN, account=lambda args, info: args["email"])]
        )

    `account` is given the field's arguments and `info`; None counts per address only.
    `succeeded` tells from the field's result whether the attempt may be given back (for
    actions whose successes are free); by default, any result but an `Error`.
    """

    def __init__(
        self,
        action: Action,
        *,
        account: Callable[[dict[str, Any], AnyInfo], str | None] | None = None,
        succeeded: Callable[[Any], bool] = lambda result: not isinstance(result, Error),
    ) -> None:
        self.action = action
        self.account = account
        self.succeeded = succeeded

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: AnyInfo, **kwargs: Any
    ) -> Any:
        context = info.context
        account = self.account(kwargs, info) if self.account is not None else None
        try:
            attempt = await context.rate_limiter.attempt(
                self.action, context.client_address, account
            )
        except RateLimitExceeded as refused:
            if isinstance(context.response, Response):
                context.response.headers["retry-after"] = str(refused.retry_after_seconds)
            raise rate_limited_error(refused) from None
        result = await next_(source, info, **kwargs)
        if self.succeeded(result):
            await attempt.succeeded()
        return result
