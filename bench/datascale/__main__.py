"""The API on ten times the data: list, lookup, booking, free slots and chat at scale 10
against scale 1, in the same run, on the same machine.

    .venv/bin/python -m bench.datascale                      # --scales 1 10
    .venv/bin/python -m bench.datascale --scales 1 2 --seconds 3 --no-retention   # a try

1. Per scale, a throwaway PostgreSQL database: migrated with the project's migrations
   (timed), filled in bulk SQL (bench/api/data.py, `Sizes.at_scale`: n times bench.api's
   clinic, with its audit trail and chat; each step timed), VACUUM (ANALYZE)d, then
   `healthcare migrate` timed on the filled database (a no-op), and its tables' sizes.
2. One API per scale (`healthcare serve`, HEALTHCARE_ENV=production, as bench.api starts
   it), side by side; each operation loaded in turn on each scale, `--rounds` times
   (scale 1, scale 10, scale 1, scale 10 ...), closed loop at `--connections`.
3. At the largest scale, EXPLAIN (ANALYZE, BUFFERS) of the list's, free slots' and chat
   page's main queries, in the SQL text the API sends (bench/datascale/explain.py).
4. At the largest scale, retention by month (bench/datascale/retention.py): a month's
   DELETE against a partition's DETACH and DROP, and what partitioning costs.

Writes bench/results/datascale-<UTC time>.json and prints the tables. The databases are
dropped at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.api.runner import Context, server_logs, start_api, stop
from bench.common import environment
from bench.common.processes import Server, raise_open_files_limit
from bench.datascale import database, explain, load, report, retention
from bench.datascale import operations as ops
from healthcare.config import Settings

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"  # bench/results
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
FREE_GIB_PER_SCALE = 0.6  # what one scale's database takes, about (scale 10: about 6 GiB)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.datascale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured run, s")
    parser.add_argument("--warmup", type=float, default=1.0, help="before each run, s")
    parser.add_argument("--rounds", type=int, default=2, help="runs per operation and scale")
    parser.add_argument("--connections", type=int, default=32, help="the fixed concurrency")
    parser.add_argument("--operations", nargs="+", choices=ops.OPERATIONS, default=ops.OPERATIONS)
    parser.add_argument("--no-explain", action="store_true", help="no EXPLAIN at the largest")
    parser.add_argument("--no-retention", action="store_true", help="no retention measurement")
    parser.add_argument("--keep", action="store_true", help="keep the databases (inspection)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if sorted(set(args.scales)) != args.scales or args.scales[0] < 1 or len(args.scales) < 2:
        parser.error("--scales: two or more, increasing, from 1 (as: 1 10)")
    if not 1 <= args.seconds <= 120 or not 0 <= args.warmup <= 30 or args.rounds < 1:
        parser.error("--seconds must be 1 to 120, --warmup 0 to 30, --rounds 1 or more")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def check_disk(scales: list[int]) -> None:
    """Refuse to start when PostgreSQL's disk cannot hold the databases (a guess: the
    server may be elsewhere; then this checks this machine's root only)."""
    needed = FREE_GIB_PER_SCALE * sum(scales) * 1.5
    for path in ("/var/lib/postgresql", "/"):
        if Path(path).exists():
            free = shutil.disk_usage(path).free / 2**30
            if free < needed:
                raise SystemExit(f"{path}: {free:.1f} GiB free, need about {needed:.1f} GiB")
            return


async def run(args: argparse.Namespace, folder: Path, settings: Settings) -> dict[str, Any]:
    prepared: list[database.Prepared] = []
    servers: list[Server] = []
    outcome: dict[str, Any] = {}
    try:
        for scale in args.scales:
            prepared.append(await database.prepare(args.postgres_url, scale, settings, log))
        outcome["databases"] = {
            str(p.scale): {
                "scale": p.scale,
                "name": p.database_url.rsplit("/", 1)[-1],
                "sizes": p.sizes,
                "rows": p.data.counts,
                "fill_steps": p.data.seconds,
                "seconds": p.seconds,
            }
            for p in prepared
        }
        targets = []
        for p in prepared:
            ctx = Context(folder, settings, p.database_url, p.data, args.warmup, args.seconds, 1)
            server = await start_api(ctx, f"api-scale-{p.scale}", p.database_url)
            servers.append(server)
            targets.append(load.Target(p.scale, server, p.database_url, p.data))
        log(f"load: {args.rounds} rounds, {args.connections} connections, {args.seconds} s")
        outcome["operations"] = await load.interleaved(
            targets,
            list(args.operations),
            args.rounds,
            args.connections,
            args.warmup,
            args.seconds,
            log,
        )
        outcome["server_logs"] = server_logs(*servers)
        outcome["exited"] = {s.name: s.process.poll() for s in servers}
        await stop(*servers)
        servers = []
        largest = prepared[-1]
        if not args.no_explain:
            log(f"EXPLAIN at scale {largest.scale}")
            texts = await explain.statements(folder, settings, largest.database_url, largest.data)
            outcome["explain"] = await explain.explain(largest.database_url, largest.data, texts)
        if not args.no_retention:
            log(f"retention at scale {largest.scale}")
            outcome["retention"] = await retention.measure(
                largest.database_url, in_place=not args.keep, log=log
            )
        return outcome
    finally:
        await stop(*servers)
        for p in prepared:
            if args.keep:
                log(f"kept: {p.database_url}")
            else:
                await database.drop(p, args.postgres_url)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_disk(args.scales)
    raise_open_files_limit(4096)
    environment.use_uvloop()
    started_at = datetime.now(UTC)
    machine = environment.machine()
    settings = Settings(jwt_secret=environment.new_secret())
    with tempfile.TemporaryDirectory(prefix="healthcare-bench-datascale-") as tmp:
        outcome = asyncio.run(run(args, Path(tmp), settings))
    result = {
        "benchmark": "datascale",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.datascale", *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine,
        "load_average_at_end": Path("/proc/loadavg").read_text().split()[:3],
        "code": environment.code(),
        **outcome,
    }
    result["targets"] = report.targets(result)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"datascale-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(report.table(result), report.preparation(result), report.plans(result), sep="\n\n")
    for name, target in result["targets"].items():
        print(
            f"target {name} within {report.TARGET_RATIO}x: {'met' if target['met'] else 'NOT met'}"
        )
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
