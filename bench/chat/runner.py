"""One server under the benchmark's load: start it, warm it up, read its memory empty,
idle and listening, drive the messages, read its CPU, stop it.

The API and the floors go through the very same steps with the same clients, pairs,
schedule and Redis; they differ only in the server (and, for the relay, its protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import asyncio as aioredis

from bench.chat.clients import ApiClient, RelayClient
from bench.chat.floor import POOL_MAX
from bench.chat.load import Client, HttpPool, Recorder, run_schedule
from bench.common.processes import (
    PRODUCTION_EMAIL_ENV,
    CpuWindow,
    RedisProcess,
    Server,
    free_port,
    log_summary,
    quiesce,
    rss_kib,
    start_server,
)
from bench.common.seed import Pair
from bench.common.stats import summary_ms
from healthcare.config import Settings

CONNECT_CONCURRENCY = 50
PHASE_SECONDS = 120.0  # connecting or subscribing everyone may take at most this
TEXT = "Running ten minutes late, the traffic on the ring road is terrible. See you soon! "


@dataclass(frozen=True)
class Run:
    args: argparse.Namespace
    folder: Path
    redis: RedisProcess
    settings: Settings
    warmup: Sequence[Pair]
    pairs: Sequence[Pair]


@dataclass(frozen=True)
class Target:
    name: str
    client: type[Client]
    ready_path: str
    argv: Callable[[Run, int], list[str]]
    env: Callable[[Run, int], dict[str, str]]


def _api_env(run: Run, port: int) -> dict[str, str]:
    return {
        # production: no demo seeding, no GraphiQL, no field suggestions; as deployed.
        "HEALTHCARE_ENV": "production",
        **PRODUCTION_EMAIL_ENV,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATA_DIR": str(run.folder / "api-data"),
        "DATABASE_URL": with_pool(run.settings.database_url, run.args.db_pool_max),
        "BROADCAST_URL": run.redis.url,
        "JWT_SECRET": run.settings.jwt_secret,
        "LOG_LEVEL": run.args.server_log_level,
        # Every client of the generator comes from 127.0.0.1: one address, N sockets.
        "WS_MAX_CONNECTIONS_PER_ADDRESS": str(run.args.clients + 100),
        # One process, as the floors: with BROADCAST_URL set, `serve` would run one per core.
        "WORKERS": "1",
    }


API = Target(
    name="api",
    client=ApiClient,
    ready_path="/readyz",
    argv=lambda run, port: [sys.executable, "-m", "healthcare.cli", "serve"],
    env=_api_env,
)


def _floor_argv(mode: str) -> Callable[[Run, int], list[str]]:
    def argv(run: Run, port: int) -> list[str]:
        command = [sys.executable, "-m", "bench.chat.floor", "--mode", mode]
        command += ["--port", str(port), "--redis-url", run.redis.url]
        return [*command, "--db-pool-max", str(run.args.db_pool_max or POOL_MAX)]

    return argv


def _honest_env(run: Run, port: int) -> dict[str, str]:
    database_url = run.settings.database_url
    return {"PORT": str(port), "DATABASE_URL": database_url, "JWT_SECRET": run.settings.jwt_secret}


# The API's durable work (sign-in, numbered message, audit, notification, email, commit,
# publish, push) without GraphQL or the ORM, on the API's wire protocol and clients.
HONEST = Target(
    name="honest",
    client=ApiClient,
    ready_path="/healthz",
    argv=_floor_argv("honest"),
    env=_honest_env,
)
# Publish and push only: what the stack (Starlette, uvicorn, broadcaster, Redis) costs.
RELAY = Target(
    name="relay",
    client=RelayClient,
    ready_path="/healthz",
    argv=_floor_argv("relay"),
    env=lambda run, port: {"PORT": str(port)},
)
TARGETS = (API, HONEST, RELAY)


async def _bounded(what: str, steps: Sequence[Awaitable[None]], concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)

    async def one(step: Awaitable[None]) -> None:
        async with slots:
            await step

    try:
        await asyncio.wait_for(asyncio.gather(*(one(s) for s in steps)), PHASE_SECONDS)
    except TimeoutError:
        raise RuntimeError(f"{what} took more than {PHASE_SECONDS:g} s") from None


async def _channels_subscribed(run: Run, pairs: Sequence[Pair]) -> None:
    """Wait until the server has subscribed to every conversation's channel in Redis."""
    channels = [f"conversation.{pair.conversation_id}" for pair in pairs]
    redis = aioredis.from_url(run.redis.url)
    try:
        deadline = time.monotonic() + PHASE_SECONDS
        while time.monotonic() < deadline:
            counts = await redis.pubsub_numsub(*channels)
            if all(count > 0 for _, count in counts):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("the server did not subscribe to every conversation in time")
    finally:
        await redis.aclose()


class Session:
    """The clients of one phase (warm-up or measurement), opened and closed together."""

    def __init__(self, run: Run, target: Target, server: Server, pairs: Sequence[Pair]) -> None:
        self.run, self.target, self.server, self.pairs = run, target, server, pairs
        self.recorder = Recorder()
        self.http = HttpPool(server.base_url) if run.args.send_via == "http" else None
        compression = not run.args.no_compression
        self.clients = [
            target.client(server.base_url, i, pairs[i // 2], self.recorder, compression, self.http)
            for i in range(len(pairs) * 2)
        ]

    async def open(self) -> float:
        started = time.perf_counter()
        await _bounded("connecting", [c.open() for c in self.clients], CONNECT_CONCURRENCY)
        return round(time.perf_counter() - started, 2)

    async def listen(self) -> float:
        started = time.perf_counter()
        await _bounded("subscribing", [c.listen() for c in self.clients], CONNECT_CONCURRENCY)
        if self.target.client is ApiClient:  # subscribed when Redis says so
            await _channels_subscribed(self.run, self.pairs)
        return round(time.perf_counter() - started, 2)

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True), 60
            )
        if self.http is not None:
            await self.http.close()


