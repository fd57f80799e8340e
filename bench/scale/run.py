"""The steps of one bench.scale run: start the server, warm it up, read its memory empty;
start the generators; connect everyone (memory idle), subscribe everyone (memory
listening); send on both schedules while reading CPU; drain; close; stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from redis import asyncio as aioredis

from bench.common.processes import RedisProcess, Server, free_port, log_summary
from bench.common.seed import Pair
from bench.common.smtp import SmtpSink
from bench.scale import generator
from bench.scale.generator import Generator, Plan
from bench.scale.seed import Listener
from bench.scale.server import (
    Cpu,
    gc_pauses,
    memory,
    quiesce,
    start_api,
    workers,
)
from healthcare.config import Settings

WARMUP_PAIRS = 4
WARMUP_LISTENERS = 4
PHASE_SECONDS = 300.0  # connecting or subscribing everyone may take at most this


@dataclass(frozen=True)
class Stage:
    """What the run was given: the first WARMUP_* pairs and listeners are the warm-up's."""

    folder: Path
    redis: RedisProcess
    settings: Settings
    pairs: Sequence[Pair]
    listeners: Sequence[Listener]


def _plan(
    args: argparse.Namespace,
    base_url: str,
    pairs: Sequence[Pair],
    listeners: Sequence[Listener],
    index: int = 0,
    generators: int = 1,
) -> Plan:
    return Plan(
        base_url=base_url,
        index=index,
        generators=generators,
        pairs=list(pairs[index::generators]),
        listeners=list(listeners[index::generators]),
        pairs_total=len(pairs),
        listeners_total=len(listeners),
        compression=not args.no_compression,
        rate=args.rate,
        notify_rate=args.notify_rate,
        seconds=args.seconds,
        drain=args.drain,
    )


async def _subscribed(redis_url: str, pairs: Sequence[Pair], people: Sequence[Listener]) -> None:
    """Wait until the server has subscribed every conversation's and listener's channel."""
    channels = [f"conversation.{p.conversation_id}" for p in pairs]
    channels += [f"notifications.{p.patient_id}" for p in people]
    redis = aioredis.from_url(redis_url)
    try:
        deadline = time.monotonic() + PHASE_SECONDS
        while channels and time.monotonic() < deadline:
            missing = []
            for at in range(0, len(channels), 1000):
                counts = await redis.pubsub_numsub(*channels[at : at + 1000])
                missing += [name.decode() for name, count in counts if not count]
            channels = missing
            if channels:
                await asyncio.sleep(0.5)
        if channels:
            raise RuntimeError(f"the server did not subscribe {len(channels)} channels in time")
    finally:
        await redis.aclose()


async def _warm_up(args: argparse.Namespace, stage: Stage, server: Server) -> None:
    """A few sockets end to end (a message each way, a cancel and rebook each), so
    one-time costs are paid before the empty-server memory reading."""
    pairs, people = stage.pairs[:WARMUP_PAIRS], stage.listeners[:WARMUP_LISTENERS]
    plan = _plan(args, server.base_url, pairs, people)
    plan = Plan(**vars(plan) | {"rate": 2.0 * len(pairs), "seconds": 1.0, "drain": 15.0})
    plan = Plan(**vars(plan) | {"notify_rate": float(len(people))})
    warm = Generator(plan)
    try:
        await warm.connect()
        await warm.subscribe()
        await _subscribed(stage.redis.url, pairs, people)
        outcome = await warm.run(time.monotonic_ns() + 100_000_000)
    finally:
        await warm.close()
    if outcome["chat"]["lost"] or outcome["notifications"]["lost"] or outcome["errors"]:
        raise RuntimeError(f"warm-up failed: {outcome['errors']}\n{server.log_tail()}")


class Generators:
    """The generator processes, each behind a pipe."""

    def __init__(self, plans: list[Plan]) -> None:
        context = multiprocessing.get_context("spawn")  # fresh interpreters, no fork
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for plan in plans:
            ours, theirs = context.Pipe()
            process = context.Process(target=generator.main, args=(plan, theirs), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    async def all(self, command: str, argument: Any = None) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((command, argument))
        return list(await asyncio.gather(*(asyncio.to_thread(self._reply, p) for p in self.pipes)))

    @staticmethod
    def _reply(pipe: Connection) -> Any:
        if not pipe.poll(PHASE_SECONDS + 120):
            raise RuntimeError("a generator did not answer in time")
        status, reply = pipe.recv()
        if status != "ok":
            raise RuntimeError(f"a generator failed: {reply}")
        return reply

    def stop(self) -> None:
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)


async def measure(args: argparse.Namespace, stage: Stage) -> dict[str, Any]:
    port, smtp = free_port(), SmtpSink()
    smtp.controller.start()
    server = await asyncio.to_thread(
        start_api, args, stage.folder, stage.redis.url, stage.settings, port, smtp.url
    )
    pairs, people = stage.pairs[WARMUP_PAIRS:], stage.listeners[WARMUP_LISTENERS:]
    pool: Generators | None = None
    try:
        await _warm_up(args, stage, server)
        pids = [server.pid, *workers(server)]
        await quiesce(pids)
        empty = memory(server)
        plans = [
            _plan(args, server.base_url, pairs, people, i, args.generators)
            for i in range(args.generators)
        ]
        pool = Generators(plans)
        started = time.monotonic()
        connected = await pool.all("connect")
        connect_seconds = round(time.monotonic() - started, 2)
        idle_cpu = await quiesce(pids)
        idle = memory(server)
        started = time.monotonic()
        subscribed = await pool.all("subscribe")
        await _subscribed(stage.redis.url, pairs, people)
        subscribe_seconds = round(time.monotonic() - started, 2)
        listening_cpu = await quiesce(pids)
        listening = memory(server)
        groups = {"server": pids, "redis": [stage.redis.process.pid if stage.redis.process else 0]}
        groups |= {f"generator{i}": [pid] for i, pid in enumerate(pool.pids())}
        database = urlsplit(stage.settings.database_url).path.lstrip("/")
        cpu = Cpu(groups, database)
        start_ns = time.monotonic_ns() + 500_000_000
        running = asyncio.ensure_future(pool.all("run", start_ns))
        # CPU over the sending window only, not the drain after it.
        await asyncio.sleep(max(0.0, start_ns / 1e9 + args.seconds - time.monotonic()))
        cpu_used = cpu.result()
        window = (start_ns / 1e9, time.monotonic())
        runs = await running
        after = memory(server)
        return {
            "sockets": len(pairs) * 2 + len(people),
            "pairs": len(pairs),
            "listeners": len(people),
            "workers": len(workers(server)),
            "connect": {"seconds": connect_seconds, "per_generator": connected},
            "subscribe": {"seconds": subscribe_seconds, "per_generator": subscribed},
            "memory": {"empty": empty, "idle": idle, "listening": listening, "after": after},
            "server_cpu_quiet_percent": {"idle": idle_cpu, "listening": listening_cpu},
            "cpu": cpu_used,
            "runs": runs,
            "server_gc": gc_pauses(stage.folder, workers(server), *window),
            "emails_received": smtp.received,
            "server_exited_during_run": server.process.poll(),
            "server_log": log_summary(server),
        }
    except BaseException:
        print(f"api log tail:\n{server.log_tail()}", flush=True)
        raise
    finally:
        if pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.all("close"), 30)
            await asyncio.to_thread(pool.stop)
        await asyncio.to_thread(server.stop)
        smtp.controller.stop()
