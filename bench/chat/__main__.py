"""Chat latency at N concurrent WebSocket clients, against a floor measured in the same run.

    .venv/bin/python -m bench.chat --clients 1000 --rate 100 --seconds 30

N/2 patient-doctor pairs, each in its own conversation, every client subscribed to its
conversation's messageAdded; messages sent at an aggregate `--rate` on a fixed schedule.
Measured: send-to-other-party latency (p50, p99, max), messages per second delivered,
and the server's resident memory per idle signed-in connection. Then the same load,
clients and Redis against the floors of bench/chat/floor.py: `honest` (the API's
durable work without GraphQL or the ORM) and `relay` (publish and push only). Everything runs
on 127.0.0.1 and stops by itself; results go to bench/results/chat_latency-<time>.json.
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

from bench.chat.report import table, verdicts
from bench.chat.runner import TARGETS, Run, measure
from bench.common import environment
from bench.common.processes import RedisProcess, free_port, raise_open_files_limit
from bench.common.seed import benchmark_database, seed_pairs
from healthcare.config import Settings

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"  # bench/results
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
WARMUP_PAIRS = 5
MAX_CLIENTS, MAX_RATE, MAX_SECONDS = 4000, 1000.0, 300.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="even; half patients")
    parser.add_argument("--rate", type=float, default=100.0, help="messages/s, all pairs")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--send-via", choices=["ws", "http"], default="ws")
    names = [target.name for target in TARGETS]
    parser.add_argument("--servers", nargs="+", choices=names, default=names)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--sqlite", action="store_true", help="SQLite file, not PostgreSQL")
    parser.add_argument("--db-pool-max", type=int, help="the API's pool (default: Tortoise's 5)")
    parser.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    parser.add_argument("--text-length", type=int, default=80)
    parser.add_argument("--drain", type=float, default=30.0, help="wait for stragglers, s")
    parser.add_argument("--server-log-level", default="INFO", help="the API's LOG_LEVEL")
    parser.add_argument("--profile", action="store_true", help="py-spy the API under load")
    parser.add_argument("--budget", type=float, default=600.0, help="abort after, s")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.clients < 2 or args.clients % 2 or args.clients > MAX_CLIENTS:
        parser.error(f"--clients must be even, 2 to {MAX_CLIENTS}")
    if not 0 < args.rate <= MAX_RATE or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--rate must be in (0, {MAX_RATE:g}], --seconds in (0, {MAX_SECONDS:g}]")
    return args


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    redis = RedisProcess(free_port(), folder)
    await asyncio.to_thread(redis.start)
    postgres_url = None if args.sqlite else args.postgres_url
    try:
        async with benchmark_database(postgres_url, folder) as database_url:
            settings = Settings(jwt_secret=environment.new_secret(), database_url=database_url)
            started = time.perf_counter()
            pairs = await seed_pairs(database_url, args.clients // 2 + WARMUP_PAIRS, settings)
            print(f"seeded {len(pairs)} pairs in {time.perf_counter() - started:.1f} s", flush=True)
            run = Run(args, folder, redis, settings, pairs[:WARMUP_PAIRS], pairs[WARMUP_PAIRS:])
            results = {}
            for target in TARGETS:
                if target.name in args.servers:
                    print(f"measuring {target.name}...", flush=True)
                    results[target.name] = await measure(run, target)
            return {
                "database": await environment.database_description(postgres_url, args.db_pool_max),
                "results": results,
            }
    finally:
        await asyncio.to_thread(redis.stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit(args.clients * 2 + 512)
    environment.use_uvloop()
    started_at = datetime.now(UTC)
    machine = environment.machine()  # before the run: the load average says who else ran
    with tempfile.TemporaryDirectory(prefix="healthcare-bench-") as tmp:
        outcome = asyncio.run(asyncio.wait_for(run(args, Path(tmp)), args.budget))
    results = outcome["results"]
    checks = verdicts(results, args.rate) if "api" in results else []
    report = {
        "benchmark": "chat_latency",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.chat", *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine,
        "code": environment.code(),
        "database": outcome["database"],
        "results": results,
        "targets": checks,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    path = args.output_dir / f"chat_latency-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results, checks))
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
