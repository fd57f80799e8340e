"""Limits on sign-in, sign-up and token refresh attempts, against password guessing.

Each resolution of a limited field is one attempt: two aliased `login` fields in one
request are two attempts, and an operation over the WebSocket counts like one over HTTP.
The attempt is counted before anything else runs, so once over the limit even the right
password is refused, and many attempts sent at once cannot all slip in before the count.

Counting is by fixed window: the first attempt opens a window of the rate's length, and
the count starts again when it ends. Counts live in this process (`memory://`) or in Redis
(`RATE_LIMIT_URL`, by default the `BROADCAST_URL` when that is Redis), where every
instance shares them. If Redis cannot be reached, attempts are still answered (failing
open keeps sign-in available) but are counted in this process until Redis answers again,
so each instance still enforces the limits on its own; a warning says so once.

Keys hold no personal data: the email (normalised) or client address is replaced by a
keyed hash (HMAC-SHA256, keyed from JWT_SECRET, so a copy of Redis cannot be matched
against a list of emails either).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol, cast

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from healthcare.config import Rate, Settings
from healthcare.failures import InputError
from healthcare.validators import normalize_email

logger = logging.getLogger(__name__)

# Where a request has no client address (a Unix socket, or a proxy's text that is not an
# address): all such requests share one count.
UNKNOWN_ADDRESS = "unknown"
KEY_PREFIX = "healthcare:ratelimit"
REDIS_TIMEOUT_SECONDS = 0.5
# After Redis fails, count locally for this long before trying it again, so that an
# outage does not add a timeout to every sign-in.
REDIS_RETRY_AFTER_SECONDS = 5.0
SWEEP_EVERY_SECONDS = 60.0


# ---- stores -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """An attempt counted: the count so far in the current window, and when it ends."""

    key: str
    count: int
    seconds_left: float
    local: bool = False  # counted in this process because Redis could not be reached


class Store(Protocol):
    async def hit(self, key: str, window_seconds: int) -> Window: ...

    async def give_back(self, window: Window) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Counts in this process. Atomic because nothing in `hit` awaits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, ends at)
        self._swept_at = clock()

    async def hit(self, key: str, window_seconds: int) -> Window:
        now = self._clock()
        self._sweep(now)
        count, ends_at = self._windows.get(key, (0, now))
        if ends_at <= now:
            count, ends_at = 0, now + window_seconds
        self._windows[key] = (count + 1, ends_at)
        return Window(key, count + 1, ends_at - now, local=True)

    async def give_back(self, window: Window) -> None:
        count, ends_at = self._windows.get(window.key, (0, 0.0))
        if count > 0 and ends_at > self._clock():
            self._windows[window.key] = (count - 1, ends_at)

    async def close(self) -> None:
        self._windows.clear()

    def _sweep(self, now: float) -> None:
        """Forget ended windows, so that spraying made-up emails cannot fill memory."""
        if now - self._swept_at < SWEEP_EVERY_SECONDS:
            return
        self._swept_at = now
        for key in [key for key, (_, ends_at) in self._windows.items() if ends_at <= now]:
            del self._windows[key]


# INCR and the expiry in one step: a window always ends, whatever instance opened it.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
# Never creates a key (a DECR on an ended window would make one that never expires).
_GIVE_BACK = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


class RedisStore:
    """Counts in Redis, shared by every instance; in this process while Redis is away."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis = aioredis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._hit = self._redis.register_script(_HIT)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._fallback = MemoryStore()
        self._unreachable_until: float | None = None

    async def hit(self, key: str, window_seconds: int) -> Window:
        if self._unreachable_until is not None and time.monotonic() < self._unreachable_until:
            return await self._fallback.hit(key, window_seconds)
        try:
            result = await cast(
                Awaitable[list[int]], self._hit(keys=[key], args=[window_seconds * 1000])
            )
        except (RedisError, OSError, TimeoutError):
            self._unreachable()
            return await self._fallback.hit(key, window_seconds)
        if self._unreachable_until is not None:
            self._unreachable_until = None
            logger.info("rate limits: Redis answers again; counts are shared again")
        count, milliseconds_left = (int(value) for value in result)
        return Window(key, count, milliseconds_left / 1000)

    async def give_back(self, window: Window) -> None:
        if window.local:
            await self._fallback.give_back(window)
            return
        try:
            await cast(Awaitable[int], self._give_back(keys=[window.key]))
        except (RedisError, OSError, TimeoutError):
            self._unreachable()

    async def close(self) -> None:
        await self._redis.aclose()

    def _unreachable(self) -> None:
        if self._unreachable_until is None:
            logger.warning(
                "rate limits: Redis at %s is unreachable; counting in this process only "
                "(each instance enforces the limits on its own) until it answers",
                self.url.split("@")[-1],
            )
        self._unreachable_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS


