"""bench.api's figures as targets, a Markdown table (printed, and written into
docs/benchmarks.md between markers) and a chart of the latency distributions.

    .venv/bin/python -m bench.api.report bench/results/api-<time>.json [--docs] [--chart]

redraws both from a results file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "benchmarks.md"
CHART = REPO / "docs" / "bench-api-latency.png"
START = "<!-- bench.api: start (written by python -m bench.api; edits here are overwritten) -->"
END = "<!-- bench.api: end -->"

# Issue 20's targets: list, lookup and `me` at least 0.6x F1's requests/s, booking 0.8x;
# beside the peer at least half its requests/s, with CPU per request within 2x its own.
THROUGHPUT_SHARE = {"list": 0.6, "lookup": 0.6, "me": 0.6, "book": 0.8}
PEER_SHARE = 0.5
PEER_CPU_FACTOR = 2.0
TAIL_FACTOR = 3.0  # a): p99 at half the peak rate at most 3x the p50
LIST_LEVELS = 3  # a)'s query loads appointments, their patients, their consultations
SAME_COUNT_TOLERANCE = 0.5  # statements per request, amortised, "the same" within this
# Not on a request's path: the audit writer's batches, and asyncpg's type look-ups on a
# connection new to a statement (bench.api.pgcount).
OFF_PATH = ("audit write", "connection setup")

SCENARIOS = {
    "list": "a) list: `appointments(first: 50)` + patient + consultation",
    "lookup": "b) `appointment(id)` + patient, doctor, consultation",
    "me": "b) `me`",
    "book": "c) `bookAppointment`, distinct free slots",
}
SHORT = {
    "list": "a) list, first: 50",
    "lookup": "b) appointment(id)",
    "me": "b) me",
    "book": "c) bookAppointment",
}
SERVERS = ("api", "f1", "f0")
BESIDE_PEER = ("api", "api2", "f1", "f2", "peer")
PEER_SCENARIOS = {
    "list": "a) a doctor's list of 50 + patient + consultation",
    "admin": "an administrator's list of 50 + patient + doctor",
    "lookup": "b) `appointment(id)` + patient, doctor, consultation",
}
STATEMENT_KEYS = {"list": "list_50", "admin": "admin", "lookup": "lookup"}


NONE = "\u2013"  # an en dash: no figure


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    scenarios = results["scenarios"]
    for name, share in THROUGHPUT_SHARE.items():
        if name not in scenarios:
            continue
        peak = scenarios[name]["peak"]
        ratio = _ratio(peak["api"]["per_second"], peak.get("f1", {}).get("per_second"))
        checks.append(
            {
                "id": f"{name}-throughput",
                "target": f"{SHORT[name]}: API req/s >= {share:g} x F1's",
                "measured": f"{ratio}x",
                "met": ratio is not None and ratio >= share,
            }
        )
    if "list" in scenarios:
        fixed = scenarios["list"]["fixed_rate"]
        latency = fixed["api"]["latency_ms"]
        tail = _ratio(latency["p99"], latency["p50"])
        floors = [
            f"{name.upper()} {_ratio(run['p99'], run['p50'])}x"
            for name, run in ((n, fixed[n]["latency_ms"]) for n in ("f1", "f0") if n in fixed)
        ]
        checks.append(
            {
                "id": "a-tail",
                "target": f"a) API p99 <= {TAIL_FACTOR:g} x p50 at half its peak rate",
                "measured": f"p99 {latency['p99']} ms = {tail}x p50 {latency['p50']} ms"
                + (f" (at the same rate: {', '.join(floors)})" if floors else ""),
                "met": tail is not None and tail <= TAIL_FACTOR,
            }
        )
    checks += peer_targets(results)
    counts = results.get("statements", {}).get("api", {})
    sizes = [key for key in ("list_5", "list_50", "list_100") if key in counts]
    if sizes:
        totals = [counts[key]["statements"] for key in sizes]
        request_path = [  # what runs before the answer: reads (the session's included)
            round(
                counts[key]["queries"] - sum(counts[key]["by_kind"].get(k, 0) for k in OFF_PATH), 2
            )
            for key in sizes
        ]
        same = max(totals) - min(totals) <= SAME_COUNT_TOLERANCE
        limit = LIST_LEVELS + 1
        within = max(request_path) <= limit + 1e-9
        checks.append(
            {
                "id": "d-statements",
                "target": f"d) same statement count at page sizes 5/50/100 (within "
                f"{SAME_COUNT_TOLERANCE:g}, audit writes amortised), and on the request "
                f"path <= {limit} ({LIST_LEVELS} levels + 1 for the session)",
                "measured": "total "
                + " / ".join(f"{t:g}" for t in totals)
                + "; request path "
                + " / ".join(f"{t:g}" for t in request_path),
                "met": same and within,
            }
        )
    return checks


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NONE
    return f"{value:,.{digits}f}"


def _row(label: str, values: dict[str, float | None], digits: int = 1, bold: bool = False) -> str:
    api, f1, f0 = (values.get(name) for name in SERVERS)
    cells = [_fmt(api, digits), _fmt(f1, digits), _fmt(f0, digits)]
    if bold:
        cells[0] = f"**{cells[0]}**"
    ratios = [_ratio(api, f1), _ratio(api, f0)]
    ratio_cells = [f"{r:g}x" if r is not None else NONE for r in ratios]
    return f"| {label} | " + " | ".join(cells + ratio_cells) + " |"


def markdown(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    lines = [
        "| | API | F1 (Starlette + asyncpg) | F0 (constant body) | API/F1 | API/F0 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, title in SCENARIOS.items():
        scenario = results["scenarios"].get(name)
        if scenario is None:
            continue
        lines.append(f"| **{title}** | | | | | |")
        peak = scenario["peak"]
        lines.append(
            _row(
                "requests/s at saturation",
                {s: peak[s]["per_second"] for s in SERVERS if s in peak},
                bold=True,
            )
        )
        lines.append(
            _row(
                "p50 at saturation, ms",
                {s: peak[s]["latency_ms"]["p50"] for s in SERVERS if s in peak},
                digits=2,
            )
        )
        fixed = scenario.get("fixed_rate")
        if fixed:
            rate = scenario["rate"]
            for p in ("p50", "p99"):
                lines.append(
                    _row(
                        f"{p} at {rate:,.0f} req/s (half the API's peak), ms",
                        {s: fixed[s]["latency_ms"][p] for s in SERVERS if s in fixed},
                        digits=2,
                        bold=True,
                    )
                )
        lines.append(
            _row(
                "server CPU at saturation, % of a core",
                {s: peak[s]["cpu"]["server_percent"] for s in SERVERS if s in peak},
            )
        )
    lines += ceiling_table(results)
    lines += peer_table(results)
    counts = results.get("statements", {})
    if counts:
        lines += [
            "",
            f"| d) SQL per request (amortised over "
            f"{results['settings'].get('count_requests', 20)} requests) | API | F1 |",
            "| --- | --- | --- |",
        ]
        for key in ("list_5", "list_50", "list_100", "lookup", "me", "book"):
            if key not in counts.get("api", {}):
                continue
            cells = []
            for server in ("api", "f1"):
                c = counts.get(server, {}).get(key)
                if c is None:
                    cells.append(NONE)
                    continue
                kinds = ", ".join(f"{k} {v:g}" for k, v in c["by_kind"].items())
                figures = f"**{c['statements']:g}** statements, {c['round_trips']:g} round trips"
                cells.append(f"{figures} ({kinds})")
            label = key.replace("list_", "a) list, first: ")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| Target | Measured | Met? |", "| --- | --- | --- |"]
    for check in checks:
        met = "**yes**" if check["met"] else "**no**"
        lines.append(f"| {check['target']} | {check['measured']} | {met} |")
    return "\n".join(lines)


def peer_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Beside the peer: half its requests/s, CPU per request within 2x (the API in one
    process; the API's two workers stated beside)."""
    beside = (results.get("beside_peer") or {}).get("scenarios", {})
    checks = []
    for name, runs in beside.items():
        if "api" not in runs or "peer" not in runs:
            continue
        share = _ratio(runs["api"]["per_second"], runs["peer"]["per_second"])
        two = runs.get("api2")
        with_two = (
            f" (2 workers: {_ratio(two['per_second'], runs['peer']['per_second'])}x)" if two else ""
        )
        checks.append(
            {
                "id": f"peer-{name}-throughput",
                "target": f"{PEER_SCENARIOS[name]}: API req/s >= {PEER_SHARE:g} x the peer's",
                "measured": f"{share}x{with_two}",
                "met": share is not None and share >= PEER_SHARE,
            }
        )
        cpu = _ratio(
            runs["api"]["cpu"]["total_ms_per_request"], runs["peer"]["cpu"]["total_ms_per_request"]
        )
        checks.append(
            {
                "id": f"peer-{name}-cpu",
                "target": f"{PEER_SCENARIOS[name]}: API CPU per request (server + PostgreSQL) "
                f"<= {PEER_CPU_FACTOR:g} x the peer's",
                "measured": f"{cpu}x",
                "met": cpu is not None and cpu <= PEER_CPU_FACTOR,
            }
        )
    return checks


