"""Settings from the environment, with safe defaults for development.

Every variable read here is listed in the README's configuration table. Development
defaults are marked as such; `Settings.check_production()` refuses the unsafe ones.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

logger = logging.getLogger(__name__)

DEVELOPMENT = "development"
PRODUCTION = "production"
MIN_SECRET_BYTES = 32
MAX_ACCESS_TOKEN_TTL_SECONDS = 15 * 60
MIN_METRICS_TOKEN_CHARS = 16
MIN_TURN_SECRET_CHARS = 16
DEVELOPMENT_EMAIL_FROM = "Healthcare (development) <no-reply@localhost>"
DEVELOPMENT_APP_URL = "http://localhost:5173"


class ConfigurationError(Exception):
    """A setting is missing or unsafe; the message names the variable."""


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}.") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}.")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}.")


_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    """At most `count` attempts per `seconds`; written like `5/15m` in the environment."""

    count: int
    seconds: int


def _rate(env: Mapping[str, str], name: str, default: Rate) -> Rate:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    match = re.fullmatch(r"(\d+)/(\d*)([smhd])", raw.strip().lower().replace(" ", ""))
    if not match or int(match[1]) == 0 or (match[2] and int(match[2]) == 0):
        raise ConfigurationError(
            f"{name} must be attempts per period, such as 5/15m or 10/1h, got {raw!r}."
        )
    return Rate(int(match[1]), int(match[2] or 1) * _PERIOD_SECONDS[match[3]])


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    networks = _split_list(env.get(name, ""))
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigurationError(f"{name}: {network!r} is not an address or network.") from None
    return networks


def _ice_urls(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
    urls = _split_list(env.get(name, ""))
    for url in urls:
        if not url.startswith(schemes) or any(c.isspace() for c in url):
            raise ConfigurationError(
                f"{name}: {url!r} is not a {' or '.join(s.rstrip(':') for s in schemes)} URL "
                f"(such as {schemes[0]}turn.example.org:3478)."
            )
    return urls


def _minutes_list(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        values = tuple(sorted({int(item) for item in _split_list(raw)}, reverse=True))
    except ValueError:
        raise ConfigurationError(
            f"{name} must be whole minutes separated by commas, such as 1440,60; got {raw!r}."
        ) from None
    if any(value <= 0 for value in values):
        raise ConfigurationError(f"{name}: every value must be positive, got {raw!r}.")
    return values


def normalize_database_url(url: str) -> str:
    """Accept the common `postgresql://` spelling; Tortoise wants `postgres://`."""
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


@dataclass(frozen=True)
class Settings:
    env: str = DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = 8000
    # Server processes on HOST:PORT (`healthcare serve --workers`); None: one per core when
    # the pub/sub, rate limits and database are shared between processes, else one.
    workers: int | None = None
    data_dir: Path = Path(".data")
    database_url: str = "sqlite://.data/healthcare.sqlite3"
    broadcast_url: str = "memory://"
    jwt_secret: str = field(default="", repr=False)
    jwt_secret_is_generated: bool = False
    access_token_ttl_seconds: int = MAX_ACCESS_TOKEN_TTL_SECONDS
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    cors_allowed_origins: tuple[str, ...] = ()
    ws_allowed_origins: tuple[str, ...] = ()
    media_dir: Path = Path(".data/media")
    max_upload_bytes: int = 5 * 1024 * 1024
    max_request_bytes: int = 6 * 1024 * 1024
    # Every request but an upload (a multipart request) is JSON: far below the upload cap.
    max_json_body_bytes: int = 1024 * 1024
    ws_max_frame_bytes: int = 256 * 1024
    ws_max_connections_per_address: int = 100
    ws_anonymous_idle_seconds: int = 30
    # Addresses or networks of the proxies whose X-Forwarded-For is believed; none: none.
    trusted_proxies: tuple[str, ...] = ()
    default_phone_region: str | None = None
    graphiql: bool = True
    introspection: bool = True
    max_query_depth: int = 10
    max_query_aliases: int = 15
    max_query_tokens: int = 2000
    max_query_chars: int = 32 * 1024
    max_repeated_selections: int = 5
    request_timeout_seconds: int = 15
    statement_timeout_ms: int = 5000
    log_level: str = "INFO"
    rate_limits_enabled: bool = True
    # None: the BROADCAST_URL when that is Redis (shared by instances), else memory://.
    rate_limit_url: str | None = None
    # One address guessing one account's password; then a ceiling over every address, much
    # higher, so that a stranger cannot lock the owner out by failing on purpose.
    login_rate_per_account_and_address: Rate = Rate(5, 15 * 60)
    login_rate_per_account: Rate = Rate(50, 15 * 60)
    login_rate_per_address: Rate = Rate(30, 15 * 60)
    register_rate_per_address: Rate = Rate(10, 60 * 60)
    refresh_rate_per_address: Rate = Rate(120, 15 * 60)
    upload_rate_per_account: Rate = Rate(10, 60 * 60)
    rate_limit_exempt_networks: tuple[str, ...] = ()
    metrics_enabled: bool = True
    metrics_token: str = field(default="", repr=False)
    # Video calls: open from this long before an appointment until this long after it.
    video_call_opens_minutes_before: int = 10
    video_call_closes_minutes_after: int = 30
    # An unanswered call ends as missed after this long.
    video_call_ring_seconds: int = 45
    # ICE servers for `iceServers`: none by default (calls on one machine or LAN need none).
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    # The secret coturn checks with `use-auth-secret` (`static-auth-secret`).
    turn_secret: str = field(default="", repr=False)
    # Email. No SMTP_URL: development only, messages are written to DATA_DIR/outbox/.
    smtp_url: str = field(default="", repr=False)
    email_from: str = DEVELOPMENT_EMAIL_FROM
    # Where the links in emails point: the web app.
    public_app_url: str = DEVELOPMENT_APP_URL
    password_reset_ttl_minutes: int = 30
    email_verification_ttl_hours: int = 48
    require_verified_email_to_book: bool = True
    reminder_minutes_before: tuple[int, ...] = (24 * 60, 60)
    # A chat message or visit-notes notification still unread after this long is emailed
    # (if the recipient wants that topic).
    unread_email_delay_seconds: int = 600
    email_retry_base_seconds: int = 30
    email_max_attempts: int = 10
    # How often the email worker and the reminder sweep look for work they were not woken
    # for (another instance's commits, retries, reminders coming due).
    email_poll_seconds: int = 5
    reminder_poll_seconds: int = 30
    # False: server processes write emails to the outbox and never send them; processes
    # of `healthcare mail-worker` do (composing and sending is then no server's work).
    server_sends_email: bool = True
    password_reset_rate_per_address: Rate = Rate(20, 60 * 60)
    password_reset_rate_per_account: Rate = Rate(5, 60 * 60)
    email_rate_per_account: Rate = Rate(5, 60 * 60)

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def metrics_served(self) -> bool:
        """`GET /metrics` is served: in production only behind METRICS_TOKEN, so that a
        forgotten proxy rule cannot publish it."""
        return self.metrics_enabled and (bool(self.metrics_token) or not self.is_production)

    @property
    def rate_limit_store_url(self) -> str:
        if self.rate_limit_url:
            return self.rate_limit_url
        return self.broadcast_url if self.broadcast_url.startswith("redis://") else "memory://"

    @functools.cached_property
    def email_sender(self) -> tuple[str, str]:
        """EMAIL_FROM parsed, (name, address): read for every email written (its Message-ID,
        an invite's organizer), parsed once."""
        return parseaddr(self.email_from)

    @property
    def email_domain(self) -> str:
        """The domain of EMAIL_FROM: Message-IDs and calendar UIDs are made under it."""
        return self.email_sender[1].rsplit("@", 1)[-1] or "localhost"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    @property
    def shared_between_processes(self) -> bool:
        """Whether several processes can serve together: pub/sub, rate limits and the
        database are servers of their own, not state inside one process (memory://, a
        SQLite file written by one process at a time)."""
        return (
            not self.broadcast_url.startswith("memory://")
            and not self.rate_limit_store_url.startswith("memory://")
            and not self.uses_sqlite
        )

    @property
    def worker_count(self) -> int:
        """How many server processes `healthcare serve` runs: WORKERS, or one per core
        this process may run on when they can share their state, else one."""
        if self.workers is not None:
            return self.workers
        return len(os.sched_getaffinity(0)) if self.shared_between_processes else 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = env.get("HEALTHCARE_ENV", DEVELOPMENT).strip().lower() or DEVELOPMENT
        if mode not in {DEVELOPMENT, PRODUCTION}:
            raise ConfigurationError(
                f"HEALTHCARE_ENV must be 'development' or 'production', got {mode!r}."
            )
        data_dir = Path(env.get("DATA_DIR") or ".data")
        default_origins = (
            ("http://localhost:3000", "http://localhost:5173") if mode == DEVELOPMENT else ()
        )
        cors = _split_list(env["CORS_ALLOWED_ORIGINS"]) if "CORS_ALLOWED_ORIGINS" in env else ()
        cors = cors or default_origins
        ws_origins = _split_list(env.get("WS_ALLOWED_ORIGINS", "")) or cors
        secret, generated = _jwt_secret(env, mode, data_dir)
        settings = cls(
            env=mode,
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8000),
            workers=_int(env, "WORKERS", 0) or None,
            data_dir=data_dir,
            database_url=normalize_database_url(
                env.get("DATABASE_URL") or f"sqlite://{data_dir / 'healthcare.sqlite3'}"
            ),
            broadcast_url=env.get("BROADCAST_URL") or "memory://",
            jwt_secret=secret,
            jwt_secret_is_generated=generated,
            access_token_ttl_seconds=_int(
                env, "ACCESS_TOKEN_TTL_SECONDS", MAX_ACCESS_TOKEN_TTL_SECONDS
            ),
            refresh_token_ttl_seconds=_int(env, "REFRESH_TOKEN_TTL_SECONDS", 14 * 24 * 3600),
            cors_allowed_origins=cors,
            ws_allowed_origins=ws_origins,
            media_dir=Path(env.get("MEDIA_DIR") or data_dir / "media"),
            max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 5 * 1024 * 1024),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 6 * 1024 * 1024),
            max_json_body_bytes=_int(env, "MAX_JSON_BODY_BYTES", 1024 * 1024),
            ws_max_frame_bytes=_int(env, "WS_MAX_FRAME_BYTES", 256 * 1024),
            ws_max_connections_per_address=_int(env, "WS_MAX_CONNECTIONS_PER_ADDRESS", 100),
            ws_anonymous_idle_seconds=_int(env, "WS_ANONYMOUS_IDLE_SECONDS", 30),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            default_phone_region=(env.get("DEFAULT_PHONE_REGION") or None),
            graphiql=_bool(env, "GRAPHIQL", mode == DEVELOPMENT),
            introspection=_bool(env, "INTROSPECTION", mode == DEVELOPMENT),
            max_query_depth=_int(env, "MAX_QUERY_DEPTH", 10),
            max_query_aliases=_int(env, "MAX_QUERY_ALIASES", 15),
            max_query_tokens=_int(env, "MAX_QUERY_TOKENS", 2000),
            max_query_chars=_int(env, "MAX_QUERY_CHARS", 32 * 1024),
            max_repeated_selections=_int(env, "MAX_REPEATED_SELECTIONS", 5),
            request_timeout_seconds=_int(env, "REQUEST_TIMEOUT_SECONDS", 15),
            statement_timeout_ms=_int(env, "STATEMENT_TIMEOUT_MS", 5000),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            rate_limits_enabled=_bool(env, "RATE_LIMITS_ENABLED", True),
            rate_limit_url=env.get("RATE_LIMIT_URL") or None,
            login_rate_per_account_and_address=_rate(
                env, "LOGIN_RATE_PER_ACCOUNT_AND_ADDRESS", Rate(5, 15 * 60)
            ),
            login_rate_per_account=_rate(env, "LOGIN_RATE_PER_ACCOUNT", Rate(50, 15 * 60)),
            login_rate_per_address=_rate(env, "LOGIN_RATE_PER_ADDRESS", Rate(30, 15 * 60)),
            register_rate_per_address=_rate(env, "REGISTER_RATE_PER_ADDRESS", Rate(10, 60 * 60)),
            refresh_rate_per_address=_rate(env, "REFRESH_RATE_PER_ADDRESS", Rate(120, 15 * 60)),
            upload_rate_per_account=_rate(env, "UPLOAD_RATE_PER_ACCOUNT", Rate(10, 60 * 60)),
            rate_limit_exempt_networks=_networks(env, "RATE_LIMIT_EXEMPT_NETWORKS"),
            metrics_enabled=_bool(env, "METRICS_ENABLED", True),
            metrics_token=(env.get("METRICS_TOKEN") or "").strip(),
            video_call_opens_minutes_before=_int(env, "VIDEO_CALL_OPENS_MINUTES_BEFORE", 10),
            video_call_closes_minutes_after=_int(env, "VIDEO_CALL_CLOSES_MINUTES_AFTER", 30),
            video_call_ring_seconds=_int(env, "VIDEO_CALL_RING_SECONDS", 45),
            stun_urls=_ice_urls(env, "STUN_URLS", ("stun:", "stuns:")),
            turn_urls=_ice_urls(env, "TURN_URLS", ("turn:", "turns:")),
            turn_secret=(env.get("TURN_SECRET") or "").strip(),
            smtp_url=(env.get("SMTP_URL") or "").strip(),
            email_from=(env.get("EMAIL_FROM") or "").strip()
            or (DEVELOPMENT_EMAIL_FROM if mode == DEVELOPMENT else ""),
            public_app_url=(env.get("PUBLIC_APP_URL") or "").strip().rstrip("/")
            or (DEVELOPMENT_APP_URL if mode == DEVELOPMENT else ""),
            password_reset_ttl_minutes=_int(env, "PASSWORD_RESET_TTL_MINUTES", 30),
            email_verification_ttl_hours=_int(env, "EMAIL_VERIFICATION_TTL_HOURS", 48),
            require_verified_email_to_book=_bool(env, "REQUIRE_VERIFIED_EMAIL_TO_BOOK", True),
            reminder_minutes_before=_minutes_list(env, "REMINDER_MINUTES_BEFORE", (24 * 60, 60)),
            unread_email_delay_seconds=_int(env, "UNREAD_EMAIL_DELAY_SECONDS", 600),
            email_retry_base_seconds=_int(env, "EMAIL_RETRY_BASE_SECONDS", 30),
            email_max_attempts=_int(env, "EMAIL_MAX_ATTEMPTS", 10),
            email_poll_seconds=_int(env, "EMAIL_POLL_SECONDS", 5),
            server_sends_email=_bool(env, "SERVER_SENDS_EMAIL", True),
            reminder_poll_seconds=_int(env, "REMINDER_POLL_SECONDS", 30),
            password_reset_rate_per_address=_rate(
                env, "PASSWORD_RESET_RATE_PER_ADDRESS", Rate(20, 60 * 60)
            ),
            password_reset_rate_per_account=_rate(
                env, "PASSWORD_RESET_RATE_PER_ACCOUNT", Rate(5, 60 * 60)
            ),
            email_rate_per_account=_rate(env, "EMAIL_RATE_PER_ACCOUNT", Rate(5, 60 * 60)),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.access_token_ttl_seconds > MAX_ACCESS_TOKEN_TTL_SECONDS:
            raise ConfigurationError(
                "ACCESS_TOKEN_TTL_SECONDS must be at most "
                f"{MAX_ACCESS_TOKEN_TTL_SECONDS} (15 minutes)."
            )
        if self.max_request_bytes <= self.max_upload_bytes:
            raise ConfigurationError("MAX_REQUEST_BYTES must be larger than MAX_UPLOAD_BYTES.")
        if self.max_json_body_bytes > self.max_request_bytes:
            raise ConfigurationError("MAX_JSON_BODY_BYTES must be at most MAX_REQUEST_BYTES.")
        if self.max_json_body_bytes <= self.max_query_chars:
            raise ConfigurationError("MAX_JSON_BODY_BYTES must be larger than MAX_QUERY_CHARS.")
        if self.log_level not in logging.getLevelNamesMapping():
            raise ConfigurationError(f"LOG_LEVEL {self.log_level!r} is not a logging level.")
        if not self.database_url.startswith(("sqlite://", "postgres://")):
            raise ConfigurationError("DATABASE_URL must start with sqlite:// or postgres://.")
        if not self.broadcast_url.startswith(("memory://", "redis://", "postgres://")):
            raise ConfigurationError(
                "BROADCAST_URL must start with memory://, redis:// or postgres://."
            )
        if not self.rate_limit_store_url.startswith(("memory://", "redis://", "rediss://")):
            raise ConfigurationError(
                "RATE_LIMIT_URL must start with memory://, redis:// or rediss://."
            )
        if self.workers is not None and self.workers > 1 and not self.shared_between_processes:
            raise ConfigurationError(
                f"WORKERS={self.workers} needs state the processes share: BROADCAST_URL "
                "redis:// or postgres:// (memory:// reaches one process only), RATE_LIMIT_URL "
                "redis:// when BROADCAST_URL is not Redis, and a postgres:// DATABASE_URL."
            )
        if self.workers is not None and self.workers < 1:
            raise ConfigurationError(f"WORKERS must be positive, got {self.workers}.")
        if self.metrics_token and len(self.metrics_token) < MIN_METRICS_TOKEN_CHARS:
            raise ConfigurationError(
                f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_CHARS} characters."
            )
        if self.turn_urls and len(self.turn_secret) < MIN_TURN_SECRET_CHARS:
            raise ConfigurationError(
                f"TURN_SECRET must be set, at least {MIN_TURN_SECRET_CHARS} characters, when "
                "TURN_URLS is (the static-auth-secret of the TURN server)."
            )
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise ConfigurationError(
                "SMTP_URL must start with smtp:// (STARTTLS when offered) or smtps:// "
                "(TLS from the start), such as smtps://user:password@mail.example.org:465."
            )
        if self.email_from and "@" not in parseaddr(self.email_from)[1]:
            raise ConfigurationError(
                "EMAIL_FROM must be an address, or a name and an address such as "
                "'Clinic <no-reply@clinic.example>'."
            )
        if self.public_app_url and not self.public_app_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                "PUBLIC_APP_URL must be the web app's address, starting with https:// "
                "(http:// in development); the links in emails point there."
            )
        if self.is_production:
            self.check_production()

    def check_production(self) -> None:
        if self.jwt_secret_is_generated or not self.jwt_secret:
            raise ConfigurationError(
                "JWT_SECRET is required when HEALTHCARE_ENV=production "
                f"(at least {MIN_SECRET_BYTES} random bytes)."
            )
        if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"JWT_SECRET is too short: production needs at least {MIN_SECRET_BYTES} bytes."
            )
        if not self.smtp_url:
            raise ConfigurationError(
                "SMTP_URL is required when HEALTHCARE_ENV=production: without it emails are "
                "only written to files (a development default)."
            )
        if not self.email_from:
            raise ConfigurationError(
                "EMAIL_FROM is required when HEALTHCARE_ENV=production, such as "
                "'Clinic <no-reply@clinic.example>'."
            )
        if not self.public_app_url.startswith("https://"):
            raise ConfigurationError(
                "PUBLIC_APP_URL must start with https:// in production (links in emails)."
            )
        if "*" in self.cors_allowed_origins or "*" in self.ws_allowed_origins:
            raise ConfigurationError(
                "CORS_ALLOWED_ORIGINS and WS_ALLOWED_ORIGINS may not be '*' in production."
            )