# ---- what is limited ------------------------------------------------------------------


RateSetting = Callable[[Settings], Rate]


@dataclass(frozen=True)
class Action:
    """An operation limited per client address, per account, and per account from one
    address: each limit it has applies."""

    name: str  # in the keys
    refusal: str  # the start of the error message
    per_address: RateSetting | None = None
    per_account: RateSetting | None = None
    per_account_and_address: RateSetting | None = None
    # A success gives the account's attempts back: only the right password can do that,
    # and a user signing in on many devices is never locked out by their own sign-ins.
    # Address counts are never given back: an attacker could refill them by signing in
    # to an account of their own between guesses.
    successes_are_free: bool = False


# The lockout is per account *and* address: one address failing on an account locks that
# address out of that account, not the account's owner elsewhere; a much higher ceiling
# per account across addresses stops a guesser spread over many addresses.
SIGN_IN = Action(
    "login",
    "Too many sign-in attempts",
    per_address=lambda settings: settings.login_rate_per_address,
    per_account=lambda settings: settings.login_rate_per_account,
    per_account_and_address=lambda settings: settings.login_rate_per_account_and_address,
    successes_are_free=True,
)
SIGN_UP = Action(
    "register",
    "Too many sign-ups from your network",
    per_address=lambda settings: settings.register_rate_per_address,
)
# Changing a password checks the current one: a guess like a sign-in's, counted in the
# same windows (per account and per address), so a stolen session cannot guess freely.
PASSWORD_CHECK = replace(SIGN_IN, refusal="Too many password attempts")
TOKEN_REFRESH = Action(
    "refresh",
    "Too many token refreshes from your network",
    per_address=lambda settings: settings.refresh_rate_per_address,
)
# Decoding an image costs memory and CPU: a signed-in user uploads a few an hour.
UPLOAD = Action(
    "upload",
    "Too many uploads",
    per_account=lambda settings: settings.upload_rate_per_account,
)
# Each request writes an email to a real inbox: a few an hour per address asked about,
# and per network (not given back: there is no success to tell by).
PASSWORD_RESET = Action(
    "password_reset",
    "Too many password reset requests",
    per_address=lambda settings: settings.password_reset_rate_per_address,
    per_account=lambda settings: settings.password_reset_rate_per_account,
)
# Tokens from emailed links tried (resetPassword, verifyEmail): per network, so that
# nobody can try many; with their own count, so that confirming an address never answers
# "too many password reset requests".
EMAIL_TOKEN = Action(
    "email_token",
    "Too many attempts with links from emails",
    per_address=lambda settings: settings.password_reset_rate_per_address,
)
# Links sent again on request (address confirmation): a few an hour per account.
EMAIL_LINK = Action(
    "email_link",
    "Too many emails asked for",
    per_account=lambda settings: settings.email_rate_per_account,
)
ACCOUNT_SCOPES = frozenset({"account", "account_and_address"})


class RateLimitExceeded(Exception):
    def __init__(self, action: Action, retry_after_seconds: int) -> None:
        super().__init__(action.name)
        self.action = action
        self.retry_after_seconds = retry_after_seconds

    @property
    def message(self) -> str:
        return f"{self.action.refusal}; try again in {in_words(self.retry_after_seconds)}."


