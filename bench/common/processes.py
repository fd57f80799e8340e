"""The processes a benchmark run starts (Redis, the API, the floor relay) and what /proc
says about them: resident memory and CPU time.

Every server listens on 127.0.0.1 only, writes its log to a file (a pipe nobody reads
would fill and stall it), and is stopped with Ctrl-C, then killed if it lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.servers import PRODUCTION_EMAIL_ENV, RedisProcess, free_port, wait_until

__all__ = [
    "PRODUCTION_EMAIL_ENV",  # from tests.servers: production needs an SMTP server named
    "CpuWindow",
    "RedisProcess",  # from tests.servers, as the tests start it
    "Server",
    "cpu_seconds",
    "free_port",
    "log_summary",
    "machine_busy_ticks",
    "process_tree",
    "processes_mentioning",
    "quiesce",
    "raise_open_files_limit",
    "rss_kib",
    "start_server",
    "tree_cpu_seconds",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_SECONDS = 60
STOP_SECONDS = 30
# Variables of the caller's environment that would change what the servers do.
SCRUBBED = {"DATABASE_URL", "BROADCAST_URL", "JWT_SECRET", "HEALTHCARE_ENV", "LOG_LEVEL"}


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def process_tree(pid: int) -> list[int]:
    """`pid` and every process under it (a server's worker processes)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):  # gone meanwhile
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
            pending += [int(child) for child in children.split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time `pid` and the processes under it have used so far (a process that ended
    meanwhile no longer counts: read before and after a window, keep workers running)."""
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(member)
    return total


def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line contains `text` (PostgreSQL names each backend's
    database in its title: "postgres: 15/main: postgres <database> 127.0.0.1(...)")."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile
                continue
    return found


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def raise_open_files_limit(needed: int) -> int:
    """Raise this process's (and so its children's) file-descriptor limit; the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(max(soft, needed), hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        raise RuntimeError(f"need {needed} open files, the hard limit is {hard}")
    return wanted


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int | None:
        """Ctrl-C, as an operator would; killed after STOP_SECONDS. The exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)
        return self.process.returncode


def spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `argv` from the checkout with this environment less SCRUBBED, plus `env`;
    its output to `log_path`."""
    environment = {k: v for k, v in os.environ.items() if k not in SCRUBBED} | env
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
            argv, env=environment, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )


def start_server(
    name: str, argv: list[str], env: dict[str, str], log_path: Path, ready_path: str
) -> Server:
    """Start `argv` (which must listen on env PORT) and wait until `ready_path` answers 200."""
    port = int(env["PORT"])
    process = spawn(argv, env, log_path)
    server = Server(name, process, port, log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        return httpx.get(f"{server.base_url}{ready_path}", timeout=2).status_code == 200

    try:
        wait_until(ready, START_SECONDS)
    except BaseException:
        server.stop()
        raise
    return server


async def quiesce(pid: int, below: float = 0.1, window: float = 0.5, limit: float = 15) -> float:
    """Wait (at most `limit` seconds) until `pid` (with its worker processes) uses less
    than `below` of a core over a `window`: a server still busy with the last step would
    skew a memory or load reading. Returns the last window's CPU share."""
    deadline = time.monotonic() + limit
    share = 1.0
    while time.monotonic() < deadline:
        before = tree_cpu_seconds(pid)
        await asyncio.sleep(window)
        share = (tree_cpu_seconds(pid) - before) / window
        if share < below:
            break
    return share


class CpuWindow:
    """CPU used over a window by the server, Redis, the PostgreSQL backends serving the
    benchmark's database, this generator, and the whole machine (other work included)."""

    def __init__(self, server: Server, redis: RedisProcess, database_url: str) -> None:
        assert redis.process is not None
        self.pids = {"server": server.pid, "redis": redis.process.pid}
        self.database = urlsplit(database_url).path.lstrip("/")
        self.started = time.perf_counter()
        self.before = self._sample()
        self.backends_before = self._backends()
        self.machine = machine_busy_ticks()

    def _sample(self) -> dict[str, float]:
        sample = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return sample | {"generator": time.process_time()}

    def _backends(self) -> dict[int, float]:
        if not self.database.startswith("healthcare_bench_"):
            return {}  # SQLite: the database is inside the server process
        times = {}
        for pid in processes_mentioning(f" {self.database} "):
            with contextlib.suppress(OSError):
                times[pid] = cpu_seconds(pid)
        return times

    def result(self) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        after, backends = self._sample(), self._backends()
        busy, total = machine_busy_ticks()
        used = {name: (after[name] - self.before[name]) / seconds * 100 for name in after}
        used["postgres"] = (
            sum(cpu - self.backends_before.get(pid, 0.0) for pid, cpu in backends.items())
            / seconds
            * 100
        )
        cores = os.cpu_count() or 1
        machine = (busy - self.machine[0]) / max(1, total - self.machine[1]) * 100 * cores
        return {
            "window_seconds": round(seconds, 2),
            **{f"{name}_percent": round(value, 1) for name, value in used.items()},
            # All of the machine's cores, in % of one core (200 = both of two cores busy),
            # and what neither the servers nor the generator used: other work on the machine.
            "machine_percent_of_a_core": round(machine, 1),
            "others_percent": round(machine - sum(used.values()), 1),
        }


def log_summary(server: Server) -> dict[str, Any]:
    """How much the server logged, at which levels, and its last lines (JSON lines for
    the API; uvicorn's plain lines, if any, for the floor)."""
    lines = server.log_path.read_text(errors="replace").splitlines()
    levels = Counter(
        level
        for line in lines
        for level in ("WARNING", "ERROR", "CRITICAL")
        if f'"level": "{level}"' in line or line.startswith(level)
    )
    return {"lines": len(lines), "levels": dict(levels), "tail": lines[-15:]}
