"""bench.datascale's table: each operation at each scale, the ratio to the smallest scale,
and the preparation's times and sizes; and the issue's target (within 1.2x)."""

from __future__ import annotations

from typing import Any

from bench.datascale import operations as ops

TARGET_RATIO = 1.2  # at scale 10, list, lookup, booking and free slots within 1.2x of scale 1
TARGET_OPERATIONS = ("list", "lookup", "book", "slots")


def _n(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """Per target operation and larger scale: requests/s at least 1/1.2 of the smallest
    scale's, and p50 at most 1.2 times it."""
    found: dict[str, Any] = {}
    for operation in TARGET_OPERATIONS:
        results = report["operations"].get(operation, {})
        for key, ratio in results.items():
            if not key.startswith("ratio_") or ratio["per_second"] is None:
                continue
            met = ratio["per_second"] >= 1 / TARGET_RATIO and (ratio["p50"] or 0) <= TARGET_RATIO
            found[f"{operation} {key}"] = {"met": met, **ratio}
    return found


def table(report: dict[str, Any]) -> str:
    scales = [str(s) for s in report["settings"]["scales"]]
    first = scales[0]
    head = ["operation"]
    for scale in scales:
        head += [f"req/s x{scale}", f"p50 ms x{scale}", f"p99 ms x{scale}"]
    head += [f"req/s x{s}/x{first}" for s in scales[1:]]
    head += [f"p50 x{s}/x{first}" for s in scales[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" + " ---: |" * (len(head) - 1)]
    for operation, results in report["operations"].items():
        cells = [f"{operation}: {ops.LABELS[operation]}"]
        for scale in scales:
            figures = results[scale]
            latency = figures["latency_ms"]
            errors = sum(figures["errors"].values())
            cells += [
                _n(figures["per_second"]) + (f" ({errors} errors)" if errors else ""),
                _n(latency["p50"], 2),
                _n(latency["p99"], 2),
            ]
        ratios = [results[f"ratio_{s}_to_{first}"] for s in scales[1:]]
        cells += [_n(r["per_second"], 2) + "x" for r in ratios]
        cells += [_n(r["p50"], 2) + "x" for r in ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def preparation(report: dict[str, Any]) -> str:
    lines = [
        "| scale | rows | fill s | `healthcare migrate`, empty database, s | the same "
        "on the filled one (nothing to apply), s (of which start-up and imports) | "
        "VACUUM ANALYZE s | database MiB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scale, prepared in report["databases"].items():
        seconds = prepared["seconds"]
        rows = ", ".join(f"{k} {v:,}" for k, v in prepared["rows"].items())
        lines.append(
            f"| {scale} | {rows} | {_n(seconds['fill'])} | "
            f"{_n(seconds['migrate_empty_database'], 2)} | "
            f"{_n(seconds['migrate_filled_database'], 2)} "
            f"({_n(seconds['interpreter_and_imports'], 2)}) | "
            f"{_n(seconds['vacuum_analyze'])} | {_n(prepared['sizes']['database_mib'])} |"
        )
    largest = list(report["databases"].values())[-1]
    lines += [
        "",
        f"Fill, per step, at scale {largest['scale']} (s): "
        + ", ".join(f"{k} {v}" for k, v in largest["fill_steps"].items()),
    ]
    lines += [
        "",
        f"Tables at scale {largest['scale']} (MiB): "
        + "; ".join(
            f"{name} {t['rows']:,} rows, {t['heap_mib']:,} heap + {t['indexes_mib']:,} indexes"
            for name, t in largest["sizes"]["tables"].items()
        ),
    ]
    return "\n".join(lines)


def plans(report: dict[str, Any]) -> str:
    lines = []
    for operation, explained in (report.get("explain") or {}).items():
        if "error" in explained:
            lines.append(f"{operation}: {explained['error']}")
            continue
        custom = explained["plans"]["custom_plan"]
        lines.append(
            f"{operation}: index {explained['uses_index']}, seq scan {explained['seq_scan']}; "
            + " / ".join(line.strip() for line in custom if "Scan" in line or "Execution" in line)
        )
    return "\n".join(lines)