def in_words(seconds: int) -> str:
    def plural(count: int, unit: str) -> str:
        return f"{count} {unit}{'' if count == 1 else 's'}"

    if seconds < 60:
        return plural(seconds, "second")
    if seconds <= 90 * 60:
        return plural(math.ceil(seconds / 60), "minute")
    return plural(math.ceil(seconds / 3600), "hour")


def account_subject(email: str) -> str:
    """The same subject however the email is spelled (case, spaces)."""
    try:
        return normalize_email(email)
    except InputError:  # still counted: made-up emails are guesses too
        return email.strip().lower()


def address_subject(host: str) -> str:
    """IPv6 clients are counted by /64, the block one subscriber usually gets: otherwise
    each of its 2^64 addresses would have a limit of its own."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


# ---- the limiter --------------------------------------------------------------------------


class Attempt:
    """An attempt let through; `succeeded()` gives back what successes do not cost."""

    def __init__(self, store: Store, free_on_success: list[Window]) -> None:
        self._store = store
        self._free_on_success = free_on_success

    async def succeeded(self) -> None:
        for window in self._free_on_success:
            await self._store.give_back(window)


class RateLimiter:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._key = hashlib.sha256(
            b"healthcare rate limits\0" + settings.jwt_secret.encode()
        ).digest()
        self._exempt = tuple(
            ipaddress.ip_network(network, strict=False)
            for network in settings.rate_limit_exempt_networks
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        url = settings.rate_limit_store_url
        store: Store = (
            RedisStore(url) if url.startswith(("redis://", "rediss://")) else MemoryStore()
        )
        return cls(store, settings)

    async def close(self) -> None:
        await self.store.close()

    def key(self, action: Action, scope: str, subject: str) -> str:
        # surrogatepass: a made-up email may hold lone surrogates, which UTF-8 refuses.
        digest = hmac.new(self._key, subject.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"{KEY_PREFIX}:{action.name}:{scope}:{digest.hexdigest()}"

    async def attempt(
        self, action: Action, address: str | None, account: str | None = None
    ) -> Attempt:
        """Count one attempt; RateLimitExceeded if any of its limits is passed."""
        if not self.settings.rate_limits_enabled:
            return Attempt(self.store, [])
        limits = self._limits(action, address, account)
        windows = await asyncio.gather(
            *(self.store.hit(key, rate.seconds) for _, key, rate in limits)
        )
        wait: float | None = None
        for (scope, _, rate), window in zip(limits, windows, strict=True):
            if window.count > rate.count:
                wait = max(wait or 0.0, window.seconds_left)
                if window.count == rate.count + 1:  # the window's first refusal: logged once
                    logger.warning(
                        "rate limit reached", extra={"action": action.name, "scope": scope}
                    )
        if wait is not None:
            raise RateLimitExceeded(action, max(1, math.ceil(wait)))
        scopes = [scope for scope, _, _ in limits]
        free = [w for scope, w in zip(scopes, windows, strict=True) if scope in ACCOUNT_SCOPES]
        return Attempt(self.store, free if action.successes_are_free else [])

    def _limits(
        self, action: Action, address: str | None, account: str | None
    ) -> list[tuple[str, str, Rate]]:
        """(scope, key, rate) of each limit the attempt counts against. The exempt
        networks escape the per-address limit only: an account's limits hold anywhere."""
        raw_address = address or UNKNOWN_ADDRESS
        address = address_subject(raw_address)
        account = account_subject(account) if account is not None else None
        subjects: list[tuple[str, RateSetting | None, str | None]] = [
            ("address", action.per_address, None if self.is_exempt(raw_address) else address),
            ("account", action.per_account, account),
            (
                "account_and_address",
                action.per_account_and_address,
                None if account is None else f"{account}\0{address}",
            ),
        ]
        return [
            (scope, self.key(action, scope, subject), rate(self.settings))
            for scope, rate, subject in subjects
            if rate is not None and subject is not None
        ]

    def is_exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        return any(ip in network for network in self._exempt)
