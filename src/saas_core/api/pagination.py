"""Cursor pagination for list routes.

A list route takes :class:`PageQuery` (``?limit=1..100&cursor=...``) as its query model (or a
subclass with filters), orders by ``(created_at, public_id)`` and answers a :class:`Page`::

    {"items": [...], "next_cursor": "eyJ..." | null}

The cursor is opaque to clients: base64url (unpadded) of the JSON ``[created_at ISO, public id]``
of the last item served. Keyset pagination keeps every page an index range scan, however deep.
A cursor that does not decode is a 422 problem on ``["query", "cursor"]``.

Usage in a handler::

    page = call.query_as(PageQuery)
    stmt = select(Project).order_by(Project.created_at, Project.public_id)
    stmt = keyset_after(stmt, Project.created_at, Project.public_id, page.after())
    rows = session.scalars(stmt.limit(page.limit + 1)).all()
    return Page[ProjectOut].build(
        rows, page.limit, ProjectOut.from_row, key=lambda p: (p.created_at, p.public_id)
    )
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from saas_core.errors import ValidationFailed

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S", bound=Select[Any])

DEFAULT_LIMIT = 50
MAX_LIMIT = 100

Keyset = tuple[datetime, uuid.UUID]


def encode_cursor(created_at: datetime, public_id: uuid.UUID) -> str:
    """The opaque cursor pointing after ``(created_at, public_id)``."""
    raw = json.dumps([created_at.isoformat(), str(public_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> Keyset:
    """The keyset a cursor stands for; a malformed cursor is a 422 problem."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, public = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        return at, uuid.UUID(public)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        error = {"loc": ["query", "cursor"], "msg": "Malformed cursor", "type": "cursor_invalid"}
        raise ValidationFailed("malformed cursor", errors=[error]) from None


class PageQuery(BaseModel):
    """Query parameters of a list route; subclass it to add filters."""

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size.")
    cursor: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page (opaque).",
    )

    def after(self) -> Keyset | None:
        """The decoded cursor, or None on the first page."""
        return decode_cursor(self.cursor) if self.cursor else None


class Page(BaseModel, Generic[T]):
    """One page of a list: items and the cursor of the next page (null on the last)."""

    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def build(
        cls,
        rows: Sequence[R],
        limit: int,
        to_item: Callable[[R], T],
        *,
        key: Callable[[R], Keyset],
    ) -> Page[T]:
        """A page from ``rows`` fetched with ``limit + 1`` (the extra row says there is more)."""
        more = len(rows) > limit
        shown = rows[:limit]
        cursor = encode_cursor(*key(shown[-1])) if more and shown else None
        return cls(items=[to_item(row) for row in shown], next_cursor=cursor)


def keyset_after(
    statement: S,
    created_at: InstrumentedAttribute[datetime],
    public_id: InstrumentedAttribute[uuid.UUID],
    after: Keyset | None,
) -> S:
    """Restrict ``statement`` (ordered by created_at, public_id) to rows after ``after``."""
    if after is None:
        return statement
    at, last = after
    return statement.where(or_(created_at > at, and_(created_at == at, public_id > last)))
