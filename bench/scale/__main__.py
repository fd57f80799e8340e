"""10,000 live signed-in sockets on one machine: chat and notifications at once.

    .venv/bin/python -m bench.scale            # or: make bench-scale
    .venv/bin/python -m bench.scale --clients 1000 --pairs 100 --rate 20 --seconds 10

A fifth of the sockets are `--pairs` chatting patient-doctor pairs sending `--rate`
messages/s in all; the rest are patients subscribed to `notificationAdded`, whose visits a
booking loop cancels (as their doctor, `cancelAppointment`: the patient is notified) and
books again (as the patient, `bookAppointment`) at `--notify-rate` per second. The server
is `healthcare serve --workers N`; the sockets come from `--generators` processes.
Reported: connect time, server memory per idle and per listening socket, delivery
p50/p99/max and lost messages for chat and notifications, CPU of the server, PostgreSQL,
Redis and each generator, and each generator's event-loop lag. Everything runs on
127.0.0.1 and stops by itself; results go to bench/results/scale-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import environment
from bench.common.processes import RedisProcess, free_port, raise_open_files_limit
from bench.common.seed import benchmark_database, seed_pairs
from bench.scale import run as steps
from bench.scale.report import summary, table, verdicts
from bench.scale.seed import seed_listeners
from healthcare.config import Settings

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"  # bench/results
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000, help="sockets in all")
    parser.add_argument("--pairs", type=int, default=1000, help="chatting pairs among them")
    parser.add_argument("--rate", type=float, default=100.0, help="chat messages/s, in all")
    parser.add_argument("--notify-rate", type=float, default=10.0, help="cancellations/s")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send")
    parser.add_argument("--drain", type=float, default=30.0, help="wait for stragglers, s")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes")
    parser.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--db-pool-max", type=int, help="per worker (default: Tortoise's 5)")
    parser.add_argument("--server-log-level", default="INFO", help="the API's LOG_LEVEL")
    parser.add_argument(
        "--gc-log", action="store_true", help="log the API's garbage-collector pauses"
    )
    parser.add_argument("--budget", type=float, default=840.0, help="abort after, s")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.pairs < 1 or 2 * args.pairs > args.clients:
        parser.error("--pairs must be 1 to --clients / 2")
    if not 1 <= args.generators <= 16 or not 1 <= args.workers <= 16:
        parser.error("--generators and --workers must be 1 to 16")
    if not 0 < args.rate <= 2000 or not 0 <= args.notify_rate <= 500:
        parser.error("--rate must be in (0, 2000], --notify-rate in [0, 500]")
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    return args


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    redis = RedisProcess(free_port(), folder)
    await asyncio.to_thread(redis.start)
    try:
        async with benchmark_database(args.postgres_url, folder) as database_url:
            settings = Settings(jwt_secret=environment.new_secret(), database_url=database_url)
            started = time.monotonic()
            pairs = await seed_pairs(database_url, args.pairs + steps.WARMUP_PAIRS, settings)
            listeners = args.clients - 2 * args.pairs
            people = await seed_listeners(
                database_url, listeners + steps.WARMUP_LISTENERS, settings
            )
            seeded = round(time.monotonic() - started, 1)
            print(f"seeded {len(pairs)} pairs, {len(people)} listeners in {seeded} s", flush=True)
            figures = await steps.measure(args, steps.Stage(folder, redis, settings, pairs, people))
            description = await environment.database_description(args.postgres_url, None)
            return figures | {"seed_seconds": seeded, "database": description}
    finally:
        await asyncio.to_thread(redis.stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Inherited by the server and the generators: each may hold every socket.
    limit = raise_open_files_limit(args.clients + 1024)
    environment.use_uvloop()
    started_at = datetime.now(UTC)
    machine = environment.machine()  # before the run: the load average says who else ran
    with tempfile.TemporaryDirectory(prefix="healthcare-scale-") as tmp:
        outcome = asyncio.run(asyncio.wait_for(run(args, Path(tmp)), args.budget))
    results = summary(outcome, args)
    checks = verdicts(results)
    report = {
        "benchmark": "scale",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.scale", *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        | {"open_files_limit": limit},
        "machine": machine,
        "code": environment.code(),
        "database": outcome.pop("database"),
        "results": results,
        "targets": checks,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"scale-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results, checks))
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
