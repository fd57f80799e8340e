"""Per-minute samples, the verdict, and how both are printed."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common.processes import Server, cpu_seconds, rss_kib
from bench.common.stats import summary_ms
from bench.soak.chat import LATE_SECONDS, Ledger, Window

# "Under 1 MB per 10 minutes", read strictly: 10^6 bytes.
SLOPE_LIMIT_KIB = 1_000_000 / 1024
MIN_SLOPE_SAMPLES = 4  # fewer samples after the warm-up: the slope is shown, not judged


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class CpuMeter:
    """Each process's CPU, in % of one core, since the last reading."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[float, float]] = {}

    def percent(self, pid: int) -> float | None:
        now, used = time.monotonic(), cpu_seconds(pid)
        before = self.last.get(pid)
        self.last[pid] = (now, used)
        if before is None or now <= before[0]:
            return None
        return round((used - before[1]) / (now - before[0]) * 100, 1)


def sample(
    minute: int,
    elapsed: float,
    servers: Sequence[Server],
    windows: Sequence[Window],
    traffic: Sequence[Counter[str]],
    latencies: Sequence[list[float]],
    ledger: Ledger,
    cpu: CpuMeter,
) -> dict[str, Any]:
    """One minute: each instance's memory and files now, and what happened in the minute
    (a message is "late" when acknowledged over LATE_SECONDS ago and still not received
    by a subscriber on that instance)."""
    late = Counter(ledger.instance_of[name] for name, _ in ledger.missing(LATE_SECONDS))
    instances = []
    for n, server in enumerate(servers):
        counts = traffic[n]
        query_ms = summary_ms(latencies[n])
        instances.append(
            {
                "name": server.name,
                "rss_kib": rss_kib(server.pid),
                "open_files": open_files(server.pid),
                "cpu_percent": cpu.percent(server.pid),
                **windows[n].as_dict(),
                "late": late[n],
                "queries": counts["query"],
                "queries_failed": counts["query failed"],
                "query_p50_ms": query_ms["p50"],
                "query_p99_ms": query_ms["p99"],
                "booked": counts["booked"],
                "slot_unavailable": counts["booking: SlotUnavailable"],
                "bookings_failed": counts["booking failed"],
                "cancelled": counts["cancelled"],
                "sockets_opened": counts["socket opened"],
                "sockets_closed": counts["socket closed"],
                "sockets_failed": counts["socket failed"],
            }
        )
    return {
        "minute": minute,
        "elapsed_seconds": round(elapsed, 1),
        "load_average": float(Path("/proc/loadavg").read_text().split()[0]),
        "instances": instances,
    }


def minute_lines(row: dict[str, Any]) -> list[str]:
    lines = []
    for i in row["instances"]:
        lines.append(
            f"min {row['minute']:>3} {i['name']}: RSS {i['rss_kib'] / 1024:6.1f} MiB"
            f"  fds {i['open_files']:>4}  CPU {i['cpu_percent'] or 0:4.1f} %"
            f" | chat sent {i['sent']:>4} acked {i['acked']:>4} failed {i['failed']}"
            f" delivered {i['delivered']:>4} late {i['late']} dup {i['duplicated']}"
            f" reconnects {i['reconnects']} notes {i['notifications']:>4}"
            f" | queries {i['queries']:>4} ({i['queries_failed']} failed,"
            f" p99 {i['query_p99_ms'] or 0:.0f} ms)"
            f" | booked {i['booked']} cancelled {i['cancelled']}"
            f" | sockets {i['sockets_opened']} ({i['sockets_failed']} failed)"
        )
    lines.append(f"        load average {row['load_average']:.2f}")
    return lines


def slope_per_10_minutes(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minute, KiB), times 10; None with fewer than 2 points."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread * 10


