"""The aerich migrations build exactly the schema that the models describe (PostgreSQL).

The rest of the suite may run on SQLite in this process, and one process should use one
database backend, so each check runs in a subprocess of its own. The server comes from
TEST_POSTGRES_URL, else a postgres:// DATABASE_URL, else the local default; when it is
unreachable the tests are skipped, except on CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from healthcare.config import normalize_database_url
from healthcare.db import MIGRATIONS_DIR

pytestmark = pytest.mark.postgres

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
SUBPROCESS_TIMEOUT_SECONDS = 300
BIO_COLUMN_LINE = re.compile(r'^\s*"bio" [^\n]*,\n', re.MULTILINE)

CHECK_WITH_OTHER_MIGRATIONS = """
import asyncio, json, sys
from pathlib import Path
from healthcare.ops.migration_check import check_on_server
print(json.dumps(asyncio.run(check_on_server(sys.argv[1], Path(sys.argv[2])))))
"""


def postgres_server_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        configured = normalize_database_url(os.environ.get("DATABASE_URL", ""))
        url = configured if configured.startswith("postgres://") else DEFAULT_POSTGRES_URL
    return normalize_database_url(url)


@pytest.fixture
def postgres_url() -> str:
    url = postgres_server_url()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as error:
        reason = (
            f"PostgreSQL at {host}:{port} is unreachable ({error}); the migration check needs "
            "one (set TEST_POSTGRES_URL or a postgres:// DATABASE_URL)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def run_python(args: list[str], database_url: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HEALTHCARE_ENV": "development",
        "DATA_DIR": str(data_dir),  # the development JWT secret goes here, not in the repo
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )


def test_the_migrations_build_exactly_the_schema_that_the_models_describe(
    postgres_url: str, tmp_path: Path
) -> None:
    # given
    command = ["-m", "healthcare.cli", "check-migrations"]

    # when
    result = run_python(command, postgres_url, tmp_path)

    # then
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "The migrations match the models." in result.stdout


def test_the_migration_check_reports_a_column_that_the_migrations_leave_out(
    postgres_url: str, tmp_path: Path
) -> None:
    # given a copy of the migrations whose first one creates "users" without "bio"
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    initial = min((migrations / "models").glob("0_*.py"))
    sql = initial.read_text()
    assert BIO_COLUMN_LINE.search(sql), f'no "bio" column line in {initial.name}'
    initial.write_text(BIO_COLUMN_LINE.sub("", sql, count=1))

    # when
    result = run_python(
        ["-c", CHECK_WITH_OTHER_MIGRATIONS, postgres_url, str(migrations)], postgres_url, tmp_path
    )

    # then
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    differences = json.loads(result.stdout.strip().splitlines()[-1])
    assert any('"users"."bio"' in difference for difference in differences), differences
