"""The `healthcare` command, run as an operator would: in its own process, on SQLite."""

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from healthcare.config import Settings
from healthcare.demo import DEMO_PASSWORD
from healthcare.schema import build_schema, sdl
from tests.servers import PRODUCTION_EMAIL_ENV
from tests.smtp import Inbox

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on AuthPayload { accessToken }
  }
}
"""
ME = "query Me { me { email role } }"
REQUEST_PASSWORD_RESET = """
mutation RequestPasswordReset($email: String!) {
  requestPasswordReset(email: $email) { __typename }
}
"""


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "BROADCAST_URL", "JWT_SECRET", "HEALTHCARE_ENV"}
    }
    env.update({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", **extra})
    return env


def run_cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "healthcare.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_createsuperuser_with_flags_creates_an_admin_who_can_sign_in(tmp_path):
    # when
    result = run_cli(
        "createsuperuser",
        "--email=Root@Example.org",
        "--first-name=Root",
        "--last-name=Admin",
        "--password=a strong admin password",
        env=cli_env(tmp_path),
    )
    # then
    assert result.returncode == 0, result.stderr
    assert "Created administrator root@example.org" in result.stdout


def test_createsuperuser_asks_for_what_the_flags_leave_out(tmp_path):
    result = run_cli(
        "createsuperuser",
        "--password=a strong admin password",
        env=cli_env(tmp_path),
        stdin="asked@example.org\nAsked\nAdmin\n",
    )
    assert result.returncode == 0, result.stderr
    assert "asked@example.org" in result.stdout


def test_createsuperuser_refuses_a_weak_password_naming_the_field(tmp_path):
    result = run_cli(
        "createsuperuser",
        "--email=weak@example.org",
        "--first-name=Weak",
        "--last-name=Admin",
        "--password=short",
        env=cli_env(tmp_path),
    )
    assert result.returncode == 2
    assert "password" in result.stderr


def test_export_schema_prints_the_sdl(tmp_path):
    result = run_cli("export-schema", env=cli_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout == sdl(build_schema(Settings()))


def start_command(command: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "healthcare.cli", command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)


def stopped_cleanly(process: subprocess.Popen, signal_number: int) -> str:
    """Stop `process` with `signal_number`: it must exit 0 without a traceback; what it
    printed to standard output."""
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stdout


def serve_and_ask_who_alice_is(data_dir: Path) -> tuple[dict[str, str], str]:
    """Start `healthcare serve` on `data_dir`, sign in as the demo patient, ask `me`, stop
    it with Ctrl-C (it must exit 0 without a traceback); returns `me` and what it printed."""
    port = free_port()
    server = start_command("serve", cli_env(data_dir, PORT=str(port)))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base)
        login = httpx.post(
            f"{base}/graphql",
            json={
                "query": LOGIN,
                "variables": {"email": "alice@demo.clinic", "password": DEMO_PASSWORD},
            },
        ).json()["data"]["login"]
        me = httpx.post(
            f"{base}/graphql",
            json={"query": ME},
            headers={"authorization": f"Bearer {login['accessToken']}"},
        ).json()["data"]["me"]
    finally:
        stdout = stopped_cleanly(server, signal.SIGINT)
    return me, stdout


def test_serve_seeds_demo_accounts_serves_graphql_and_stops_cleanly_on_ctrl_c(tmp_path):
    # when: the demo patient signs in and asks who they are
    me, stdout = serve_and_ask_who_alice_is(tmp_path)
    # then
    assert me == {"email": "alice@demo.clinic", "role": "PATIENT"}
    assert (tmp_path / "healthcare.sqlite3").exists()
    assert "alice@demo.clinic" in stdout  # the demo accounts are printed when made


def test_serve_prints_the_demo_accounts_only_when_it_makes_them(tmp_path):
    # given: a database the demo data is already in
    assert run_cli("seed-demo", env=cli_env(tmp_path)).returncode == 0
    # when
    me, stdout = serve_and_ask_who_alice_is(tmp_path)
    # then: the same accounts, and no table on this restart
    assert me == {"email": "alice@demo.clinic", "role": "PATIENT"}
    assert "alice@demo.clinic" not in stdout
    assert "/graphql" in stdout


def reset_email_attempts(data_dir: Path, address: str) -> list[int]:
    """How many times each password-reset email to `address` was claimed for sending."""
    with sqlite3.connect(data_dir / "healthcare.sqlite3") as database:
        rows = database.execute(
            "SELECT attempts FROM email_messages WHERE kind = 'PASSWORD_RESET' AND to_address = ?",
            (address,),
        ).fetchall()
    return [attempts for (attempts,) in rows]


async def test_a_server_that_does_not_send_email_leaves_it_to_the_mail_worker_command(
    tmp_path: Path, inbox: Inbox
) -> None:
    # given: a server told not to send (SERVER_SENDS_EMAIL=false), and an SMTP server
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = cli_env(tmp_path, SMTP_URL=inbox.url, EMAIL_POLL_SECONDS="1")
    server = start_command("serve", {**env, "PORT": str(port), "SERVER_SENDS_EMAIL": "false"})
    worker = None
    try:
        await asyncio.to_thread(wait_until_serving, base)
        # when: the demo patient asks for a password reset, which writes an email
        async with httpx.AsyncClient() as http:
            variables = {"email": "alice@demo.clinic"}
            response = await http.post(
                f"{base}/graphql", json={"query": REQUEST_PASSWORD_RESET, "variables": variables}
            )
        answer = response.json()
        assert answer["data"]["requestPasswordReset"]["__typename"] == "EmailSent"
        # (written once the reset is handled, after the answer, whoever asked)
        deadline = time.monotonic() + 30
        while not reset_email_attempts(tmp_path, "alice@demo.clinic"):
            assert time.monotonic() < deadline, "no reset email was written"
            await asyncio.sleep(0.05)
        # then: the server never claims it (a server that sends is rung at commit and
        # claims at once; three of its one-second polls pass here)
        for _ in range(30):
            await asyncio.sleep(0.1)
            assert reset_email_attempts(tmp_path, "alice@demo.clinic") == [0]
        assert inbox.to("alice@demo.clinic") == []

        # when: a mail worker starts beside it
        worker = start_command("mail-worker", env)
        # then: it sends the email, once
        await inbox.wait_for_one_to("alice@demo.clinic", "password")
        assert reset_email_attempts(tmp_path, "alice@demo.clinic") == [1]
    finally:
        if worker is not None:
            await asyncio.to_thread(stopped_cleanly, worker, signal.SIGTERM)
        await asyncio.to_thread(stopped_cleanly, server, signal.SIGINT)
    resets = [m for m in inbox.to("alice@demo.clinic") if "password" in str(m["Subject"])]
    assert len(resets) == 1


def test_the_server_command_refuses_production_without_a_secret_and_says_why(tmp_path):
    result = run_cli("serve", env=cli_env(tmp_path, HEALTHCARE_ENV="production"))
    assert result.returncode == 2
    assert "JWT_SECRET is required" in result.stderr


def test_seed_demo_refuses_to_run_in_production(tmp_path):
    env = cli_env(
        tmp_path, HEALTHCARE_ENV="production", JWT_SECRET="s" * 48, **PRODUCTION_EMAIL_ENV
    )
    result = run_cli("seed-demo", env=env)
    assert result.returncode == 2
    assert "refuses" in result.stderr
