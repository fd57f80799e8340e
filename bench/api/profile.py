"""Where the API spent its time in a py-spy profile taken by `bench.api --profile`.

    .venv/bin/python -m bench.api.profile bench/results/profile-api-<list|book>-<time>.json

py-spy records only busy samples (a thread running Python or native code). Two views:

- by layer, self time: each sample goes to the layer of its innermost Python frame (the
  file's package: graphql-core, strawberry, Tortoise, asyncpg, the project's code...),
  except samples inside CPython's garbage collector or a system call, which are counted
  as such. The shares add up to 100 %.
- by step, inclusive: a sample counts for every named step on its stack (parse,
  validation, resolvers, ORM model building...), so these overlap.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

# Layer of a Python frame, by a fragment of its file's path; the first match wins.
LAYERS = [
    ("healthcare/security/audit.py", "project: audit trail"),
    ("healthcare/graphql/auditing.py", "project: audit trail"),
    ("healthcare/ops/log.py", "project: JSON log lines"),
    ("healthcare/", "project: resolvers, types, auth, middleware"),
    ("/strawberry/dataloader.py", "strawberry: DataLoader"),
    ("/strawberry/permission.py", "strawberry: permission extensions"),
    ("/strawberry/", "strawberry: schema, fields, extensions"),
    ("/graphql/validation/", "graphql-core: validation"),
    ("/graphql/language/", "graphql-core: parser"),
    ("/graphql/execution/", "graphql-core: execution"),
    ("/graphql/", "graphql-core: other"),
    ("/tortoise/", "Tortoise ORM"),
    ("/pypika", "pypika (SQL text)"),
    ("/asyncpg/", "asyncpg"),
    ("/starlette/", "Starlette"),
    ("/uvicorn/", "uvicorn"),
    ("/httptools/", "httptools"),
    ("/uvloop/", "event loop (uvloop, asyncio)"),
    ("/asyncio/", "event loop (uvloop, asyncio)"),
    ("/_asynciomodule.c", "event loop (uvloop, asyncio)"),
    ("/json/", "stdlib: json"),
    ("/logging/", "stdlib: logging"),
    ("/uuid.py", "stdlib: uuid"),
    ("/jwt/", "PyJWT"),
]
GC = {"gc_collect_main", "gc_collect_with_callback", "gc_collect_generations", "collect"}
SYSCALLS = {"write", "send", "sendto", "sendmsg", "read", "recv", "recvfrom", "writev"}

# Steps, inclusive: (function name fragment, file fragment).
STEPS = {
    "GraphQL parse": ("parse", "/graphql/language/parser.py"),
    "GraphQL validation": ("validate", "/graphql/validation/validate.py"),
    "authentication (token, session query)": ("authenticate", "healthcare/security/auth.py"),
    "the appointments resolver (page query)": ("appointments", "healthcare/schema/appointments.py"),
    "Appointment.patient (loader, audit)": ("patient", "healthcare/schema/appointments.py"),
    "Appointment.consultation (loader, audit)": (
        "consultation",
        "healthcare/schema/appointments.py",
    ),
    "audited reads (buffering read rows)": ("_record_reads", "healthcare/graphql/auditing.py"),
    "AuditWriter (writing batches)": ("write_pending", "healthcare/security/audit.py"),
    "Tortoise: model instances from rows": ("_init_from_db", "/tortoise/models.py"),
    "Tortoise: model instances built in Python": ("__init__", "/tortoise/models.py"),
    "Tortoise: bulk_create": ("bulk_create", "/tortoise/"),
    "asyncpg: executing queries": ("_do_execute", "/asyncpg/"),
    # has_permission itself: PermissionExtension wraps the whole resolver it guards.
    "permission checks (has_permission)": ("has_permission", ""),
    "request log line": ("format", "healthcare/ops/log.py"),
    "JSON encoding of the answer": ("encode_json", "/strawberry/"),
    "cyclic garbage collector": ("gc_collect_main", ""),
    "bookAppointment: the resolver": ("book", "healthcare/resolvers/appointments.py"),
    "bookAppointment: slot checks": ("check_bookable", "healthcare/resolvers/appointments.py"),
    "bookAppointment: history, audit, notification": (
        "announce",
        "healthcare/resolvers/changes.py",
    ),
}


def _layer(frame: dict[str, Any]) -> str | None:
    file = frame.get("file") or ""
    for fragment, layer in LAYERS:
        if fragment in file:
            return layer
    if file.endswith(".py"):
        parts = file.split("site-packages/")
        if len(parts) > 1:
            return parts[1].split("/")[0]
        return "stdlib: " + Path(file).stem
    return None  # native code: attributed to the Python frame that called it


def _self_layer(stack: list[dict[str, Any]]) -> str:
    for frame in reversed(stack):
        name = frame.get("name", "")
        if name in GC:
            return "CPython garbage collector"
        if name in SYSCALLS and not (frame.get("file") or "").endswith(".py"):
            return "system calls (socket and log writes)"
        layer = _layer(frame)
        if layer is not None:
            return layer
    return "other native code"


def _on(stack: list[dict[str, Any]], name: str, file: str) -> bool:
    return any(
        (not name or name in frame.get("name", ""))
        and (not file or file in (frame.get("file") or ""))
        for frame in stack
    )


def summarize(profile: dict[str, Any], top: int = 15) -> dict[str, Any]:
    frames = profile["shared"]["frames"]
    stacks = [
        [frames[i] for i in stack]
        for part in profile["profiles"]
        for stack in part["samples"]
        if stack
    ]
    total = len(stacks) or 1
    layers: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack in stacks:
        layers[_self_layer(stack)] += 1
        for step, (name, file) in STEPS.items():
            if _on(stack, name, file):
                steps[step] += 1
        leaf = stack[-1]
        file = (leaf.get("file") or "?").split("site-packages/")[-1]
        own[f"{leaf.get('name')} ({file}:{leaf.get('line', '?')})"] += 1

    def shares(counter: Counter[str], limit: int | None = None) -> dict[str, float]:
        return {key: round(n / total, 3) for key, n in counter.most_common(limit)}

    return {
        "samples": len(stacks),
        "layers_self": shares(layers),
        "steps_inclusive": shares(steps),
        "own": shares(own, top),
    }


def summarize_file(path: Path, top: int = 15) -> dict[str, Any]:
    return summarize(json.loads(path.read_text()), top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api.profile", description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    summary = summarize_file(args.profile, args.top)
    print(f"{summary['samples']} samples")
    for title, key in (
        ("by layer, self time", "layers_self"),
        ("by step, inclusive", "steps_inclusive"),
        ("functions with the most samples of their own", "own"),
    ):
        print(f"\n{title}:")
        for name, share in summary[key].items():
            print(f"{share:7.1%}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
