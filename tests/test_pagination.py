"""Cursors: what `encode_cursor` writes is what `encode_key` would (the JSON of the row's
sort key), and `decode_cursor` reads it back."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from healthcare.graphql.pagination import decode_cursor, encode_cursor, encode_key

MOMENTS = {
    "whole seconds, UTC": datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
    "microseconds": datetime(2026, 12, 6, 9, 30, 5, 123456, tzinfo=UTC),
    "another offset": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
}


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
def test_a_rows_cursor_is_the_json_of_its_sort_key_and_reads_back(moment):
    # given
    row = SimpleNamespace(starts_at=moment, pk=uuid.uuid4())  # what it reads of a row
    # when
    cursor = encode_cursor(row, "starts_at")  # type: ignore[arg-type]
    # then
    assert cursor == encode_key([moment.isoformat(), str(row.pk)])
    assert decode_cursor(cursor) == (moment, row.pk)
