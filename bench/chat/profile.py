"""Where a profile from `bench.chat --profile` spent the server's time.

    .venv/bin/python -m bench.chat.profile bench/results/profile-api-<time>.json

Prints the share of samples under each of a few named parts of the work (inclusive:
a sample counts for every part on its stack), the functions with the most samples of
their own, and the longest unbroken runs of samples inside CPython's cyclic garbage
collector: a run of n samples at py-spy's rate r is a pause of about n / r seconds.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

# Part of the work -> a function name that marks it on the stack.
PARTS = {
    "GraphQL validation": "validate_document",
    "sendMessage resolver": "send_message",
    "messageAdded events": "message_added",
    "database driver (asyncpg)": "_do_execute",
    "pool release reset (asyncpg)": "reset",
    "cyclic garbage collector": "gc_collect_main",
    "JSON logging": "JsonFormatter.format",
}
GC_FRAMES = {"gc_collect_main", "gc_collect_with_callback"}


def summarize(profile: dict[str, Any], top: int) -> list[str]:
    frames = profile["shared"]["frames"]
    names = [frame["name"] for frame in frames]
    samples = [stack for part in profile["profiles"] for stack in part["samples"]]
    total = len(samples) or 1
    parts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    gc_runs, run = [], 0
    for stack in samples:
        on_stack = {names[i] for i in stack}
        for part, marker in PARTS.items():
            if any(name == marker or name.endswith(f".{marker}") for name in on_stack):
                parts[part] += 1
        if stack:
            frame = frames[stack[-1]]
            own[f"{frame['name']} ({Path(frame.get('file', '?')).name})"] += 1
        if on_stack & GC_FRAMES:
            run += 1
        elif run:
            gc_runs.append(run)
            run = 0
    if run:
        gc_runs.append(run)
    lines = [f"{total} samples"]
    lines += [f"{count / total:6.1%}  {part}" for part, count in parts.most_common()]
    lines += ["", "most samples of their own:"]
    lines += [f"{count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    lines += [
        "",
        f"longest runs inside the garbage collector (samples): {sorted(gc_runs)[::-1][:10]}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chat.profile", description=__doc__)
    parser.add_argument("profile", type=Path, help="a speedscope JSON file from py-spy")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    print("\n".join(summarize(json.loads(args.profile.read_text()), args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
