"""bench.scale's figures from the raw results, its targets (the issue's), and its table."""

from __future__ import annotations

import argparse
from typing import Any

from bench.common.stats import summary_ms

P99_TARGET_MS = 100.0
IDLE_KIB_TARGET = 64.0
# The generator is not the bottleneck while each of its processes stays well below a
# core and its event loop answers a 10 ms timer within a few milliseconds.
GENERATOR_CPU_LIMIT = 50.0  # % of a core, per generator process
GENERATOR_LAG_LIMIT_MS = 10.0  # p99 of the loop-lag probe (a tenth of the p99 target)


def _per_socket(before: dict[str, Any], after: dict[str, Any], sockets: int) -> dict[str, float]:
    return {
        "rss": round((after["rss_kib"] - before["rss_kib"]) / sockets, 1),
        "pss": round((after["pss_kib"] - before["pss_kib"]) / sockets, 1),
    }


def _deliveries(runs: list[dict[str, Any]], kind: str, seconds: float) -> dict[str, Any]:
    parts = [run[kind] for run in runs]
    latencies = [x for part in parts for x in part["latencies"]]
    totals = {key: sum(part[key] for part in parts) for key in ("sent", "refused", "delivered")}
    return totals | {
        "lost": sum(part["lost"] for part in parts),
        "sent_per_second": round(totals["sent"] / seconds, 1),
        "latency_ms": summary_ms(latencies),
        "reply_ms": summary_ms([x for part in parts for x in part["acks"]]),
    }