def lost_by_minute(ledger: Ledger, samples: list[dict[str, Any]]) -> None:
    """After the drain: each sample's `lost`, by the minute the message was acknowledged
    and the instance of the subscriber that never received it."""
    lost = Counter(
        (ledger.acked[message_id].minute + 1, ledger.instance_of[name])
        for name, message_id in ledger.missing()
    )
    for row in samples:
        for n, instance in enumerate(row["instances"]):
            instance["lost"] = lost[(row["minute"], n)]


def verdict(
    samples: list[dict[str, Any]],
    servers: Sequence[Server],
    ledger: Ledger,
    warmup_minutes: float,
    drained: bool,
    survived: bool,
) -> dict[str, Any]:
    per_instance = []
    failures = []
    for n, server in enumerate(servers):
        points = [
            (row["minute"], row["instances"][n]["rss_kib"])
            for row in samples
            if row["minute"] >= warmup_minutes
        ]
        slope = slope_per_10_minutes(points)
        judged = slope is not None and len(points) >= MIN_SLOPE_SAMPLES
        if judged and slope is not None and slope > SLOPE_LIMIT_KIB:
            failures.append(
                f"{server.name}: RSS slope {slope:.0f} KiB per 10 min (limit {SLOPE_LIMIT_KIB:.0f})"
            )
        first, last = samples[0]["instances"][n], samples[-1]["instances"][n]
        per_instance.append(
            {
                "name": server.name,
                "rss_kib_at_warmup_end": points[0][1] if points else None,
                "rss_kib_at_end": last["rss_kib"],
                "rss_slope_kib_per_10_minutes": None if slope is None else round(slope, 1),
                "slope_samples": len(points),
                "slope_judged": judged,
                "open_files_at_start": first["open_files"],
                "open_files_at_end": last["open_files"],
            }
        )
    missing = ledger.missing()
    lost, duplicated = len(missing), ledger.duplicated()
    if lost:
        failures.append(f"{lost} acknowledged deliveries lost")
    if duplicated:
        failures.append(f"{duplicated} deliveries duplicated")
    if not survived:
        failures.append("an instance exited during the run")
    expected = sum(len(ledger.subscribers[ack.conversation_id]) for ack in ledger.acked.values())
    return {
        "passed": not failures,
        "failures": failures,
        "instances": per_instance,
        "messages_acknowledged": len(ledger.acked),
        "deliveries_expected": expected,
        "deliveries_received": expected - lost,
        "lost": lost,
        "messages_lost": len({message_id for _, message_id in missing}),
        "duplicated": duplicated,
        "drained": drained,
        "delivered_without_acknowledgment": ledger.unacknowledged_deliveries(),
        "slope_limit_kib_per_10_minutes": round(SLOPE_LIMIT_KIB, 1),
        "warmup_minutes": warmup_minutes,
    }


def verdict_lines(result: dict[str, Any]) -> list[str]:
    lines = ["", "Verdict"]
    for i in result["instances"]:
        slope = i["rss_slope_kib_per_10_minutes"]
        judged = "" if i["slope_judged"] else " (too few samples after the warm-up: not judged)"
        warm = i["rss_kib_at_warmup_end"]
        lines.append(
            f"  {i['name']}: RSS {'n/a' if warm is None else f'{warm / 1024:.1f} MiB'}"
            " after the warm-up,"
            f" {i['rss_kib_at_end'] / 1024:.1f} MiB at the end;"
            f" slope {'n/a' if slope is None else f'{slope:.0f} KiB'} per 10 min{judged};"
            f" open files {i['open_files_at_start']} -> {i['open_files_at_end']}"
        )
    lines.append(
        f"  chat: {result['messages_acknowledged']} messages acknowledged,"
        f" {result['deliveries_received']} of {result['deliveries_expected']} deliveries"
        f" received; lost {result['lost']}, duplicated {result['duplicated']}"
    )
    lines.append("  PASS" if result["passed"] else "  FAIL: " + "; ".join(result["failures"]))
    return lines
