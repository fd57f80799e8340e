"""Real server processes for tests that need more than the in-process server: several
instances, a shutdown, a pub/sub server that goes away."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.TransportError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError("the condition did not hold in time")


@dataclass
class ServerProcess:
    process: subprocess.Popen
    base_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/graphql"

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as an operator would; the exit code and what it printed to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stderr


@contextmanager
def server_process(data_dir: Path, **env: str) -> Iterator[ServerProcess]:
    """`healthcare serve` in development mode: it seeds the demo data into an empty DB."""
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "BROADCAST_URL", "JWT_SECRET", "HEALTHCARE_ENV"}
    }
    environment.update(
        {"DATA_DIR": str(data_dir), "PORT": str(port), "LOG_LEVEL": "WARNING", **env}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "healthcare.cli", "serve"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = ServerProcess(process, f"http://127.0.0.1:{port}")
    try:
        wait_until(lambda: httpx.get(f"{server.base_url}/healthz").status_code == 200, 60)
        yield server
    finally:
        if process.poll() is None:
            server.stop()


@dataclass
class RedisProcess:
    port: int
    data_dir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.accepts_connections)

    def accepts_connections(self) -> bool:
        """Whether the server takes a connection yet."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def redis_server_available() -> bool:
    return shutil.which("redis-server") is not None


@contextmanager
def redis_process(data_dir: Path) -> Iterator[RedisProcess]:
    """A Redis server of our own, on a free port, that a test may stop and start."""
    redis = RedisProcess(free_port(), data_dir)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def login(base_url: str, email: str, password: str) -> str:
    response = httpx.post(
        f"{base_url}/graphql",
        json={
            "query": "mutation Login($e: String!, $p: String!) { login(email: $e, password: $p)"
            " { ... on AuthPayload { accessToken } } }",
            "variables": {"e": email, "p": password},
        },
    )
    return response.json()["data"]["login"]["accessToken"]


def graphql(base_url: str, token: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]
