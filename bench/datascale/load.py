"""The load: each operation on each scale's API in turn (1, 10, 1, 10 ...), closed loop at
one fixed concurrency, with bench/api/httpload.py; the CPU of each run beside it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.api import httpload
from bench.api.data import Dataset
from bench.api.runner import CpuMeter
from bench.common.processes import Server
from bench.common.stats import summary_ms
from bench.datascale import operations as ops


@dataclass
class Target:
    """One scale's API: its server, database and data, and the booking slots it used."""

    scale: int
    server: Server
    database_url: str
    data: Dataset
    booked: int = 0
    latencies: dict[str, list[float]] = field(default_factory=dict)


async def run_once(
    target: Target, operation: str, connections: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """One closed-loop run of `operation` against `target`."""
    check = httpload.graphql_check(ops.EXPECT[operation])
    requests = ops.requests(target.data, operation, target.server.port, target.booked)
    meter = CpuMeter(target.server, target.database_url)
    result = await httpload.closed_loop(
        target.server.port, requests, check, connections, warmup, seconds
    )
    if operation == "book":
        target.booked += result.extra["sent"]
    target.latencies.setdefault(operation, []).extend(result.latencies)
    return {
        "per_second": result.per_second,
        "completed": result.completed,
        "latency_ms": summary_ms(result.latencies),
        "errors": result.errors,
        "error_samples": result.error_samples,
        "cpu": meter.result(),
    }


async def interleaved(
    targets: list[Target],
    operations: list[str],
    rounds: int,
    connections: int,
    warmup: float,
    seconds: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every operation, `rounds` times on each scale in turn; per operation and scale the
    runs, the requests/s over all of them, and percentiles over every latency."""
    results: dict[str, Any] = {}
    for operation in operations:
        runs: dict[int, list[dict[str, Any]]] = {t.scale: [] for t in targets}
        for round_ in range(rounds):
            for target in targets:
                run = await run_once(target, operation, connections, warmup, seconds)
                runs[target.scale].append(run)
                log(
                    f"{operation} scale {target.scale} (round {round_ + 1}): "
                    f"{run['per_second']:,.1f}/s, p50 {run['latency_ms']['p50']} ms, "
                    f"p99 {run['latency_ms']['p99']} ms, errors {run['errors'] or 0}"
                )
        results[operation] = {
            str(target.scale): _combined(runs[target.scale], target.latencies[operation], seconds)
            for target in targets
        }
        first = targets[0].scale
        for target in targets[1:]:
            results[operation][f"ratio_{target.scale}_to_{first}"] = ratios(
                results[operation][str(first)], results[operation][str(target.scale)]
            )
    return results


def _combined(runs: list[dict[str, Any]], latencies: list[float], seconds: float) -> dict:
    completed = sum(run["completed"] for run in runs)
    errors: dict[str, int] = {}
    for run in runs:
        for kind, count in run["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    return {
        "per_second": round(completed / (seconds * len(runs)), 1),
        "latency_ms": summary_ms(latencies),
        "errors": errors,
        "runs": runs,
        "measured_at": time.strftime("%H:%M:%S"),
    }


def ratios(base: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    """other / base: requests/s (below 1 is slower), p50 and p99 (above 1 is slower)."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(b / a, 3) if a and b is not None else None

    return {
        "per_second": ratio(base["per_second"], other["per_second"]),
        "p50": ratio(base["latency_ms"]["p50"], other["latency_ms"]["p50"]),
        "p99": ratio(base["latency_ms"]["p99"], other["latency_ms"]["p99"]),
    }
