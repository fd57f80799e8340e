"""Cursor pagination in keyset order (a timestamp, then id), for every list in the schema.

Keyset cursors stay correct while rows are added, unlike offsets. A cursor is opaque
to clients: base64 of the last row's sort key.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from healthcare import db
from healthcare.graphql.errors import bad_argument, in_calendar

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

NodeT = TypeVar("NodeT")
ModelT = TypeVar("ModelT", bound=Model)


@strawberry.type(description="Where a page ends, and whether more follow.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; null on an empty page."
    )


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(description="A page of results, in the order the field describes.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of this page, without cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]


# A cursor of ours is under 120 characters; anything much longer was not made here, and
# is refused before it is decoded (a deeply nested JSON list would exhaust the stack).
MAX_CURSOR_CHARS = 256


def encode_key(key: list[Any]) -> str:
    """A cursor holding `key`, the sort key of the last row of a page."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_key(cursor: str, length: int) -> list[Any]:
    """The sort key a cursor of ours holds, a list of `length` values; BAD_USER_INPUT
    naming `after` for anything else."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise not_a_cursor()
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, RecursionError):  # not base64, UTF-8 or JSON
        raise not_a_cursor() from None
    if not isinstance(key, list) or len(key) != length:
        raise not_a_cursor()
    return key


def encode_cursor(row: Model, sort_field: str) -> str:
    """The cursor of a row of a page in (`sort_field`, id) order."""
    return cursor_of(getattr(row, sort_field), row.pk)


def cursor_of(value: datetime, row_id: uuid.UUID) -> str:
    """`encode_key([value, row_id])`, written without the JSON encoder (once per row of
    every page): an ISO time and a UUID need no escaping."""
    key = f'["{value.isoformat()}", "{row_id}"]'
    return base64.urlsafe_b64encode(key.encode()).decode()


def not_a_cursor() -> GraphQLError:
    return bad_argument("after", "not a cursor from this API.")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    created_at, row_id = decode_key(cursor, 2)
    try:
        moment, parsed_id = datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError):
        raise not_a_cursor() from None
    if not in_calendar(moment):  # made up: no row of ours has such a time
        raise not_a_cursor()
    return moment, parsed_id


def check_page_size(first: int) -> None:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise bad_argument("first", f"must be between 1 and {MAX_PAGE_SIZE}.")


def page_rows(
    queryset: QuerySet[ModelT],
    first: int,
    after: str | None,
    sort_field: str,
    newest_first: bool = False,
) -> QuerySet[ModelT]:
    """The rows of a page of `queryset` (see `paginate`) and one more, whose presence
    says that more follow; BAD_USER_INPUT for a page size or cursor out of bounds."""
    check_page_size(first)
    key = decode_cursor(after) if after is not None else None
    return rows_after(queryset, first + 1, key, sort_field, newest_first)


def rows_after(
    queryset: QuerySet[ModelT],
    limit: int,
    key: tuple[Any, uuid.UUID] | None,
    sort_field: str,
    newest_first: bool = False,
) -> QuerySet[ModelT]:
    """At most `limit` rows of `queryset` in (`sort_field`, id) order (descending with
    `newest_first`), after the row whose sort key is `key` (from the start: None)."""
    beyond = "lt" if newest_first else "gt"
    if key is not None:
        value, row_id = key
        later: dict[str, Any] = {f"{sort_field}__{beyond}": value}
        same_but_later_id: dict[str, Any] = {sort_field: value, f"id__{beyond}": row_id}
        queryset = queryset.filter(Q(**later) | Q(**same_but_later_id))
    direction = "-" if newest_first else ""
    return queryset.order_by(f"{direction}{sort_field}", f"{direction}id").limit(limit)


async def paginate(
    queryset: QuerySet[ModelT],
    to_node: Callable[[ModelT], NodeT],
    first: int,
    after: str | None,
    sort_field: str = "created_at",
    newest_first: bool = False,
) -> Connection[NodeT]:
    """One page of `queryset` in (`sort_field`, id) order (descending with `newest_first`),
    after the cursor `after`."""
    rows = await db.fetch_models(page_rows(queryset, first, after, sort_field, newest_first))
    page = rows[:first]
    edges = [Edge(cursor=encode_cursor(row, sort_field), node=to_node(row)) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
