"""Opaque keyset cursors and the page envelope."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from saas_core.api.pagination import Page, PageQuery, decode_cursor, encode_cursor, keyset_after
from saas_core.errors import ValidationFailed
from saas_core.identity.models import User


@given(
    st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)),
    st.uuids(),
)
def test_cursors_round_trip(at: datetime, public_id: uuid.UUID) -> None:
    cursor = encode_cursor(at, public_id)
    assert "=" not in cursor
    assert decode_cursor(cursor) == (at, public_id)


@given(st.text(max_size=80))
def test_any_garbage_is_a_validation_problem_or_a_keyset(cursor: str) -> None:
    error: ValidationFailed | None = None
    try:
        at, public_id = decode_cursor(cursor)
    except ValidationFailed as exc:
        error = exc
    if error is not None:
        assert error.extra["errors"][0]["loc"] == ["query", "cursor"]
    else:
        assert at.tzinfo is not None
        assert isinstance(public_id, uuid.UUID)


@pytest.mark.parametrize(
    "payload", [b"[]", b'["2026-01-01T00:00:00", "0190a0a0-0000-7000-8000-000000000001"]', b"{}"]
)
def test_wrong_shapes_are_rejected(payload: bytes) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(base64.urlsafe_b64encode(payload).decode())


def test_page_query_bounds() -> None:
    assert PageQuery().limit == 50
    assert PageQuery(limit=100).after() is None
    with pytest.raises(ValueError, match="less than or equal to 100"):
        PageQuery(limit=101)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        PageQuery(limit=0)


def test_page_build_sets_the_cursor_only_when_more_rows_exist() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(at, uuid.UUID(int=i)) for i in range(3)]
    page = Page[str].build(rows, 2, lambda r: str(r[1]), key=lambda r: r)
    assert page.items == [str(uuid.UUID(int=0)), str(uuid.UUID(int=1))]
    assert page.next_cursor == encode_cursor(at, uuid.UUID(int=1))
    last = Page[str].build(rows[:2], 2, lambda r: str(r[1]), key=lambda r: r)
    assert last.next_cursor is None
    assert Page[str].build([], 2, str, key=lambda r: r).model_dump() == {
        "items": [],
        "next_cursor": None,
    }


def test_keyset_after_adds_the_seek_predicate() -> None:
    statement = select(User).order_by(User.created_at, User.public_id)
    assert keyset_after(statement, User.created_at, User.public_id, None) is statement
    after = (datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=5))
    sql = str(keyset_after(statement, User.created_at, User.public_id, after))
    assert "users.created_at >" in sql
    assert "users.public_id >" in sql