def summary(outcome: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of the run: per-generator raw lists reduced to percentiles."""
    runs, memory, sockets = outcome["runs"], outcome["memory"], outcome["sockets"]
    connected = outcome["connect"]["per_generator"]
    generators = [
        {
            "sockets": connect["sockets"],
            "connect_seconds": connect["seconds"],
            "connect_cpu_percent": round(connect["cpu_seconds"] / connect["seconds"] * 100, 1)
            if connect["seconds"]
            else None,
            "cpu_percent": outcome["cpu"].get(f"generator{i}_percent"),
            "cpu_percent_self_reported": run["cpu_percent"],
            "loop_lag_ms": summary_ms(run["loop_lag"]),
            "errors": run["errors"],
        }
        for i, (connect, run) in enumerate(zip(connected, runs, strict=True))
    ]
    errors: dict[str, int] = {}
    for run in runs:
        for error, count in run["errors"].items():
            errors[error] = errors.get(error, 0) + count
    return {
        "sockets": sockets,
        "pairs": outcome["pairs"],
        "listeners": outcome["listeners"],
        "workers": outcome["workers"],
        "compression_offered": not args.no_compression,
        "deflate_negotiated": sum(c["deflate_negotiated"] for c in connected),
        "seed_seconds": outcome["seed_seconds"],
        "connect_seconds": outcome["connect"]["seconds"],
        "subscribe_seconds": outcome["subscribe"]["seconds"],
        "memory": {
            "server_rss_mib": {
                phase: round(memory[phase]["rss_kib"] / 1024, 1) for phase in memory
            },
            "server_pss_mib": {
                phase: round(memory[phase]["pss_kib"] / 1024, 1) for phase in memory
            },
            "kib_per_idle_socket": _per_socket(memory["empty"], memory["idle"], sockets),
            "kib_per_listening_socket": _per_socket(memory["empty"], memory["listening"], sockets),
            "sockets_per_worker": memory["listening"]["sockets_per_worker"],
        },
        "chat": _deliveries(runs, "chat", args.seconds),
        "notifications": _deliveries(runs, "notifications", args.seconds),
        "cpu": outcome["cpu"],
        "server_cpu_quiet_percent": outcome["server_cpu_quiet_percent"],
        "generators": generators,
        "server_gc_pauses": outcome["server_gc"],
        "emails_received": outcome["emails_received"],
        "errors": errors,
        "server_exited_during_run": outcome["server_exited_during_run"],
        "server_log": outcome["server_log"],
    }


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    chat_p99 = results["chat"]["latency_ms"]["p99"]
    notice_p99 = results["notifications"]["latency_ms"]["p99"]
    idle = results["memory"]["kib_per_idle_socket"]["rss"]
    lost = results["chat"]["lost"] + results["notifications"]["lost"]
    busiest = max((g["cpu_percent"] or 0 for g in results["generators"]), default=0)
    lag = max((g["loop_lag_ms"]["p99"] or 0 for g in results["generators"]), default=0)
    return [
        {
            "target": f"chat delivery p99 <= {P99_TARGET_MS:g} ms",
            "measured": chat_p99,
            "met": chat_p99 is not None and chat_p99 <= P99_TARGET_MS,
        },
        {
            "target": f"notification delivery p99 <= {P99_TARGET_MS:g} ms",
            "measured": notice_p99,
            "met": notice_p99 is None or notice_p99 <= P99_TARGET_MS,
        },
        {"target": "0 lost (chat and notifications)", "measured": lost, "met": lost == 0},
        {
            "target": f"<= {IDLE_KIB_TARGET:g} KiB per idle signed-in socket (RSS)",
            "measured": idle,
            "met": idle <= IDLE_KIB_TARGET,
        },
        {
            "target": f"generator not the bottleneck: each process < {GENERATOR_CPU_LIMIT:g} % "
            f"of a core, loop lag p99 < {GENERATOR_LAG_LIMIT_MS:g} ms",
            "measured": f"{busiest} %, {lag} ms",
            "met": busiest < GENERATOR_CPU_LIMIT and lag < GENERATOR_LAG_LIMIT_MS,
        },
    ]


def _rows(results: dict[str, Any]) -> list[tuple[str, Any]]:
    memory, cpu = results["memory"], results["cpu"]
    chat, notes = results["chat"], results["notifications"]
    rows: list[tuple[str, Any]] = [
        ("sockets (pairs x 2 + listeners)", results["sockets"]),
        ("server workers", results["workers"]),
        ("sockets per worker (fds)", memory["sockets_per_worker"]),
        ("permessage-deflate negotiated", results["deflate_negotiated"]),
        ("connect all, s", results["connect_seconds"]),
        ("subscribe all, s", results["subscribe_seconds"]),
        ("server RSS empty / idle / listening / after, MiB", _slash(memory["server_rss_mib"])),
        ("KiB per idle socket, RSS / PSS", _slash(memory["kib_per_idle_socket"])),
        ("KiB per listening socket, RSS / PSS", _slash(memory["kib_per_listening_socket"])),
    ]
    for name, part in (("chat", chat), ("notifications", notes)):
        latency = part["latency_ms"]
        rows += [
            (
                f"{name}: sent / delivered / lost",
                f"{part['sent']} / {part['delivered']} / {part['lost']}",
            ),
            (
                f"{name}: p50 / p99 / max, ms",
                f"{latency['p50']} / {latency['p99']} / {latency['max']}",
            ),
            (
                f"{name}: sender's reply p50 / p99, ms",
                f"{part['reply_ms']['p50']} / {part['reply_ms']['p99']}",
            ),
        ]
    rows += [
        ("server CPU, % of a core (all)", cpu["server_percent"]),
        ("server CPU idle / listening", _slash(results["server_cpu_quiet_percent"])),
        ("postgres CPU, % of a core", cpu["postgres_percent"]),
        ("redis CPU, % of a core", cpu["redis_percent"]),
        ("other work, % of a core", cpu["others_percent"]),
        ("emails received by the SMTP sink", results["emails_received"]),
    ]
    if results["server_gc_pauses"] is not None:
        for pid, worker in results["server_gc_pauses"]["workers"].items():
            rows.append(
                (
                    f"worker {pid}: GC pauses >= 5 / >= 20 ms, max",
                    f"{worker['count']} / {worker['over_20_ms']}, {worker['max_ms']} ms",
                )
            )
    for i, g in enumerate(results["generators"]):
        lag = g["loop_lag_ms"]
        rows.append(
            (
                f"generator {i}: CPU % / lag p99, max ms",
                f"{g['cpu_percent']} / {lag['p99']}, {lag['max']}",
            )
        )
    rows.append(("errors", sum(results["errors"].values())))
    return rows


def _slash(values: dict[str, Any]) -> str:
    return " / ".join(str(v) for v in values.values())


def table(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    lines = [f"{label:50} {value}" for label, value in _rows(results)]
    if results["errors"]:
        lines += [f"  {count} x {error}" for error, count in results["errors"].items()]
    lines.append("")
    for check in checks:
        mark = "MET    " if check["met"] else "NOT MET"
        lines.append(f"{mark} {check['target']}: measured {check['measured']}")
    return "\n".join(lines)
