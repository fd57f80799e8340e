"""The API against its floors and a peer, on a generated clinic: list, lookups, booking,
SQL counts.

    .venv/bin/python -m bench.api            # or: make bench

On a throwaway PostgreSQL database (created, migrated, dropped at the end) with 200
doctors, 20,000 patients, 200,000 appointments and 50,000 consultations, it measures
the API (`healthcare serve`, production settings, one process) beside two floors under
the same uvicorn settings (bench/api/floor.py): F1, a bare Starlette + asyncpg server
running equivalent SQL and returning the same JSON, and F0, a constant body; and beside
a peer, PostGraphile V5 on Node 22 (bench/api/peer.py), which serves the same rows with
no authentication, no field rules and no audit trail, and F2, F1 with the doctor's list
answered in one statement, as the peer answers it, its JSON built by PostgreSQL.

1. The API and F1 through a counting proxy (bench/api/pgcount.py): their answers compared,
   and the SQL statements each runs per request, at page sizes 5, 50 and 100 (d). The
   peer's rows compared with the API's, every field, and its statements counted; F2's
   lists compared with F1's, and its statements counted.
   Then, in this process, the list's GraphQL execution alone over the API's own answer
   held in memory (bench/api/ceiling.py): a ceiling for any server on this stack.
2. For a) the list, b) `appointment(id)` and `me`: each server's peak requests/s
   (closed loop), then each at half the API's peak (open loop): p50, p99.
3. c) `bookAppointment` over distinct free slots: each server's peak bookings/s.
4. Beside the peer, PostGraphile V5 (bench/api/peer.py, bench/peer/), served on the same
   database: its rows checked against the API's field by field first (in step 1), then
   the API, F1 (F2 on the list) and the peer at a fixed concurrency
   (`--peer-connections`, 8, closed loop) for the doctor's list of 50, an
   administrator's list of 50 and the lookup:
   requests/s, p50, p99, CPU per request of each server and its PostgreSQL backends.
5. Optionally (`--profile`) the API under py-spy during one more saturation of each of
   the list, the lookup, `me` and the booking (of the scenarios asked for).

Writes bench/results/api-<UTC time>.json, the table in docs/benchmarks.md and the chart
docs/bench-api-latency.png. Every phase has a time limit; `--budget` ends the run.
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

from bench.api import ceiling as graphql_ceiling
from bench.api import data as api_data
from bench.api import operations as ops
from bench.api import peer as api_peer
from bench.api import report as api_report
from bench.api import runner as api_runner
from bench.api.profile import summarize_file
from bench.common import environment
from bench.common.processes import RedisProcess, free_port, raise_open_files_limit
from bench.common.seed import benchmark_database
from bench.common.smtp import SmtpSinkProcess
from healthcare.config import Settings
from healthcare.db import asyncpg_dsn

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"  # bench/results
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
SCENARIOS = ("list", "lookup", "me", "book", "admin")  # admin: beside the peer only
# api2: the API as `healthcare serve --workers 2` on a private Redis, beside the peer only
SERVERS = ("api", "api2", "f1", "f0", "peer", "f2")  # f2: beside the peer, the list only


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--seconds", type=float, default=5.0, help="each measured run, s")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measured runs of each server at peak and beside the peer, interleaved; "
        "the median is reported",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="before each run, s")
    parser.add_argument("--connections", type=int, default=api_runner.SATURATION_CONNECTIONS)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument(
        "--peer-connections",
        type=int,
        default=api_runner.PEER_CONNECTIONS,
        help="the closed loop's connections beside the peer",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the API (list, lookup, me, booking)"
    )
    parser.add_argument("--small", action="store_true", help="a tenth of the data (a quick try)")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/ alone")
    parser.add_argument("--budget", type=float, default=1500.0, help="abort after, s")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 60 or not 0 <= args.warmup <= 30:
        parser.error("--seconds must be 1 to 60, --warmup 0 to 30")
    if not 1 <= args.rounds <= 9:
        parser.error("--rounds must be 1 to 9")
    if "api" not in args.servers:
        parser.error("the API is always measured (the fixed rate is half its peak)")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def measure(
    ctx: api_runner.Context, args: argparse.Namespace, bodies: dict, with_f2: bool
) -> dict:
    """Every scenario on every server; the servers run side by side, loaded one at a time.
    F2 (`with_f2`, its lists checked) runs beside the peer only, on the list."""
    servers: dict[str, Any] = {}
    results: dict[str, Any] = {}
    redis: RedisProcess | None = None
    api2 = None
    try:
        servers["api"] = await api_runner.start_api(
            ctx, "api", ctx.database_url, server_sends_email=False
        )
        if "f1" in args.servers:
            dsn = asyncpg_dsn(ctx.database_url)
            servers["f1"] = await api_runner.start_floor(ctx, "f1", "f1", ["--database-url", dsn])
        if "f0" in args.servers:
            path = ctx.folder / "f0-bodies.json"
            path.write_text(json.dumps(bodies))
            servers["f0"] = await api_runner.start_floor(ctx, "f0", "f0", ["--bodies", str(path)])
        peer = f2 = None
        if "peer" in args.servers:
            peer = await api_peer.start_peer(ctx.folder, "peer", ctx.database_url)
        if with_f2:
            dsn = asyncpg_dsn(ctx.database_url)
            f2 = await api_runner.start_floor(ctx, "f2", "f2", ["--database-url", dsn])
        if "api2" in args.servers:
            redis = RedisProcess(free_port(), ctx.folder)
            await asyncio.to_thread(redis.start)
            api2 = await api_runner.start_api(
                ctx,
                "api2",
                ctx.database_url,
                workers=2,
                broadcast_url=redis.url,
                server_sends_email=False,
            )
        for scenario in args.scenarios:
            if scenario not in api_runner.SATURATION_SCENARIOS:
                continue
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for round_number in range(1, args.rounds + 1):
                for name, server in servers.items():
                    log(f"{scenario}: {name} at saturation, round {round_number}")
                    run = await api_runner.saturate(ctx, server, scenario)
                    rounds[name].append(run)
                    log(f"  {run['per_second']:,.1f}/s, errors {run['errors']}")
            peak = {name: api_runner.median_run(runs) for name, runs in rounds.items()}
            results[scenario] = {"peak": peak}
            if scenario == "book":
                continue
            rate = max(1.0, peak["api"]["per_second"] / 2)
            fixed = {}
            for name, server in servers.items():
                log(f"{scenario}: {name} at {rate:,.0f}/s")
                fixed[name] = await api_runner.fixed_rate(ctx, server, scenario, rate)
                latency = fixed[name]["latency_ms"]
                log(f"  p50 {latency['p50']} ms, p99 {latency['p99']} ms")
            results[scenario] |= {"rate": round(rate, 1), "fixed_rate": fixed}
        beside = None
        if peer is not None:
            servers["peer"] = peer
            if api2 is not None:
                servers["api2"] = api2
            if f2 is not None:
                servers["f2"] = f2
            beside = await beside_peer(ctx, args, servers)
        profile = None
        if args.profile:
            profile = await _profile(ctx, args, servers["api"])
        logs = api_runner.server_logs(*servers.values())
        exited = {name: server.process.poll() for name, server in servers.items()}
        return {
            "scenarios": results,
            "beside_peer": beside,
            "profile": profile,
            "server_logs": logs,
            "exited": exited,
        }
    finally:
        await api_runner.stop(*servers.values(), api2, f2)
        if redis is not None:
            await asyncio.to_thread(redis.stop)


async def beside_peer(ctx: api_runner.Context, args: argparse.Namespace, servers: dict) -> dict:
    """The API, F1 (and F2, on the list) and the peer at a fixed concurrency, one after the
    other per scenario."""
    connections = args.peer_connections
    runs: dict[str, Any] = {}
    for scenario in api_runner.PEER_SCENARIOS:
        if scenario not in args.scenarios:
            continue
        names = [
            name
            for name in ("api", "api2", "f1", "f2", "peer")
            if name in servers and (name != "f2" or scenario == "list")
        ]
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_number in range(1, args.rounds + 1):
            for name in names:
                log(f"{scenario}: {name} at {connections} connections, round {round_number}")
                run = await api_runner.at_concurrency(
                    ctx, servers[name], name, scenario, connections
                )
                rounds[name].append(run)
                cpu = run["cpu"]
                log(
                    f"  {run['per_second']:,.1f}/s, p50 {run['latency_ms']['p50']} ms, "
                    f"p99 {run['latency_ms']['p99']} ms, CPU/request server "
                    f"{cpu['server_ms_per_request']} ms + PostgreSQL "
                    f"{cpu['postgres_ms_per_request']} ms, busy after "
                    f"{cpu['busy_after_run_seconds']} s, errors {run['errors']}"
                )
        runs[scenario] = {name: api_runner.median_run(each) for name, each in rounds.items()}
    return {
        "connections": connections,
        "scenarios": runs,
        "peer": api_peer.versions(),
        "peer_does_not_do": api_peer.DOES_NOT_DO,
    }


async def _profile(ctx: api_runner.Context, args: argparse.Namespace, api: Any) -> dict:
    """The API under py-spy at list, lookup, `me` and booking saturation, those of them
    asked for (not in the table: py-spy slows the server down)."""
    profiles = {}
    for scenario in ("list", "lookup", "me", "book"):
        if scenario not in args.scenarios:
            continue
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        output = args.output_dir / f"profile-api-{scenario}-{stamp}.json"
        log(f"profile: API at {scenario} saturation under py-spy")
        profiler = api_runner.start_profiler(api, ctx.warmup + ctx.seconds, output)
        run = await api_runner.saturate(ctx, api, scenario)
        if profiler is None:
            return {}
        await asyncio.to_thread(profiler.wait, ctx.seconds + 60)
        summary = summarize_file(output) if output.exists() else None
        profiles[scenario] = {"file": api_report.shown(output), "run": run, "summary": summary}
    return profiles


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    sizes = api_data.Sizes()
    if args.small:
        sizes = api_data.Sizes(
            doctors=200, patients=2_000, appointments=20_000, consultations=5_000
        )
    # The mail worker sends the bookings' emails here, a process of its own: a sink in
    # this process (the load generator's) took its interpreter lock, slowing the load.
    smtp = SmtpSinkProcess()
    await asyncio.to_thread(smtp.start)
    try:
        results = await _run(args, folder, sizes, smtp.url)
    finally:
        received = await asyncio.to_thread(smtp.stop)
    return results | {"emails_received_by_the_smtp_sink": received}


async def _run(args: argparse.Namespace, folder: Path, sizes: Any, smtp_url: str) -> dict:
    async with benchmark_database(args.postgres_url, folder) as database_url:
        settings = Settings(jwt_secret=environment.new_secret(), database_url=database_url)
        log(f"seeding {sizes}")
        data = await api_data.seed(
            database_url, settings, sizes, signed_in_doctors=20, booking_pairs=100
        )
        log(f"seeded {data.counts} in {sum(data.seconds.values()):.1f} s")
        with_peer = "peer" in args.servers
        admin_token = ""
        if with_peer or "admin" in args.scenarios:
            admin_token = await api_peer.admin_token(database_url, settings)
        ctx = api_runner.Context(
            folder=folder,
            settings=settings,
            database_url=database_url,
            data=data,
            warmup=args.warmup,
            seconds=args.seconds,
            connections=args.connections,
            admin_token=admin_token,
            smtp_url=smtp_url,
        )
        ctx.mail_worker = await asyncio.to_thread(api_runner.start_mail_worker, ctx)
        try:
            return await _measure_all(args, ctx, data, sizes)
        finally:
            exited = api_runner.stop_mail_worker(ctx.mail_worker)
            log(f"mail worker stopped ({exited})")


async def _measure_all(
    args: argparse.Namespace, ctx: api_runner.Context, data: Any, sizes: Any
) -> dict:
    log("answers and SQL counts, through the counting proxy")
    with_peer = "peer" in args.servers
    with_f2 = with_peer and "f2" in args.servers and "list" in args.scenarios
    checked, bodies = await api_runner.verify_and_count(ctx, with_peer, with_f2)
    for name, answer in checked["answers"].items():
        same = answer.get("same_json", answer.get("same_shape"))
        log(f"  {name}: {'same' if same else answer}")
    for name, answer in checked.get("peer_rows", {}).items():
        log(f"  peer, {name}: same rows ({answer['rows']}), every field")
    if with_f2:
        f2_answers = checked["f2_answers"]
        log(f"  F2, the doctors' lists: {'same' if f2_answers['same_json'] else f2_answers}")
        with_f2 = f2_answers["same_json"]  # an F2 that answers otherwise is not timed
    ceiling = None
    if ops.LIST in bodies:
        log("a) GraphQL execution alone, over the API's answer in memory")
        ceiling = await graphql_ceiling.measure(json.loads(bodies[ops.LIST]))
        log(f"  {ceiling}")
    measured = await measure(ctx, args, bodies, with_f2)
    database = await environment.database_description(args.postgres_url, None)
    database["pool"] = "asyncpg, 1 to 5 connections (Tortoise's default; F1 the same)"
    return {
        "database": database,
        "dataset": {"sizes": vars(sizes), "rows": data.counts, "seconds": data.seconds},
        **checked,
        "graphql_ceiling": ceiling,
        **measured,
        "bookings_made": ctx.booked,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "peer" in args.servers:
        api_peer.ensure_installed()  # npm ci in bench/peer on a fresh clone
    raise_open_files_limit(4096)
    environment.use_uvloop()
    started_at = datetime.now(UTC)
    machine = environment.machine()  # before the run: the load average says who else ran
    with tempfile.TemporaryDirectory(prefix="healthcare-bench-api-") as tmp:
        outcome = asyncio.run(asyncio.wait_for(run(args, Path(tmp)), args.budget))
    report = {
        "benchmark": "api",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.api", *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        | {
            "fixed_rate_samples": api_runner.FIXED_RATE_SAMPLES,
            "fixed_rate_max_seconds": api_runner.FIXED_RATE_MAX_SECONDS,
            "count_requests": api_runner.COUNT_REQUESTS,
        },
        "machine": machine,
        "load_average_at_end": Path("/proc/loadavg").read_text().split()[:3],
        "code": environment.code(),
        **outcome,
    }
    report["targets"] = api_report.targets(report)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"api-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(api_report.markdown(report, report["targets"]))
    print()
    print(api_report.cpu_table(report))
    if not args.no_docs:
        api_report.update_docs(report, api_report.shown(path))
        api_report.chart(report)
        print(
            f"\nupdated: {api_report.shown(api_report.DOCS)}, {api_report.shown(api_report.CHART)}"
        )
    print(f"written: {api_report.shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
