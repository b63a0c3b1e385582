"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Enum, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` on PostgreSQL; on SQLite a text timestamp that comes back aware UTC.

    Naive datetimes are refused on the way in: a naive value is a bug waiting for a timezone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: saas-core stores aware UTC timestamps")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite has no timezone type; store UTC wall time so text order is time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON on SQLite, JSONB on PostgreSQL (so GIN indexes apply there).
JSONType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

#: 64-bit identity keys on PostgreSQL; SQLite only auto-increments ``INTEGER PRIMARY KEY``
#: (which is 64-bit there anyway).
BigIntPK: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

#: Foreign keys that point at :data:`BigIntPK` columns.
BigIntFK: TypeEngine[int] = BigInteger()


def enum_type(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A status column type: a native enum on PostgreSQL, VARCHAR + CHECK on SQLite.

    Values (not member names) are stored, so ``TenantStatus.ACTIVE`` is ``'active'`` in SQL.
    """
    return Enum(
        enum_cls,
        name=name,
        native_enum=True,
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
        length=max(len(member.value) for member in enum_cls),
    )