def peer_table(results: dict[str, Any]) -> list[str]:
    """The API, F1 and PostGraphile (the peer) at a fixed concurrency."""
    beside = results.get("beside_peer")
    if not beside or not beside.get("scenarios"):
        return []
    peer = beside["peer"]
    counts = results.get("statements", {})
    lines = [
        "",
        f"| Beside the peer: {beside['connections']} connections, closed loop; "
        f"CPU per request of the server and of its own PostgreSQL backends | API | "
        f"API, 2 workers | F1 | F2 (the list: its JSON built by PostgreSQL) | "
        f"PostGraphile {peer['postgraphile']} (Node "
        f"{peer['node'].lstrip('v')}, amber preset) | API/F1 | API/peer | "
        "API 2 workers/peer | F1/peer | F2/peer |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| authentication, field rules, audit trail | yes | yes | yes | yes | **none**: "
        f"{results['beside_peer']['peer_does_not_do']} | | | | | |",
    ]

    def row(label: str, values: dict[str, Any], digits: int, bold: bool = False) -> str:
        api, api2, f1, f2, other = (values.get(name) for name in BESIDE_PEER)
        cells = [_fmt(value, digits) for value in (api, api2, f1, f2, other)]
        if bold:
            cells = [f"**{cell}**" if cell != NONE else cell for cell in cells]
        ratios = [
            _ratio(api, f1),
            _ratio(api, other),
            _ratio(api2, other),
            _ratio(f1, other),
            _ratio(f2, other),
        ]
        cells += [f"{r:g}x" if r is not None else NONE for r in ratios]
        return f"| {label} | " + " | ".join(cells) + " |"

    for name, title in PEER_SCENARIOS.items():
        runs = beside["scenarios"].get(name)
        if not runs:
            continue
        lines.append(f"| **{title}** | | | | | | | | | | |")
        lines.append(row("requests/s", {s: r["per_second"] for s, r in runs.items()}, 1, True))
        for p in ("p50", "p99"):
            values = {s: r["latency_ms"][p] for s, r in runs.items()}
            lines.append(row(f"{p}, ms", values, 2))
        for key, label in (
            ("server_ms_per_request", "server CPU per request, ms"),
            ("postgres_ms_per_request", "PostgreSQL CPU per request, ms"),
            ("total_ms_per_request", "both, ms"),
            ("machine_ms_per_request", "the whole machine (generator, other work), ms"),
        ):
            values = {s: r["cpu"][key] for s, r in runs.items()}
            lines.append(row(label, values, 2, bold=key == "total_ms_per_request"))
        key = STATEMENT_KEYS[name]
        statements = {
            s: counts[s][key]["statements"] for s in BESIDE_PEER if key in counts.get(s, {})
        }
        lines.append(row("SQL statements per request (amortised)", statements, 2))
        busy = {s: r["cpu"]["busy_after_run_seconds"] for s, r in runs.items()}
        lines.append(row("busy after the run (audit backlog), s", busy, 1))
    return lines