def _jwt_secret(env: Mapping[str, str], mode: str, data_dir: Path) -> tuple[str, bool]:
    """The configured secret, or in development one generated once and kept on disk."""
    configured = env.get("JWT_SECRET", "")
    if configured or mode == PRODUCTION:
        if configured and len(configured.encode()) < MIN_SECRET_BYTES and mode == DEVELOPMENT:
            logger.warning("JWT_SECRET is shorter than %d bytes.", MIN_SECRET_BYTES)
        return configured, False
    secret_file = data_dir / "dev-jwt-secret"
    if secret_file.exists():
        return secret_file.read_text().strip(), True
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    logger.warning(
        "DEVELOPMENT ONLY: generated a JWT secret in %s. Set JWT_SECRET in production.",
        secret_file,
    )
    return secret, True


async def _keep_session(connection: Any) -> None:
    """asyncpg's pool runs `RESET ALL; UNLISTEN *; CLOSE ALL; SELECT
    pg_advisory_unlock_all()` each time a connection goes back to the pool: one more round
    trip for every query outside a transaction. The app sets no session state, listens on
    no channel (pub/sub has its own connection), opens no cursor and takes no advisory
    lock, so there is nothing to reset; an open transaction is still rolled back."""


def tortoise_config(database_url: str, statement_timeout_ms: int | None = None) -> dict[str, Any]:
    connection: str | dict[str, Any] = database_url
    if database_url.startswith("postgres://"):
        connection = expand_db_url(database_url)
        connection["credentials"]["reset"] = _keep_session
        if statement_timeout_ms:
            # PostgreSQL stops any statement that runs longer, whatever the client does.
            connection["credentials"]["server_settings"] = {
                "statement_timeout": str(statement_timeout_ms)
            }
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": ["healthcare.models", "aerich.models"],
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Read by aerich (`[tool.aerich]` in pyproject.toml) when it generates migrations.
TORTOISE_ORM = tortoise_config(
    normalize_database_url(os.environ.get("DATABASE_URL", "sqlite://.data/healthcare.sqlite3"))
)
