"""Settings from the environment: safe development defaults, production refusals."""

import os

import pytest

from healthcare.config import ConfigurationError, Settings
from tests.servers import PRODUCTION_EMAIL_ENV

STRONG_SECRET = "s" * 48


def test_development_generates_a_secret_once_and_keeps_it(tmp_path):
    # when
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"DATA_DIR": str(tmp_path)})
    # then
    assert len(first.jwt_secret) >= 32
    assert first.jwt_secret == second.jwt_secret
    assert first.jwt_secret_is_generated
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o077 == 0


def test_the_defaults_are_the_embedded_ones(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite://{tmp_path}/healthcare.sqlite3"
    assert settings.broadcast_url == "memory://"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.access_token_ttl_seconds == 900
    assert settings.graphiql is True
    assert settings.server_sends_email is True  # one command starts everything


def test_production_refuses_to_start_without_a_secret(tmp_path):
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        Settings.from_env({"HEALTHCARE_ENV": "production", "DATA_DIR": str(tmp_path)})


def test_production_refuses_a_short_secret(tmp_path):
    with pytest.raises(ConfigurationError, match="JWT_SECRET is too short"):
        Settings.from_env(
            {"HEALTHCARE_ENV": "production", "JWT_SECRET": "short", "DATA_DIR": str(tmp_path)}
        )


def test_production_never_uses_a_generated_development_secret(tmp_path):
    # given: a development run left a generated secret behind
    Settings.from_env({"DATA_DIR": str(tmp_path)})
    # then
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        Settings.from_env({"HEALTHCARE_ENV": "production", "DATA_DIR": str(tmp_path)})


def test_production_with_a_strong_secret_turns_graphiql_off(tmp_path):
    settings = Settings.from_env(
        {
            "HEALTHCARE_ENV": "production",
            "JWT_SECRET": STRONG_SECRET,
            "DATA_DIR": str(tmp_path),
            **PRODUCTION_EMAIL_ENV,
        }
    )
    assert settings.is_production
    assert settings.graphiql is False
    assert settings.cors_allowed_origins == ()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ACCESS_TOKEN_TTL_SECONDS", "3600", "ACCESS_TOKEN_TTL_SECONDS must be at most"),
        ("PORT", "eighty", "PORT must be a whole number"),
        ("HEALTHCARE_ENV", "staging", "HEALTHCARE_ENV must be"),
        ("DATABASE_URL", "mysql://localhost/db", "DATABASE_URL must start with"),
        ("BROADCAST_URL", "kafka://localhost", "BROADCAST_URL must start with"),
        ("GRAPHIQL", "maybe", "GRAPHIQL must be true or false"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("WORKERS", "0", "WORKERS must be positive"),
        ("WORKERS", "two", "WORKERS must be a whole number"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(tmp_path, variable, value, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({"DATA_DIR": str(tmp_path), variable: value})


def test_postgresql_urls_are_accepted_in_either_spelling(tmp_path):
    settings = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u@db:5432/clinic"}
    )
    assert settings.database_url == "postgres://u@db:5432/clinic"


def test_turn_urls_need_the_turn_servers_secret(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "TURN_URLS": "turn:turn.example.org:3478"}
    with pytest.raises(ConfigurationError, match="TURN_SECRET"):
        Settings.from_env(env)
    with pytest.raises(ConfigurationError, match="TURN_SECRET"):
        Settings.from_env({**env, "TURN_SECRET": "short"})
    settings = Settings.from_env({**env, "TURN_SECRET": "s" * 32})
    assert settings.turn_urls == ("turn:turn.example.org:3478",)
    assert "s" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TURN_URLS", "stun:turn.example.org:3478"),
        ("TURN_URLS", "https://turn.example.org"),
        ("STUN_URLS", "turn:stun.example.org"),
        ("STUN_URLS", "stun:a b"),
    ],
)
def test_ice_server_urls_must_be_of_their_kind(tmp_path, name, value):
    env = {"DATA_DIR": str(tmp_path), name: value, "TURN_SECRET": "s" * 32}
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(env)


def test_the_video_call_window_and_ring_are_configurable(tmp_path):
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "VIDEO_CALL_OPENS_MINUTES_BEFORE": "5",
            "VIDEO_CALL_CLOSES_MINUTES_AFTER": "60",
            "VIDEO_CALL_RING_SECONDS": "30",
        }
    )
    assert (
        settings.video_call_opens_minutes_before,
        settings.video_call_closes_minutes_after,
        settings.video_call_ring_seconds,
    ) == (5, 60, 30)
    assert (Settings().stun_urls, Settings().turn_urls) == ((), ())


SHARED = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "BROADCAST_URL": "redis://127.0.0.1:6379/0",
}


def test_one_worker_by_default_on_the_embedded_defaults(tmp_path):
    # memory:// pub/sub reaches one process only, and a SQLite file takes one writer
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.worker_count == 1


def test_one_worker_per_core_by_default_on_shared_servers(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), **SHARED})
    assert settings.worker_count == len(os.sched_getaffinity(0))


def test_workers_can_be_set(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "WORKERS": "3", **SHARED})
    assert settings.worker_count == 3


@pytest.mark.parametrize(
    "env",
    [
        {},  # SQLite and memory://
        {"DATABASE_URL": SHARED["DATABASE_URL"]},  # memory:// pub/sub
        {"BROADCAST_URL": SHARED["BROADCAST_URL"]},  # SQLite
        # PostgreSQL pub/sub, but rate limits in each process's memory
        {"DATABASE_URL": SHARED["DATABASE_URL"], "BROADCAST_URL": SHARED["DATABASE_URL"]},
    ],
)
def test_several_workers_are_refused_without_state_they_can_share(tmp_path, env):
    with pytest.raises(ConfigurationError, match="WORKERS=2 needs state the processes share"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "WORKERS": "2", **env})


def test_postgres_pub_sub_serves_several_workers_with_rate_limits_on_redis(tmp_path):
    env = {
        "DATABASE_URL": SHARED["DATABASE_URL"],
        "BROADCAST_URL": SHARED["DATABASE_URL"],
        "RATE_LIMIT_URL": SHARED["BROADCAST_URL"],
        "WORKERS": "2",
    }
    assert Settings.from_env({"DATA_DIR": str(tmp_path), **env}).worker_count == 2
