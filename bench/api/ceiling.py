"""The most a strawberry server could serve of the list (a): its GraphQL execution alone.

    .venv/bin/python -m bench.api.ceiling answer.json   # an API answer to the list

bench.api runs it on the API's own answer to `appointments(first: 50)`: the same 50
appointments, patients and consultations, held in memory as plain objects, go through
the same document (bench/api/operations.py LIST_QUERY), in this process, in two ways:

- **strawberry**: a schema of the same shape (the same fields, types, enum and scalars)
  whose every field is a plain attribute, with none of the API's permission checks,
  audit or loaders, and with its parser and validation caches; executed as the API
  executes it (`await schema.execute`), the result encoded with orjson as the API does;
- **graphql-core**: the same SDL built by graphql-core alone, dicts as sources and its
  default resolvers, the document parsed once and not validated.

No HTTP, no database, no authentication: what is left is the per-field cost of GraphQL
execution (about 700 fields for a page of 50). 1000 / (ms of CPU per execution) is a
ceiling on requests/s for any server that executes this document with that library on
this machine's one core; bench.api sets it beside F1's requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import json
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import strawberry
from graphql import ExecutionResult, build_schema, execute, parse
from strawberry.extensions import ParserCache, ValidationCache

from bench.api import operations as ops


@strawberry.enum
class AppointmentStatus(enum.Enum):
    SCHEDULED = "SCHEDULED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


@strawberry.type
class User:
    id: strawberry.ID
    first_name: str
    last_name: str


@strawberry.type
class Consultation:
    id: strawberry.ID
    created_at: datetime
    signed_at: datetime | None
    treatment_plan: str | None


@strawberry.type
class Appointment:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    reason: str | None
    patient: User
    consultation: Consultation | None


@strawberry.type
class AppointmentEdge:
    cursor: str
    node: Appointment


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class AppointmentConnection:
    edges: list[AppointmentEdge]
    page_info: PageInfo


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def strawberry_page(answer: dict[str, Any]) -> AppointmentConnection:
    """The API's answer as the objects a resolver would return."""
    page = answer["data"]["appointments"]
    edges = []
    for edge in page["edges"]:
        node = edge["node"]
        consultation = node["consultation"]
        edges.append(
            AppointmentEdge(
                cursor=edge["cursor"],
                node=Appointment(
                    id=node["id"],
                    starts_at=_when(node["startsAt"]),  # type: ignore[arg-type]
                    ends_at=_when(node["endsAt"]),  # type: ignore[arg-type]
                    status=AppointmentStatus(node["status"]),
                    reason=node["reason"],
                    patient=User(
                        id=node["patient"]["id"],
                        first_name=node["patient"]["firstName"],
                        last_name=node["patient"]["lastName"],
                    ),
                    consultation=Consultation(
                        id=consultation["id"],
                        created_at=_when(consultation["createdAt"]),  # type: ignore[arg-type]
                        signed_at=_when(consultation["signedAt"]),
                        treatment_plan=consultation["treatmentPlan"],
                    )
                    if consultation
                    else None,
                ),
            )
        )
    info = page["pageInfo"]
    return AppointmentConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=info["hasNextPage"], end_cursor=info["endCursor"]),
    )


def strawberry_schema(page: AppointmentConnection) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field
        async def appointments(self, first: int) -> AppointmentConnection:
            return page

    # The API's caches: a repeated document is parsed and validated once.
    return strawberry.Schema(query=Query, extensions=[ParserCache, ValidationCache])


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


async def _cpu_ms(run: Any, seconds: float) -> tuple[float, int]:
    """CPU ms per call of `run`, over about `seconds` of calls after a warm-up."""
    for _ in range(20):
        await run()
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        await run()
        count += 1
    return (time.process_time() - cpu) / count * 1000, count


async def measure(answer: dict[str, Any], seconds: float = 5.0) -> dict[str, Any]:
    """CPU ms per execution of the list document over `answer`'s data, both ways."""
    variables = {"first": len(answer["data"]["appointments"]["edges"])}
    schema = strawberry_schema(strawberry_page(answer))

    async def with_strawberry() -> bytes:
        result = await schema.execute(
            ops.LIST_QUERY, variable_values=variables, operation_name=ops.LIST
        )
        assert result.errors is None, result.errors
        return orjson.dumps({"data": result.data}, default=_default)

    core_schema = build_schema(str(schema))
    document = parse(ops.LIST_QUERY)
    root = {"appointments": answer["data"]["appointments"]}

    async def with_graphql_core() -> bytes:
        result = execute(core_schema, document, root, variable_values=variables)
        assert isinstance(result, ExecutionResult) and result.errors is None
        return orjson.dumps({"data": result.data})

    same = json.loads(await with_strawberry()) == {"data": answer["data"]}
    results = {}
    for name, run in (("strawberry", with_strawberry), ("graphql_core", with_graphql_core)):
        ms, count = await _cpu_ms(run, seconds)
        results[name] = {
            "cpu_ms_per_execution": round(ms, 3),
            "ceiling_per_second": round(1000 / ms, 1),
            "executions": count,
        }
    return {"same_json_as_api": same, "fields": _field_count(answer["data"]), **results}


def _field_count(value: Any) -> int:
    """Fields in a result: each key of each object."""
    if isinstance(value, dict):
        return sum(1 + _field_count(v) for v in value.values())
    if isinstance(value, list):
        return sum(_field_count(v) for v in value)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("answer", type=Path, help="an API answer to DoctorAppointments")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    answer = json.loads(args.answer.read_text())
    print(json.dumps(asyncio.run(measure(answer, args.seconds)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
