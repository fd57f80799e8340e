"""Real server processes for tests that need more than the in-process server: several
instances, a shutdown, a pub/sub server that goes away."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from healthcare.db import create_throwaway_database, drop_database


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


def server_environment(data_dir: Path, port: int, **env: str) -> dict[str, str]:
    """The environment of `healthcare serve` on `port`: this one without its DATABASE_URL,
    BROADCAST_URL, JWT_SECRET and HEALTHCARE_ENV, with `env`. Its temporary files (the
    metrics folder of several workers, which a supervisor killed with SIGKILL cannot
    remove) go to `data_dir`, which the test's temporary folder holds."""
    temporary = data_dir / "tmp"
    temporary.mkdir(parents=True, exist_ok=True)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "BROADCAST_URL", "JWT_SECRET", "HEALTHCARE_ENV"}
    }
    environment.update(
        {
            "DATA_DIR": str(data_dir),
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "TMPDIR": str(temporary),
            **env,
        }
    )
    return environment


@contextmanager
def server_process(data_dir: Path, **env: str) -> Iterator[ServerProcess]:
    """`healthcare serve` in development mode: it seeds the demo data into an empty DB."""
    port = free_port()
    environment = server_environment(data_dir, port, **env)
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


@asynccontextmanager
async def throwaway_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A database beside `server_url`'s, migrated by `healthcare migrate` in a process of
    its own (as an operator would), dropped at the end."""
    url = await create_throwaway_database(server_url, prefix)
    try:
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "healthcare.cli", "migrate"],
            env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        yield url
    finally:
        await drop_database(url, server_url)


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


@dataclass
class Scrape:
    """What `/metrics` said: `scrape(name, **labels)` is a series' value (0 if absent)."""

    text: str
    values: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> "Scrape":
        values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return cls(text, values)

    def __call__(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str) -> bool:
        return any(key[0] == name for key in self.values)

    def label_values(self, name: str, label: str) -> set[str]:
        """The values `label` takes in the series called `name`."""
        found = (dict(labels).get(label) for key, labels in self.values if key == name)
        return {value for value in found if value is not None}


# ---- for the fault suite (tests/faults): processes a test may break -----------------------


@dataclass
class LoggedServer(ServerProcess):
    """`healthcare serve` whose stderr goes to a file: a long run that logs warnings would
    fill a pipe nobody reads and stall the server."""

    log_path: Path = Path()
    name: str = ""

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode, self.log()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def spawn_server(data_dir: Path, name: str = "server", **env: str) -> LoggedServer:
    """`healthcare serve` on a free port with exactly the settings given (over the
    environment without its DATABASE_URL, BROADCAST_URL, JWT_SECRET, HEALTHCARE_ENV);
    not waited for: see `LoggedServer.base_url` and /healthz."""
    port = free_port()
    environment = server_environment(data_dir, port, **env)
    log_path = data_dir / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "healthcare.cli", "serve"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return LoggedServer(process, f"http://127.0.0.1:{port}", log_path=log_path, name=name)


def freeze(process: subprocess.Popen) -> None:
    """SIGSTOP: the process keeps its sockets open and answers nothing."""
    process.send_signal(signal.SIGSTOP)


def thaw(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGCONT)


def postgres_program(name: str) -> str | None:
    """A PostgreSQL server program (initdb, pg_ctl): on PATH, else the newest installed."""
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(installed[-1]) if installed else None


def postgres_cluster_available() -> bool:
    return all(postgres_program(name) for name in ("initdb", "pg_ctl"))


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of our own (initdb in a temporary folder, trust auth, on a
    free port, its socket in that folder), which a test may restart. Never the shared one."""

    directory: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout: float = 120) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c max_connections=300 -c fsync=off -c synchronous_commit=off"
        )
        command = [postgres_program("pg_ctl") or "pg_ctl", "-D", str(self.data_dir)]
        command += ["-o", options, "-l", str(self.log_path), "-w", "-t", "60", *args]
        subprocess.run(
            _as_postgres_user(command),
            check=True,
            capture_output=True,
            timeout=timeout,
            cwd=self.directory,
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        command = [postgres_program("initdb") or "initdb", "-D", str(self.data_dir)]
        command += ["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        subprocess.run(
            _as_postgres_user(command),
            check=True,
            capture_output=True,
            timeout=120,
            cwd=self.directory,
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut; back when it returns."""
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop", timeout=60)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A fresh cluster, started; stopped and removed afterwards, whatever happened."""
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="healthcare-pg-"))
    cluster = PostgresCluster(directory, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


# What production mode requires for email, for tests that start it: an SMTP server that is
# never reached (these tests send no email) and the web app's public address.
PRODUCTION_EMAIL_ENV = {
    "SMTP_URL": "smtp://127.0.0.1:9?starttls=off",
    "EMAIL_FROM": "Clinic <no-reply@clinic.example>",
    "PUBLIC_APP_URL": "https://app.clinic.example",
}