async def _warm_up(run: Run, target: Target, server: Server) -> None:
    """A few conversations end to end, so one-time costs (imports, caches, pool
    connections) are paid before the empty-server memory reading."""
    session = Session(run, target, server, run.warmup)
    try:
        await session.open()
        await session.listen()
        await quiesce(server.pid)
        for client in session.clients:
            await client.send(TEXT)
        if not await session.recorder.drained(15):
            raise RuntimeError(f"warm-up messages not delivered:\n{server.log_tail()}")
    finally:
        await session.close()


def _profile(run: Run, server: Server) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not run.args.profile or not Path(py_spy).exists():
        return None
    output = run.args.output_dir / f"profile-{server.name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    run.args.output_dir.mkdir(parents=True, exist_ok=True)
    # Native frames show where CPython itself spends (the cyclic GC, zlib); they need
    # py-spy to pause the server for each sample, so profiled runs are a little slower.
    command = [py_spy, "record", "--pid", str(server.pid), "--rate", "50", "--native"]
    command += ["--duration", str(int(run.args.seconds)), "--format", "speedscope"]
    return subprocess.Popen(  # noqa: S603 (py-spy on our own server process)
        [*command, "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def measure(run: Run, target: Target) -> dict[str, Any]:
    args = run.args
    port = free_port()
    log = run.folder / f"{target.name}.log"
    server = await asyncio.to_thread(
        start_server, target.name, target.argv(run, port), target.env(run, port), log,
        target.ready_path,
    )  # fmt: skip
    session: Session | None = None
    try:
        await _warm_up(run, target, server)
        await quiesce(server.pid)
        empty = rss_kib(server.pid)
        session = Session(run, target, server, run.pairs)
        connect_seconds = await session.open()
        await quiesce(server.pid)
        idle = rss_kib(server.pid)
        listen_seconds = await session.listen()
        idle_share = await quiesce(server.pid)
        listening = rss_kib(server.pid)
        recorder = session.recorder
        profiler = _profile(run, server)
        cpu = CpuWindow(server, run.redis, run.settings.database_url)
        await run_schedule(session.clients, args.rate, args.seconds, _text(args), recorder)
        drained = await recorder.drained(args.drain)
        cpu_used = cpu.result()
        if profiler is not None:
            await asyncio.to_thread(profiler.wait, args.seconds + 30)
        clients = len(session.clients)
        return {
            "server": target.name,
            "clients": clients,
            "pairs": len(run.pairs),
            "send_via": args.send_via,
            "compression": not args.no_compression,
            "connect_seconds": connect_seconds,
            "listen_seconds": listen_seconds,
            "memory": _memory(empty, idle, listening, clients),
            "messages": _messages(recorder, args, drained),
            "latency_ms": summary_ms(recorder.latencies),
            "ack_latency_ms": summary_ms(recorder.acks),
            "schedule_lag_ms": summary_ms(recorder.lags),
            "cpu": cpu_used | {"server_idle_percent": round(idle_share * 100, 1)},
            "rss_after_load_kib": rss_kib(server.pid),
            "errors": dict(recorder.errors),
            "error_count": sum(recorder.errors.values()),
            "server_exited_during_run": server.process.poll(),
            "server_log": log_summary(server),
        }
    except BaseException:
        print(f"{target.name} log tail:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        if session is not None:
            await session.close()
        await asyncio.to_thread(server.stop)


def with_pool(database_url: str, pool_max: int | None) -> str:
    """The database URL with Tortoise's pool size for PostgreSQL (default: left as is)."""
    if pool_max is None or not database_url.startswith("postgres://"):
        return database_url
    parts = urlsplit(database_url)
    query = "&".join(filter(None, [parts.query, f"maxsize={pool_max}"]))
    return urlunsplit(parts._replace(query=query))


def _text(args: argparse.Namespace) -> str:
    return (TEXT * (args.text_length // len(TEXT) + 1))[: args.text_length]


def _memory(empty: int, idle: int, listening: int, clients: int) -> dict[str, float]:
    return {
        "rss_empty_kib": empty,
        "rss_idle_kib": idle,
        "rss_listening_kib": listening,
        "rss_idle_mib": round(idle / 1024, 1),
        "kib_per_idle_connection": round((idle - empty) / clients, 1),
        "kib_per_listening_connection": round((listening - empty) / clients, 1),
    }


def _messages(recorder: Recorder, args: argparse.Namespace, drained: bool) -> dict[str, Any]:
    delivered = len(recorder.latencies)
    first, last_send = recorder.first_send, recorder.last_send
    last_delivery = recorder.last_delivery
    send_span = (last_send - first) if first is not None and last_send is not None else 0.0
    span = (last_delivery - first) if first is not None and last_delivery is not None else 0.0
    return {
        "scheduled": round(args.rate * args.seconds),
        "sent": recorder.sent,
        "delivered": delivered,
        "lost": len(recorder.pending),
        "all_delivered_within_drain": drained,
        # n messages over the span from the first to the last: (n - 1) intervals.
        "sent_per_second": round((recorder.sent - 1) / send_span, 1) if send_span else None,
        "delivered_per_second": round((delivered - 1) / span, 1) if span else None,
    }
