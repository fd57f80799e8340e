"""bench.api's steps: start the servers, check they give the same answers, count the SQL
each runs per request, and load each one at saturation and at a fixed rate; then the API,
F1 and the peer (PostGraphile, bench/api/peer.py) at a fixed concurrency.

The API, F1 and F0 run as separate processes under the same uvicorn settings, the peer
under Node; the load comes from this process (uvloop, bench/api/httpload.py), one server
at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.api import httpload
from bench.api import operations as ops
from bench.api import peer as api_peer
from bench.api.data import Dataset
from bench.api.pgcount import StatementCounter, summarize
from bench.common.processes import (
    PRODUCTION_EMAIL_ENV,
    START_SECONDS,
    Server,
    cpu_seconds,
    free_port,
    log_summary,
    machine_busy_ticks,
    process_tree,
    processes_mentioning,
    quiesce,
    spawn,
    start_server,
    tree_cpu_seconds,
)
from bench.common.stats import summary_ms
from healthcare.config import Settings
from healthcare.db import asyncpg_dsn

QUANTILES = [*range(0, 100), 99.5, 99.9, 100]
COUNT_REQUESTS = 20  # requests per statement count (their background writes amortised)
COUNT_QUIET = 0.6  # s without SQL that ends a count: longer than the audit writer's 0.25 s
PAGE_SIZES = (5, 50, 100)
SATURATION_CONNECTIONS = 32
FIXED_RATE_SAMPLES, FIXED_RATE_MAX_SECONDS = 500, 25.0
PEER_CONNECTIONS = 8  # the fixed concurrency of the runs beside the peer (closed loop)
PEER_SCENARIOS = ("list", "admin", "lookup")
SATURATION_SCENARIOS = ("list", "lookup", "me", "book")
QUIET_LIMIT = 30.0  # s: how long a server may stay busy after a run (its audit backlog)
QUIET_WINDOW = 0.5  # s: quiet means under a tenth of a core over this long


@dataclass
class Context:
    folder: Path
    settings: Settings
    database_url: str
    data: Dataset
    warmup: float
    seconds: float
    connections: int
    booked: int = 0  # booking slots used so far (each run takes the next ones)
    admin_token: str = ""  # an administrator's, for the admin list (bench/api/peer.py)
    # Where the API's mail worker sends (a sink process): bookings write emails.
    smtp_url: str = PRODUCTION_EMAIL_ENV["SMTP_URL"]
    # The API's servers write emails and `healthcare mail-worker`, in a process of its own
    # (`start_mail_worker`), sends them: its CPU is counted apart (CpuMeter).
    mail_worker: subprocess.Popen[bytes] | None = None


# ---- servers ------------------------------------------------------------------------


def _through(database_url: str, port: int) -> str:
    """`database_url` with its host and port replaced by the counting proxy's."""
    parts = urlsplit(database_url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def production_env(ctx: Context, name: str, database_url: str) -> dict[str, str]:
    """What `healthcare serve` and `healthcare mail-worker` are deployed with: production
    (no demo data, no GraphiQL, no introspection)."""
    return {
        "HEALTHCARE_ENV": "production",
        **PRODUCTION_EMAIL_ENV,
        "SMTP_URL": ctx.smtp_url,
        "DATA_DIR": str(ctx.folder / f"{name}-data"),
        "DATABASE_URL": database_url,
        "JWT_SECRET": ctx.settings.jwt_secret,
        "LOG_LEVEL": "INFO",
    }


async def start_api(
    ctx: Context,
    name: str,
    database_url: str,
    workers: int = 1,
    broadcast_url: str = "memory://",
    server_sends_email: bool = True,
) -> Server:
    """`healthcare serve` as deployed; `workers` > 1 needs a shared `broadcast_url`
    (Redis: it also holds the rate limits). Without `server_sends_email`, its emails wait
    for a mail worker (`start_mail_worker`)."""
    port = free_port()
    env = {
        **production_env(ctx, name, database_url),
        "SERVER_SENDS_EMAIL": str(server_sends_email).lower(),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BROADCAST_URL": broadcast_url,
        "WORKERS": str(workers),
        # As deployed: /metrics served (to a scraper with this token), metrics recorded.
        "METRICS_TOKEN": secrets.token_urlsafe(24),
    }
    argv = [sys.executable, "-m", "healthcare.cli", "serve"]
    return await asyncio.to_thread(
        start_server, name, argv, env, ctx.folder / f"{name}.log", "/readyz"
    )


MAIL_WORKER_STARTED = b"mail worker started"  # its log line once it sends


def start_mail_worker(ctx: Context) -> subprocess.Popen[bytes]:
    """`healthcare mail-worker` on the run's database, sending to the sink: every API
    server's emails (F1's are never due), once it has started. It looks every second;
    each booking run waits until it has taken that run's emails (`outbox_sent`)."""
    env = production_env(ctx, "mail-worker", ctx.database_url) | {"EMAIL_POLL_SECONDS": "1"}
    log_path = ctx.folder / "mail-worker.log"
    process = spawn([sys.executable, "-m", "healthcare.cli", "mail-worker"], env, log_path)
    deadline = time.monotonic() + START_SECONDS
    while MAIL_WORKER_STARTED not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_mail_worker(process)
            raise RuntimeError(f"the mail worker did not start:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.1)
    return process


def stop_mail_worker(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, as a supervisor stops it (it finishes the batch in hand); its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    return process.returncode


# Due as the mail worker's claim says (healthcare.mail.worker.CLAIM_SQL).
SQL_EMAILS_DUE = """
SELECT count(*) FROM email_messages
WHERE status = 'PENDING' AND not_before <= now() AND (leased_until IS NULL OR leased_until < now())
"""


async def outbox_sent(ctx: Context, limit: float = QUIET_LIMIT) -> dict[str, float]:
    """Wait (at most `limit` seconds) until the mail worker has taken every due email and
    gone quiet, so that sending a run's emails does not share the machine with the next
    run: how long that took, and how many were still due at the limit (0 but for a
    backlog the worker could not take in time, which the results then show)."""
    if ctx.mail_worker is None or ctx.mail_worker.poll() is not None:
        raise RuntimeError("the mail worker is not running")
    started = time.perf_counter()
    connection = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        while True:
            due = await connection.fetchval(SQL_EMAILS_DUE)
            if not due or time.perf_counter() - started >= limit:
                break
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    await quiesce(ctx.mail_worker.pid, window=QUIET_WINDOW, limit=QUIET_LIMIT)
    return {"seconds": round(time.perf_counter() - started, 2), "still_due": due}


async def start_floor(ctx: Context, name: str, mode: str, extra: list[str]) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "bench.api.floor", "--mode", mode, "--port", str(port), *extra]
    env = {"PORT": str(port), "JWT_SECRET": ctx.settings.jwt_secret}
    return await asyncio.to_thread(
        start_server, name, argv, env, ctx.folder / f"{name}.log", "/healthz"
    )


async def stop(*servers: Server | None) -> None:
    for server in servers:
        if server is not None:
            await asyncio.to_thread(server.stop)


# ---- CPU ----------------------------------------------------------------------------


class CpuMeter:
    """CPU over a window: the server, the PostgreSQL backends of the run's database, this
    generator, and the whole machine (so: other work), in % of one core."""

    def __init__(
        self,
        server: Server,
        database_url: str,
        mail_worker: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.server = server
        self.database = urlsplit(database_url).path.lstrip("/")
        self.mail_worker = mail_worker.pid if mail_worker is not None else None
        self.started = time.perf_counter()
        self.server_cpu = tree_cpu_seconds(server.pid)
        self.mail_worker_cpu = self._mail_worker_cpu()
        self.generator = time.process_time()
        self.backends = self._backends()
        self.machine = machine_busy_ticks()

    def _mail_worker_cpu(self) -> float:
        if self.mail_worker is None:
            return 0.0
        with contextlib.suppress(OSError):
            return cpu_seconds(self.mail_worker)
        return 0.0

    def _backends(self) -> dict[int, float]:
        times = {}
        for pid in processes_mentioning(f" {self.database} "):
            with contextlib.suppress(OSError):
                times[pid] = cpu_seconds(pid)
        return times

    def result(self) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        backends = self._backends()
        busy, total = machine_busy_ticks()
        used = {
            "server": tree_cpu_seconds(self.server.pid) - self.server_cpu,
            "postgres": sum(cpu - self.backends.get(pid, 0.0) for pid, cpu in backends.items()),
            "generator": time.process_time() - self.generator,
            "mail_worker": self._mail_worker_cpu() - self.mail_worker_cpu,
        }
        percent = {name: value / seconds * 100 for name, value in used.items()}
        cores = os.cpu_count() or 1
        machine = (busy - self.machine[0]) / max(1, total - self.machine[1]) * 100 * cores
        return {
            **{f"{name}_percent": round(value, 1) for name, value in percent.items()},
            "machine_percent": round(machine, 1),
            "others_percent": round(machine - sum(percent.values()), 1),
        }


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes


def local_tcp_ports(pid: int) -> set[int]:
    """The local ports of the TCP sockets process `pid` holds (its database connections'
    among them: PostgreSQL knows each backend's client by that port)."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


SQL_BACKENDS = """
SELECT pid, client_port FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND client_port IS NOT NULL
"""


async def settle(server: Server) -> float:
    """Wait until `server` has gone quiet (what it left for later: audit rows, emails),
    so that it does not share the machine with the next server's run; how long it stayed
    busy, in seconds."""
    started = time.perf_counter()
    await quiesce(server.pid, window=QUIET_WINDOW, limit=QUIET_LIMIT)
    return round(max(0.0, time.perf_counter() - started - QUIET_WINDOW), 2)


class ServerCpu:
    """CPU a server spends, and its own PostgreSQL backends (those whose client port is
    one of the server's sockets: pg_stat_activity beside /proc), from `start` to `stop`;
    per request, once the server has gone quiet (what it left for later, such as audit
    rows, counts too)."""

    def __init__(self, server: Server, connection: asyncpg.Connection) -> None:
        self.server = server
        self.connection = connection
        self.server_cpu = 0.0
        self.backends: dict[int, float] = {}
        self.machine = (0, 0)
        self.started = 0.0

    async def _backends(self) -> dict[int, float]:
        ports = set().union(*(local_tcp_ports(pid) for pid in process_tree(self.server.pid)))
        times = {}
        for row in await self.connection.fetch(SQL_BACKENDS):
            if row["client_port"] in ports:
                with contextlib.suppress(OSError):
                    times[row["pid"]] = cpu_seconds(row["pid"])
        return times

    async def start(self) -> None:
        self.started = time.perf_counter()
        self.server_cpu = tree_cpu_seconds(self.server.pid)
        self.backends = await self._backends()
        self.machine = machine_busy_ticks()

    async def stop(self, requests: int) -> dict[str, Any]:
        quiet_after = await settle(self.server)
        backends = await self._backends()
        server = tree_cpu_seconds(self.server.pid) - self.server_cpu
        postgres = sum(cpu - self.backends.get(pid, 0.0) for pid, cpu in backends.items())
        busy, total = machine_busy_ticks()
        cores = os.cpu_count() or 1
        seconds = time.perf_counter() - self.started
        machine = (busy - self.machine[0]) / max(1, total - self.machine[1]) * cores * seconds
        per = max(1, requests)
        return {
            "requests": requests,
            "server_ms_per_request": round(server * 1000 / per, 3),
            "postgres_ms_per_request": round(postgres * 1000 / per, 3),
            "total_ms_per_request": round((server + postgres) * 1000 / per, 3),
            "machine_ms_per_request": round(machine * 1000 / per, 3),
            "backends": len(backends),
            # How long the server stayed busy after the last answer (its audit backlog).
            "busy_after_run_seconds": quiet_after,
        }


# ---- requests -----------------------------------------------------------------------


def scenario_requests(ctx: Context, scenario: str, port: int) -> list[bytes]:
    data = ctx.data
    if scenario == "list":
        body = ops.list_body(50)
        return [httpload.build_request(port, body, token) for token in data.doctor_tokens]
    if scenario == "lookup":
        return [
            httpload.build_request(port, ops.lookup_body(appointment), data.doctor_tokens[i])
            for i, appointment, _ in data.lookups
        ]
    if scenario == "me":
        tokens = data.doctor_tokens + data.patient_tokens
        return [httpload.build_request(port, ops.me_body(), token) for token in tokens]
    raise ValueError(scenario)


def booking_request(ctx: Context, port: int, k: int) -> bytes:
    patient, doctor_id, starts_at = ctx.data.booking_slot(k)
    token = ctx.data.patient_tokens[patient]
    return httpload.build_request(port, ops.book_body(doctor_id, starts_at), token)


EXPECT = {
    "list": b'"appointments"',
    "lookup": b'"appointment"',
    "me": b'"me"',
    "book": b'"AppointmentPayload"',
}


def _run_summary(result: httpload.RunResult, cpu: dict[str, float]) -> dict[str, Any]:
    ordered = sorted(result.latencies)
    quantiles = [
        round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000, 3)
        for q in QUANTILES
    ] if ordered else []  # fmt: skip
    return {
        "mode": result.mode,
        "seconds": result.seconds,
        "completed": result.completed,
        "per_second": result.per_second,
        "latency_ms": summary_ms(result.latencies),
        "quantiles": {"at": QUANTILES, "ms": quantiles},
        "errors": result.errors,
        "error_samples": result.error_samples,
        "cpu": cpu,
        **result.extra,
    }


async def saturate(ctx: Context, server: Server, scenario: str) -> dict[str, Any]:
    """Closed loop: the server's peak rate."""
    check = httpload.graphql_check(EXPECT[scenario])
    requests: Callable[[int], bytes]
    if scenario == "book":
        offset = ctx.booked
        requests = partial(lambda k, i: booking_request(ctx, server.port, k + i), offset)
    else:
        requests = httpload.round_robin(scenario_requests(ctx, scenario, server.port))
    meter = CpuMeter(server, ctx.database_url, ctx.mail_worker)
    result = await httpload.closed_loop(
        server.port, requests, check, ctx.connections, ctx.warmup, ctx.seconds
    )
    if scenario == "book":
        ctx.booked += result.extra["sent"]
    summary = _run_summary(result, meter.result())
    summary["busy_after_run_seconds"] = await settle(server)
    if scenario == "book":
        summary["emails_taken_after_run"] = await outbox_sent(ctx)
    return summary


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of a server's interleaved runs of one scenario, the one of median requests/s (the
    lower of the middle two for an even count), whole: its latencies and CPU are the
    same run's. With every round's requests/s beside it (`rounds_per_second`), in order.
    The machine's speed drifts over minutes (the same server's rate moved by half
    between runs a day apart, and by a third within one): servers measured in turn,
    round after round, see the same drift, and the median leaves out a round it spoiled."""
    ranked = sorted(runs, key=lambda run: run["per_second"])
    return {
        **ranked[(len(ranked) - 1) // 2],
        "rounds_per_second": [run["per_second"] for run in runs],
    }


def fixed_rate_seconds(ctx: Context, rate: float) -> float:
    """Long enough for FIXED_RATE_SAMPLES latencies (a p99 of a few hundred samples is
    one of their few slowest), within FIXED_RATE_MAX_SECONDS."""
    return max(ctx.seconds, min(FIXED_RATE_MAX_SECONDS, FIXED_RATE_SAMPLES / rate))


async def fixed_rate(ctx: Context, server: Server, scenario: str, rate: float) -> dict[str, Any]:
    """Open loop at `rate` requests per second: the latency below saturation."""
    check = httpload.graphql_check(EXPECT[scenario])
    requests = httpload.round_robin(scenario_requests(ctx, scenario, server.port))
    meter = CpuMeter(server, ctx.database_url, ctx.mail_worker)
    result = await httpload.open_loop(
        server.port, requests, check, rate, ctx.warmup, fixed_rate_seconds(ctx, rate)
    )
    summary = _run_summary(result, meter.result())
    summary["busy_after_run_seconds"] = await settle(server)
    return summary


# ---- beside the peer: a fixed concurrency -------------------------------------------


def peer_phase_requests(ctx: Context, scenario: str, kind: str, port: int) -> list[bytes]:
    """The requests of a scenario beside the peer: the API's operations for the API and
    F1 (`kind` "api", "f1"), the peer's documents for the same rows for the peer."""
    data = ctx.data
    if kind != "peer":
        if scenario == "admin":
            return [httpload.build_request(port, ops.admin_list_body(50), ctx.admin_token)]
        return scenario_requests(ctx, scenario, port)
    if scenario == "list":
        return [
            httpload.build_request(port, api_peer.list_body(data.doctor_ids[i], 50), token)
            for i, token in enumerate(data.doctor_tokens)
        ]
    if scenario == "admin":
        return [httpload.build_request(port, api_peer.admin_list_body(50), ctx.admin_token)]
    if scenario == "lookup":
        return [
            httpload.build_request(port, api_peer.lookup_body(appointment), data.doctor_tokens[i])
            for i, appointment, _ in data.lookups
        ]
    raise ValueError(scenario)


async def at_concurrency(
    ctx: Context, server: Server, kind: str, scenario: str, connections: int
) -> dict[str, Any]:
    """Closed loop at `connections`: requests/s, latency, and CPU per request of the server
    and of its own PostgreSQL backends."""
    expect = api_peer.EXPECT[scenario] if kind == "peer" else EXPECT_BESIDE_PEER[scenario]
    check = httpload.graphql_check(expect)
    requests = httpload.round_robin(peer_phase_requests(ctx, scenario, kind, server.port))
    connection = await asyncpg.connect(asyncpg_dsn(ctx.database_url))
    try:
        meter = ServerCpu(server, connection)
        await meter.start()
        result = await httpload.closed_loop(
            server.port, requests, check, connections, ctx.warmup, ctx.seconds
        )
        cpu = await meter.stop(int(result.extra["sent"]))
    finally:
        await connection.close()
    return _run_summary(result, cpu)


EXPECT_BESIDE_PEER = {
    "list": b'"appointments"',
    "admin": b'"appointments"',
    "lookup": b'"appointment"',
}


# ---- same answers, and SQL per request ----------------------------------------------


async def _ask(server: Server, data: bytes) -> tuple[int, bytes]:
    connection = await httpload.connect(server.port)
    try:
        return await asyncio.wait_for(connection.request(data), 30)
    finally:
        connection.close()


def _shape(value: Any) -> Any:
    """Keys and types without the values (bookings differ in ids and times)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__


async def compare_answers(ctx: Context, api: Server, f1: Server) -> tuple[dict, dict[str, str]]:
    """Each operation sent to the API and to F1: are the answers the same JSON? Returns
    the comparison and the API's answers (F0 serves them as its constant bodies)."""
    data = ctx.data
    documented = next(a for i, a, d in data.lookups if i == 0 and d)
    undocumented = next(a for i, a, d in data.lookups if i == 0 and not d)
    # (operation, label) -> request; the first of each operation is F0's constant body.
    cases = {
        (ops.LIST, "doctor 0"): (ops.list_body(50), data.doctor_tokens[0]),
        (ops.LIST, "doctor 1, first: 7"): (ops.list_body(7), data.doctor_tokens[1]),
        (ops.LOOKUP, "with a consultation"): (ops.lookup_body(documented), data.doctor_tokens[0]),
        (ops.LOOKUP, "without"): (ops.lookup_body(undocumented), data.doctor_tokens[0]),
        (ops.ME, "doctor"): (ops.me_body(), data.doctor_tokens[0]),
        (ops.ME, "patient"): (ops.me_body(), data.patient_tokens[0]),
    }
    if ctx.admin_token:
        cases[(ops.ADMIN_LIST, "administrator")] = (ops.admin_list_body(50), ctx.admin_token)
    comparison: dict[str, Any] = {}
    bodies: dict[str, str] = {}
    for (name, label), (body, token) in cases.items():
        api_status, api_body = await _ask(api, httpload.build_request(api.port, body, token))
        f1_status, f1_body = await _ask(f1, httpload.build_request(f1.port, body, token))
        same = api_status == f1_status == 200 and json.loads(api_body) == json.loads(f1_body)
        case = {"same_json": same, "api_bytes": len(api_body), "f1_bytes": len(f1_body)}
        if not same:
            case |= {"api": api_body[:500].decode(), "f1": f1_body[:500].decode()}
        comparison[f"{name} ({label})"] = case
        bodies.setdefault(name, api_body.decode())
    answers = []
    for server in (api, f1):
        _, body = await _ask(server, booking_request(ctx, server.port, ctx.booked))
        ctx.booked += 1
        answers.append(json.loads(body))
    comparison[ops.BOOK] = {
        "same_shape": _shape(answers[0]) == _shape(answers[1]),
        "api": answers[0],
        "f1": answers[1],
    }
    bodies[ops.BOOK] = json.dumps(answers[0], separators=(",", ":"))
    return comparison, bodies


async def _count(
    ctx: Context, proxy: StatementCounter, server: Server, make: Callable[[int], bytes]
) -> dict[str, Any]:
    """Statements per request: COUNT_REQUESTS requests one after the other, then the
    writes they left for later (the audit trail's batches), divided by the requests."""
    connection = await httpload.connect(server.port)
    try:
        await connection.request(make(-1))  # prepared statements, pool: not counted
        await proxy.settle(COUNT_QUIET, 5)
        mark = proxy.mark()
        for i in range(COUNT_REQUESTS):
            status, body = await asyncio.wait_for(connection.request(make(i)), 30)
            if status != 200 or b'"errors"' in body:
                raise RuntimeError(f"{server.name}: counting request failed: {body[:300]!r}")
        await proxy.settle(COUNT_QUIET, 5)
    finally:
        connection.close()
    total = summarize(proxy.since(mark))
    per = COUNT_REQUESTS

    def each(value: float) -> float:
        return round(value / per, 2)

    return {
        "requests": per,
        "statements": each(total["statements"]),
        "round_trips": each(total["round_trips"]),
        "queries": each(total["queries"]),
        "by_kind": {kind: each(n) for kind, n in total["by_kind"].items()},
        "sql": [{"per_request": each(s["count"]), "sql": s["sql"]} for s in total["sql"]],
    }


async def count_statements(ctx: Context, proxy: StatementCounter, server: Server) -> dict:
    data = ctx.data
    token = data.doctor_tokens[0]
    counts: dict[str, Any] = {}
    for size in PAGE_SIZES:
        request = httpload.build_request(server.port, ops.list_body(size), token)
        counts[f"list_{size}"] = await _count(ctx, proxy, server, httpload.round_robin([request]))
    lookups = [a for i, a, _ in data.lookups if i == 0]
    counts["lookup"] = await _count(
        ctx,
        proxy,
        server,
        lambda i: httpload.build_request(
            server.port, ops.lookup_body(lookups[i % len(lookups)]), token
        ),
    )
    counts["me"] = await _count(
        ctx, proxy, server, lambda i: httpload.build_request(server.port, ops.me_body(), token)
    )
    offset = ctx.booked + 1
    counts["book"] = await _count(
        ctx, proxy, server, lambda i: booking_request(ctx, server.port, offset + i)
    )
    ctx.booked += COUNT_REQUESTS + 2
    return counts


async def count_beside_peer(
    ctx: Context, proxy: StatementCounter, server: Server, kind: str
) -> dict[str, Any]:
    """Statements per request of the runs beside the peer (for the API and F1, the
    administrator's list: count_statements has counted their list of 50 and lookup)."""
    scenarios: tuple[str, ...] = PEER_SCENARIOS if kind == "peer" else ("admin",)
    if not ctx.admin_token:
        scenarios = tuple(scenario for scenario in scenarios if scenario != "admin")
    counts = {}
    for scenario in scenarios:
        requests = peer_phase_requests(ctx, scenario, kind, server.port)
        if scenario == "lookup":  # doctor 0's, as count_statements does
            requests = requests[: len([a for i, a, _ in ctx.data.lookups if i == 0])]
        else:
            requests = requests[:1]
        key = "list_50" if scenario == "list" else scenario
        counts[key] = await _count(ctx, proxy, server, httpload.round_robin(requests))
    return counts


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # an error page, not JSON
        return None


async def compare_lists(ctx: Context, f1: Server, f2: Server) -> dict[str, Any]:
    """Every signed-in doctor's list of 50 (the list beside the peer) and a list of 5,
    and the administrator's (no appointments of their own: an empty page), from F1 and
    from F2: the same JSON, cursors included? (A failed or unreadable answer is a
    difference, not a crash.)"""
    different = []
    tokens = ctx.data.doctor_tokens + ([ctx.admin_token] if ctx.admin_token else [])
    for index, token in enumerate(tokens):
        for size in (5, 50):
            body = ops.list_body(size)
            (f1_status, f1_body), (f2_status, f2_body) = [
                await _ask(server, httpload.build_request(server.port, body, token))
                for server in (f1, f2)
            ]
            expected = _json_or_none(f1_body)
            same = f1_status == f2_status == 200 and expected is not None
            if not same or _json_or_none(f2_body) != expected:
                shown = f2_body[:300].decode(errors="replace")
                different.append({"doctor": index, "first": size, "f2": shown})
    cases = 2 * len(tokens)
    return {"same_json": not different, "cases": cases, "different": different[:3]}


async def verify_and_count(
    ctx: Context, with_peer: bool = False, with_f2: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """The API and F1 (and the peer, and F2) through the counting proxy: same answers?
    same rows? how much SQL?"""
    proxy = StatementCounter(*_upstream(ctx.database_url))
    await proxy.start()
    api = f1 = f2 = peer = None
    try:
        proxied = _through(ctx.database_url, proxy.port)
        api = await start_api(ctx, "api-counted", proxied, server_sends_email=False)
        f1 = await start_floor(ctx, "f1-counted", "f1", ["--database-url", asyncpg_dsn(proxied)])
        comparison, bodies = await compare_answers(ctx, api, f1)
        checked: dict[str, Any] = {"answers": comparison}
        if with_f2:
            f2 = await start_floor(
                ctx, "f2-counted", "f2", ["--database-url", asyncpg_dsn(proxied)]
            )
            checked["f2_answers"] = await compare_lists(ctx, f1, f2)
        if with_peer:
            peer = await api_peer.start_peer(ctx.folder, "peer-counted", proxied)
            checked["peer_rows"] = await api_peer.compare(
                api, peer, api_peer.cases(ctx.data, ctx.admin_token)
            )
        # Each server counted while the others wait idle; the API first, then stopped,
        # and each after it alone with idle ones: the API's background jobs (sweeps,
        # the outbox) would count as another server's.
        statements = {
            "api": await count_statements(ctx, proxy, api)
            | await count_beside_peer(ctx, proxy, api, "api")
        }
        await stop(api)
        statements["f1"] = await count_statements(ctx, proxy, f1) | await count_beside_peer(
            ctx, proxy, f1, "f1"
        )
        await stop(f1)
        if f2 is not None:
            request = httpload.build_request(f2.port, ops.list_body(50), ctx.data.doctor_tokens[0])
            statements["f2"] = {
                "list_50": await _count(ctx, proxy, f2, httpload.round_robin([request]))
            }
            await stop(f2)
        if peer is not None:
            statements["peer"] = await count_beside_peer(ctx, proxy, peer, "peer")
        checked["statements"] = statements
        return checked, bodies
    finally:
        await stop(api, f1, f2, peer)
        await proxy.close()


def _upstream(database_url: str) -> tuple[str, int]:
    parts = urlsplit(database_url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


# ---- profile ------------------------------------------------------------------------


def start_profiler(server: Server, seconds: float, output: Path) -> subprocess.Popen | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy not found: no profile (.venv/bin/pip install py-spy)", flush=True)
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy, "record", "--pid", str(server.pid), "--rate", "100", "--native"]
    command += ["--duration", str(int(seconds)), "--format", "speedscope", "--output", str(output)]
    return subprocess.Popen(  # noqa: S603 (py-spy on our own server process)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def server_logs(*servers: Server) -> dict[str, Any]:
    """Each server's log summary, with its first warnings and errors in full."""
    logs = {}
    for server in servers:
        lines = server.log_path.read_text(errors="replace").splitlines()
        notable = [
            line[:1000]
            for line in lines
            if any(f'"level": "{level}"' in line for level in ("WARNING", "ERROR", "CRITICAL"))
            or line.startswith(("WARNING", "ERROR", "Traceback"))
        ]
        logs[server.name] = log_summary(server) | {"warnings_and_errors": notable[:10]}
    return logs
