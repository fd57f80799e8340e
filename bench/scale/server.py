"""The API under bench.scale: `healthcare serve --workers N` (N uvicorn worker processes
on one port, Redis pub/sub between them), and what /proc says about its processes.

Memory is the sum over the worker processes (each holds its own sockets); CPU is the sum
over the supervisor and its workers. PSS is given beside RSS: the workers are separate
interpreters, so RSS counts the shared libraries once per worker (the per-socket figures,
a difference, are the same either way).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.chat.runner import with_pool
from bench.common.processes import (
    PRODUCTION_EMAIL_ENV,
    Server,
    cpu_seconds,
    machine_busy_ticks,
    processes_mentioning,
    rss_kib,
    start_server,
)
from healthcare.config import Settings


def start_api(
    args: argparse.Namespace,
    folder: Path,
    redis_url: str,
    settings: Settings,
    port: int,
    smtp_url: str,
) -> Server:
    env = {
        # production: no demo seeding, no GraphiQL, no field suggestions; as deployed.
        "HEALTHCARE_ENV": "production",
        **PRODUCTION_EMAIL_ENV,
        "SMTP_URL": smtp_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": str(args.workers),
        "DATA_DIR": str(folder / "api-data"),
        "DATABASE_URL": with_pool(settings.database_url, args.db_pool_max),
        "BROADCAST_URL": redis_url,
        "JWT_SECRET": settings.jwt_secret,
        "LOG_LEVEL": args.server_log_level,
        # Every socket of the generators comes from 127.0.0.1: one address, N sockets.
        "WS_MAX_CONNECTIONS_PER_ADDRESS": str(args.clients + 100),
        # The booking loop's mutations come from 127.0.0.1 too (per-account limits hold).
        "RATE_LIMIT_EXEMPT_NETWORKS": "127.0.0.1/32",
    }
    if args.gc_log:
        (folder / "gc").mkdir(exist_ok=True)
        hook = str(Path(__file__).with_name("gchook"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [hook, os.environ.get("PYTHONPATH")]))
        env["BENCH_GC_LOG_DIR"] = str(folder / "gc")
    argv = [sys.executable, "-m", "healthcare.cli", "serve", "--workers", str(args.workers)]
    return start_server("api", argv, env, folder / "api.log", "/readyz")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def workers(server: Server) -> list[int]:
    """The worker processes (multiprocessing's resource tracker left out); the server
    itself when it runs one process."""
    found = []
    for pid in children(server.pid):
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found or [server.pid]


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def sockets(pid: int) -> int:
    """Open sockets of a process (its share of the connections, plus a few of its own)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


def memory(server: Server) -> dict[str, Any]:
    pids = workers(server)
    return {
        "rss_kib": sum(rss_kib(p) for p in pids),
        "pss_kib": sum(pss_kib(p) for p in pids),
        "sockets_per_worker": [sockets(p) for p in pids],
    }


async def quiesce(pids: list[int], below: float = 0.2, limit: float = 20) -> float:
    """Wait (at most `limit` s) until the processes together use under `below` of a core."""
    deadline, share = time.monotonic() + limit, 1.0
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(p) for p in pids)
        await asyncio.sleep(0.5)
        share = (sum(cpu_seconds(p) for p in pids) - before) / 0.5
        if share < below:
            break
    return round(share * 100, 1)


class Cpu:
    """CPU over a window, in % of one core: the server (supervisor and workers), Redis, the
    benchmark database's PostgreSQL backends, each generator, and the machine."""

    def __init__(self, groups: dict[str, list[int]], database: str) -> None:
        self.groups, self.database = groups, database
        self.started = time.monotonic()
        self.before = self._sample()
        self.machine = machine_busy_ticks()

    def _sample(self) -> dict[str, float]:
        sample = {}
        for name, pids in self.groups.items():
            sample[name] = sum(_cpu(p) for p in pids)
        sample.update({f"pg:{p}": _cpu(p) for p in processes_mentioning(f" {self.database} ")})
        return sample

    def result(self) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        after = self._sample()
        busy, total = machine_busy_ticks()

        def share(name: str) -> float:
            return (after.get(name, 0.0) - self.before.get(name, 0.0)) / seconds * 100

        used = {name: round(share(name), 1) for name in self.groups}
        used["postgres"] = round(sum(share(n) for n in after if n.startswith("pg:")), 1)
        cores = os.cpu_count() or 1
        machine = (busy - self.machine[0]) / max(1, total - self.machine[1]) * 100 * cores
        return {
            "window_seconds": round(seconds, 2),
            **{f"{name}_percent": value for name, value in used.items()},
            "machine_percent_of_a_core": round(machine, 1),
            "others_percent": round(machine - sum(used.values()), 1),
        }


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # gone meanwhile
        return 0.0


def gc_pauses(folder: Path, pids: list[int], start: float, end: float) -> dict[str, Any] | None:
    """The collections that stopped a worker for 5 ms or more between `start` and `end`
    (time.monotonic), from --gc-log's files: per worker, and the longest of all."""
    if not (folder / "gc").exists():
        return None
    workers: dict[str, dict[str, Any]] = {}
    for pid in pids:
        path = folder / "gc" / f"{pid}.log"
        lines = path.read_text().splitlines()[1:] if path.exists() else []
        pauses = [line.split() for line in lines]
        pauses = [p for p in pauses if start <= float(p[0]) <= end]
        workers[str(pid)] = {
            "count": len(pauses),
            "over_20_ms": sum(float(p[2]) >= 20 for p in pauses),
            "total_ms": round(sum(float(p[2]) for p in pauses), 1),
            "max_ms": max((float(p[2]) for p in pauses), default=0.0),
            "by_generation": {g: sum(p[1] == g for p in pauses) for g in ("0", "1", "2")},
            # the longest: seconds into the window, generation, ms, objects collected
            "longest": [
                [round(float(p[0]) - start, 2), int(p[1]), float(p[2]), int(p[3])]
                for p in sorted(pauses, key=lambda p: -float(p[2]))[:5]
            ],
        }
    longest = max((float(w["max_ms"]) for w in workers.values()), default=0.0)
    return {"workers": workers, "max_ms": longest}