def ceiling_table(results: dict[str, Any]) -> list[str]:
    """a)'s GraphQL execution alone (bench/api/ceiling.py) beside the whole request."""
    ceiling = results.get("graphql_ceiling")
    peak = results["scenarios"].get("list", {}).get("peak", {})
    if not ceiling or "api" not in peak:
        return []
    f1 = peak.get("f1", {}).get("per_second")
    api = peak["api"]
    api_ms = api["cpu"]["server_percent"] * 10 / api["per_second"]
    rows = [
        ("the API, whole request (server CPU at saturation / requests)", api_ms),
        ("strawberry, as the API executes it", ceiling["strawberry"]["cpu_ms_per_execution"]),
        ("graphql-core alone", ceiling["graphql_core"]["cpu_ms_per_execution"]),
    ]
    lines = [
        "",
        f"| a) CPU per list of 50 ({ceiling['fields']} fields); GraphQL execution alone is "
        "over the same rows in memory (bench/api/ceiling.py) | CPU ms | at most req/s "
        "on one core | that / F1's req/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, ms in rows:
        ceiling_per_second = 1000 / ms
        lines.append(
            f"| {label} | {ms:,.2f} | {ceiling_per_second:,.1f} | "
            f"{_fmt(_ratio(ceiling_per_second, f1), 2)}x |"
        )
    return lines


def cpu_table(results: dict[str, Any]) -> str:
    lines = [
        "| CPU at saturation, % of one core | server | PostgreSQL | generator | the API's "
        "mail worker (`healthcare mail-worker`) | other work |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, scenario in results["scenarios"].items():
        for server in SERVERS:
            run = scenario["peak"].get(server)
            if run is None:
                continue
            cpu = run["cpu"]
            lines.append(
                f"| {name}, {server} | {cpu['server_percent']} | {cpu['postgres_percent']} | "
                f"{cpu['generator_percent']} | {cpu.get('mail_worker_percent', NONE)} | "
                f"{cpu['others_percent']} |"
            )
    return "\n".join(lines)


def profile_tables(results: dict[str, Any], top: int = 10) -> list[str]:
    """The API's profiles (list, booking), if the run took them."""
    profiles = results.get("profile") or {}
    return [
        profile_table(name, profile, top)
        for name, profile in profiles.items()
        if isinstance(profile, dict) and profile.get("summary")
    ]


def profile_table(scenario: str, profile: dict[str, Any], top: int) -> str:
    summary = profile["summary"]
    layers = list(summary["layers_self"].items())[:top]
    steps = list(summary["steps_inclusive"].items())[:top]
    lines = [
        f"Profile of the API at {SHORT[scenario]} saturation (py-spy, {summary['samples']} "
        "samples; profiles are not committed: `python -m bench.api --profile` makes one, "
        "`python -m bench.api.profile <file>` prints more):",
        "",
        "| Layer (self time) | share | Step (inclusive) | share |",
        "| --- | ---: | --- | ---: |",
    ]
    for i in range(max(len(layers), len(steps))):
        left = layers[i] if i < len(layers) else ("", None)
        right = steps[i] if i < len(steps) else ("", None)
        cells = [
            (name, f"{share:.1%}" if share is not None else "") for name, share in (left, right)
        ]
        lines.append(f"| {cells[0][0]} | {cells[0][1]} | {cells[1][0]} | {cells[1][1]} |")
    return "\n".join(lines)


def section(results: dict[str, Any], path: str) -> str:
    machine = results["machine"]
    code = results["code"]
    dirty = (
        f", {len(code['changed_files'])} files changed in the tree" if code["changed_files"] else ""
    )
    s = results["settings"]
    return "\n".join(
        [
            START,
            "",
            f"Run `{path}` ({results['started_at']}, {results['duration_seconds']:.0f} s), "
            f"commit `{code['commit'][:7]}`{dirty}; {machine['cores']} cores "
            f"({machine['cpu']}), load average {' '.join(machine['load_average_at_start'])} at "
            f"the start, {' '.join(results.get('load_average_at_end', []))} at the end. "
            f"Saturation: {s['connections']} connections, closed loop, {s['seconds']:g} s after "
            f"{s['warmup']:g} s of warm-up, {s.get('rounds', 1)} rounds, each server in turn "
            "in each, the median round reported (beside the peer too); fixed rate: open loop, "
            f"{s['warmup']:g} s of warm-up "
            f"then at least {s['seconds']:g} s and {s['fixed_rate_samples']} requests (at most "
            f"{s['fixed_rate_max_seconds']:g} s).",
            "",
            markdown(results, results["targets"]),
            "",
            cpu_table(results),
            "",
            *[part for table in profile_tables(results) for part in (table, "")],
            f"![Latency distributions]({CHART.name})",
            "",
            END,
        ]
    )


def update_docs(results: dict[str, Any], path: str, docs: Path = DOCS) -> None:
    text = docs.read_text()
    block = section(results, path)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n## API: list, lookups, booking\n\n" + block + "\n"
    docs.write_text(text)


def chart(results: dict[str, Any], output: Path = CHART) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for name in ("list", "lookup", "me", "book"):
        scenario = results["scenarios"].get(name)
        if scenario is None:
            continue
        runs = scenario.get("fixed_rate") or scenario["peak"]
        where = (
            f"at {scenario['rate']:,.0f} req/s" if scenario.get("fixed_rate") else "at saturation"
        )
        panels.append((f"{SHORT[name]}, {where}", runs))
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    colours = {"api": "#c0392b", "f1": "#2471a3", "f0": "#7f8c8d"}
    labels = {"api": "API", "f1": "F1 floor", "f0": "F0 ceiling"}
    for axis, (title, runs) in zip(axes[0], panels, strict=True):
        for server in SERVERS:
            run = runs.get(server)
            if not run or not run["quantiles"]["ms"]:
                continue
            axis.plot(
                run["quantiles"]["ms"],
                run["quantiles"]["at"],
                label=labels[server],
                color=colours[server],
                linewidth=1.6,
            )
        axis.set_xscale("log")
        axis.set_xlabel("latency, ms (log)")
        axis.set_ylabel("% of requests at or below")
        axis.set_ylim(0, 100)
        axis.set_title(title, fontsize=9)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    figure.suptitle(
        f"bench.api {results['started_at'][:16]} (commit {results['code']['commit'][:7]})",
        fontsize=10,
    )
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api.report", description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--docs", action="store_true", help="rewrite the docs section")
    parser.add_argument("--chart", action="store_true", help="redraw the chart")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    print(markdown(results, results["targets"]))
    if args.docs:
        update_docs(results, shown(args.results))
    if args.chart:
        chart(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
