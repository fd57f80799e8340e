"""`make soak`: two `healthcare serve` instances (production mode) sharing one PostgreSQL
and one Redis, under mixed traffic for SOAK_MINUTES (default 10): chat on both instances
(long-lived subscriptions that resume with afterSeq, sends with a clientId), queries,
bookings and their cancellations, sockets opening and closing. Every minute it prints
each instance's RSS, open files and chat delivery; at the end a verdict (RSS slope after
the warm-up, acknowledged messages lost and duplicated) and bench/results/soak-<time>.json.
Exits 1 when the verdict fails, 2 when the run could not be made.

Settings (environment):
  SOAK_MINUTES=10               how long the traffic runs
  SOAK_WARMUP_MINUTES=2         RSS samples before this minute are left out of the slope
  SOAK_DRAIN_SECONDS=120        after the traffic, how long deliveries may still arrive
  SOAK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/soak_<pid>
                                a database the soak creates (it must not exist) and drops
  SOAK_BROADCAST_URL=           empty: a private redis-server on a free port (preferred:
                                pub/sub channels are global to a Redis server)
  SOAK_PAIRS=20                 patient-doctor pairs: 2 chat clients each
  SOAK_SEND_VIA=ws              sendMessage over the sender's socket (ws) or HTTP (http)
  SOAK_MESSAGES_PER_SECOND=3, SOAK_QUERIES_PER_SECOND=3, SOAK_BOOKINGS_PER_SECOND=0.3,
  SOAK_SOCKETS_PER_SECOND=1     the load
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import environment
from bench.common.processes import Server
from bench.soak import stack
from bench.soak.api import Http, seed
from bench.soak.chat import ChatClient, Ledger
from bench.soak.report import (
    CpuMeter,
    lost_by_minute,
    minute_lines,
    sample,
    verdict,
    verdict_lines,
)
from bench.soak.traffic import Load, Traffic, keep_signed_in

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"  # bench/results
INSTANCES = 2
READY_SECONDS = 60.0
STOP_SECONDS = 30.0


@dataclass(frozen=True)
class Config:
    minutes: float
    warmup_minutes: float
    drain_seconds: float
    database_url: str
    broadcast_url: str | None
    pairs: int
    send_via: str
    load: Load

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ

        def number(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise stack.SetupError(f"{name} must be a number, got {raw!r}") from None
            if value < 0:
                raise stack.SetupError(f"{name} must not be negative, got {raw!r}")
            return value

        send_via = env.get("SOAK_SEND_VIA", "ws").strip().lower() or "ws"
        if send_via not in ("ws", "http"):
            raise stack.SetupError(f"SOAK_SEND_VIA must be ws or http, got {send_via!r}")
        minutes = number("SOAK_MINUTES", 10)
        if minutes < 1:
            raise stack.SetupError("SOAK_MINUTES must be at least 1")
        return cls(
            minutes=minutes,
            warmup_minutes=number("SOAK_WARMUP_MINUTES", 2),
            drain_seconds=number("SOAK_DRAIN_SECONDS", 120),
            database_url=env.get("SOAK_DATABASE_URL")
            or f"postgres://postgres@127.0.0.1:5432/soak_{os.getpid()}",
            broadcast_url=env.get("SOAK_BROADCAST_URL") or None,
            pairs=max(1, int(number("SOAK_PAIRS", 20))),
            send_via=send_via,
            load=Load(
                messages_per_second=number("SOAK_MESSAGES_PER_SECOND", 3),
                queries_per_second=number("SOAK_QUERIES_PER_SECOND", 3),
                bookings_per_second=number("SOAK_BOOKINGS_PER_SECOND", 0.3),
                sockets_per_second=number("SOAK_SOCKETS_PER_SECOND", 1),
            ),
        )


def say(text: str) -> None:
    print(text, flush=True)


def alive(servers: Sequence[Server]) -> bool:
    return all(server.process.poll() is None for server in servers)


async def soak(config: Config, folder: Path) -> dict[str, Any]:
    jwt_secret = environment.new_secret()  # this run's only; never written anywhere
    admin_email, admin_password = "soak-admin@soak.clinic", secrets.token_urlsafe(18)
    async with contextlib.AsyncExitStack() as exits:
        database_url = await exits.enter_async_context(stack.fresh_database(config.database_url))
        say(f"database: {database_url.rsplit('@', 1)[-1]} (created; dropped at the end)")
        broadcast_url = config.broadcast_url
        if broadcast_url is None:
            redis = stack.private_redis(folder / "redis")
            broadcast_url = await exits.enter_async_context(redis)
        say(f"broadcast: {broadcast_url}")
        env = stack.server_env(database_url, broadcast_url, jwt_secret, folder / "cli")
        commands_log = folder / "commands.log"
        await stack.healthcare_command(["migrate"], env, commands_log)
        await stack.healthcare_command(
            [
                "createsuperuser",
                *("--email", admin_email, "--first-name", "Soak", "--last-name", "Admin"),
                *("--password", admin_password),
            ],
            env,
            commands_log,
        )
        say("migrated; administrator created")
        servers = await exits.enter_async_context(stack.servers(INSTANCES, env, folder))
        say("serving: " + ", ".join(f"{s.name} {s.base_url} (pid {s.pid})" for s in servers))
        http = Http([server.base_url for server in servers])
        exits.push_async_callback(http.close)
        seeding = time.monotonic()
        _, pairs = await seed(http, admin_email, admin_password, config.pairs, admin_password)
        say(f"seeded through the API in {time.monotonic() - seeding:.1f} s: {len(pairs)} pairs")

        ws_urls = [server.base_url.replace("http", "ws", 1) + "/graphql" for server in servers]
        ledger = Ledger(INSTANCES)
        chat: list[ChatClient] = []
        for n, pair in enumerate(pairs):
            # The two sides of each conversation on different instances.
            for name, account, instance in (
                (f"patient-{n}", pair.patient, n % INSTANCES),
                (f"doctor-{n}", pair.doctor, (n + 1) % INSTANCES),
            ):
                chat.append(
                    ChatClient(
                        name,
                        account,
                        pair.conversation_id,
                        instance,
                        ws_urls[instance],
                        http,
                        ledger,
                        send_over_socket=config.send_via == "ws",
                    )
                )
        chat_tasks = [asyncio.create_task(client.run()) for client in chat]

        async def stop_chat() -> None:
            await asyncio.gather(*(client.stop() for client in chat))
            await asyncio.wait(chat_tasks, timeout=STOP_SECONDS)
            for task in chat_tasks:
                task.cancel()

        exits.push_async_callback(stop_chat)
        await asyncio.wait_for(
            asyncio.gather(*(client.ready.wait() for client in chat)), READY_SECONDS
        )
        say(f"{len(chat)} chat clients signed in and subscribed, half on each instance")

        traffic = Traffic(http, ws_urls, pairs, chat, config.load, seed=os.getpid())
        accounts = [account for pair in pairs for account in (pair.patient, pair.doctor)]
        exits.push_async_callback(traffic.stop, 0)  # at once, when interrupted
        refresher = asyncio.create_task(keep_signed_in(http, accounts, traffic.counts))
        exits.push_async_callback(cancel, refresher)

        def take(minute: int, started: float) -> dict[str, Any]:
            windows = ledger.next_minute()
            counts, latencies = traffic.counts.next_minute()
            row = sample(
                minute,
                time.monotonic() - started,
                servers,
                windows,
                counts,
                latencies,
                ledger,
                cpu,
            )
            for line in minute_lines(row):
                say(line)
            return row

        cpu = CpuMeter()
        started = time.monotonic()
        samples = [take(0, started)]
        traffic.start()
        say(f"traffic for {config.minutes:g} min: {asdict(config.load)}")
        survived = True
        minutes = int(config.minutes)
        for minute in range(1, minutes + 1):
            await asyncio.sleep(max(0.0, started + 60 * minute - time.monotonic()))  # the clock
            if not alive(servers):
                survived = False
                say(
                    "an instance exited: "
                    + ", ".join(
                        f"{s.name} {s.process.returncode}"
                        for s in servers
                        if s.process.poll() is not None
                    )
                )
                break
            samples.append(take(minute, started))
        await traffic.stop(STOP_SECONDS)
        say(f"traffic stopped; draining (at most {config.drain_seconds:g} s)")
        drained = survived and await drain(ledger, config.drain_seconds)
        after_drain = (
            sample(
                len(samples),
                time.monotonic() - started,
                servers,
                ledger.next_minute(),
                *traffic.counts.next_minute(),
                ledger,
                cpu,
            )
            if alive(servers)
            else None
        )
        lost_by_minute(ledger, samples)
        result = verdict(samples, servers, ledger, config.warmup_minutes, drained, survived)
        for line in verdict_lines(result):
            say(line)
        return {
            "samples": samples,
            "after_drain": after_drain
            and {
                "elapsed_seconds": after_drain["elapsed_seconds"],
                "instances": [
                    {k: i[k] for k in ("name", "rss_kib", "open_files", "cpu_percent", "delivered")}
                    for i in after_drain["instances"]
                ],
            },
            "verdict": result,
            "totals": {
                "chat": [asdict(window) for window in ledger.totals],
                "traffic": [dict(counter) for counter in traffic.counts.total],
                "close_codes": dict(ledger.close_codes),
                "errors": dict(ledger.errors + traffic.counts.errors),
                "token_refreshes": sum(account.refreshes for account in accounts),
            },
            "server_logs": [stack.log_levels(server) for server in servers],
        }


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def drain(ledger: Ledger, seconds: float) -> bool:
    """Wait until every acknowledged message has reached every subscriber, at most
    `seconds`; woken by each delivery, not by a timer."""
    deadline = time.monotonic() + seconds
    while ledger.missing():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ledger.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ledger.changed.wait(), left)
    return True


async def main_async(config: Config, folder: Path) -> dict[str, Any]:
    """The soak, cancelled by the first SIGINT or SIGTERM (also when started in the
    background, where SIGINT is otherwise ignored); a second one does not interrupt
    the clean-up (servers, Redis, the database)."""
    task = asyncio.current_task()
    assert task is not None
    signals = 0

    def stop() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            say("stopping: cleaning up (servers, Redis, the database)")
            task.cancel()
        else:
            say("still cleaning up, please wait")

    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop)
    return await soak(config, folder)


def main() -> int:
    try:
        config = Config.from_env()
    except stack.SetupError as error:
        print(f"soak: {error}", file=sys.stderr)
        return 2
    environment.use_uvloop()
    started_at = datetime.now(UTC)
    machine = environment.machine()
    code = environment.code()
    try:
        with tempfile.TemporaryDirectory(prefix="healthcare-soak-") as tmp:
            outcome = asyncio.run(main_async(config, Path(tmp)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers, Redis and the database are gone", file=sys.stderr)
        return 130
    except Exception as error:  # the run could not be made: say why, exit 2
        print(f"soak failed to run: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    report = {
        "benchmark": "soak",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "settings": {
            "minutes": config.minutes,
            "warmup_minutes": config.warmup_minutes,
            "drain_seconds": config.drain_seconds,
            "pairs": config.pairs,
            "send_via": config.send_via,
            "chat_clients": config.pairs * 2,
            "instances": INSTANCES,
            "broadcast": "private redis-server" if config.broadcast_url is None else "given",
            "load": asdict(config.load),
        },
        "machine": machine,
        "code": code,
        **outcome,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"soak-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {path}")
    return 0 if outcome["verdict"]["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
