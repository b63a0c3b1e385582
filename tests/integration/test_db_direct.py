"""DirectStatement: the rows Core would return, through the DBAPI cursor, or through Core's
``exec_driver_sql`` while something observes the connection; DBAPI errors as SQLAlchemy's.
Both databases.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.db.direct import DirectCursor, DirectStatement, observed
from saas_core.tenancy.models import Tenant, TenantStatus
from tests.support.databases import TestDatabase

_tenants = Tenant.__table__
WHEN = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)

#: A literal, a parameter used twice, typed columns (UUID, enum, timestamp).
LOOKUP = sa.select(
    _tenants.c.id, _tenants.c.public_id, _tenants.c.status, _tenants.c.created_at
).where(
    sa.or_(_tenants.c.slug == sa.bindparam("slug"), _tenants.c.name == sa.bindparam("slug")),
    _tenants.c.status == TenantStatus.ACTIVE,
    _tenants.c.created_at <= sa.bindparam("at", type_=_tenants.c.created_at.type),
)


@pytest.fixture
def engine(db: TestDatabase) -> sa.Engine:
    """The owner's engine with two tenants (only ``acme`` active)."""
    with Session(db.engine) as session, session.begin():
        for slug, status in (("acme", TenantStatus.ACTIVE), ("gone", TenantStatus.ARCHIVED)):
            session.add(
                Tenant(slug=slug, name=slug, status=status, created_at=WHEN, updated_at=WHEN)
            )
    return db.engine


def _core(connection: sa.Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(LOOKUP, params)]


def test_rows_are_those_core_returns(engine: sa.Engine) -> None:
    statement = DirectStatement(LOOKUP)
    params = {"slug": "acme", "at": WHEN}
    with engine.connect() as connection:
        assert not observed(connection)
        rows = statement.all(connection, params)
        assert rows == _core(connection, params)
        [(_id, public_id, status, created_at)] = rows
        assert isinstance(public_id, uuid.UUID)
        assert status is TenantStatus.ACTIVE
        assert created_at == WHEN
        assert created_at.utcoffset() is not None
        assert statement.all(connection, {"slug": "gone", "at": WHEN}) == []
        assert statement.first(connection, {"slug": "acme", "at": WHEN}) == rows[0]


def test_an_observed_connection_runs_the_same_sql_through_core(engine: sa.Engine) -> None:
    statement = DirectStatement(LOOKUP)
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, sql: str, parameters: Any, *_: Any) -> None:
        if not sql.startswith("BEGIN"):  # SQLite's engine begins write transactions itself
            seen.append((sql, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as connection:
            assert observed(connection)
            rows = statement.all(connection, {"slug": "acme", "at": WHEN})
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    compiled = statement.compiled(engine.dialect)
    assert seen == [(compiled.sql, compiled.arguments({"slug": "acme", "at": WHEN}))]
    with engine.connect() as connection:
        assert not observed(connection)  # listener gone: back to the cursor
        assert rows == statement.all(connection, {"slug": "acme", "at": WHEN})


def test_untyped_columns_are_left_as_the_driver_returns_them(engine: sa.Engine) -> None:
    statement = DirectStatement(LOOKUP, untyped=("status",))
    with engine.connect() as connection:
        [row] = statement.all(connection, {"slug": "acme", "at": WHEN})
    assert type(row[2]) is str
    assert row[2] == TenantStatus.ACTIVE


def test_one_cursor_serves_several_statements_and_run_discards_rows(engine: sa.Engine) -> None:
    rename = DirectStatement(
        sa.update(_tenants)
        .where(_tenants.c.slug == sa.bindparam("old"))
        .values(slug=sa.bindparam("new"), updated_at=sa.bindparam("now"))
    )
    lookup = DirectStatement(LOOKUP)
    with engine.begin() as connection, DirectCursor(connection) as cursor:
        cursor.run(rename, {"old": "acme", "new": "acme-2", "now": WHEN})
        assert cursor.first(lookup, {"slug": "acme-2", "at": WHEN}) is not None
        assert cursor.first(lookup, {"slug": "gone", "at": WHEN}) is None
        slugs = connection.execute(sa.select(_tenants.c.slug).order_by(_tenants.c.slug))
        assert slugs.scalars().all() == ["acme-2", "gone"]


@pytest.mark.parametrize("watched", [False, True])
def test_driver_errors_are_sqlalchemy_errors(engine: sa.Engine, watched: bool) -> None:
    broken = DirectStatement(sa.text("SELECT nothing FROM no_such_table"))

    def ignore(*_: Any) -> None:
        pass

    if watched:
        sa.event.listen(engine, "before_cursor_execute", ignore)
    try:
        with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError) as raised:
            broken.all(connection, {})
        assert "no_such_table" in str(raised.value)
        assert not raised.value.connection_invalidated
    finally:
        if watched:
            sa.event.remove(engine, "before_cursor_execute", ignore)


@pytest.mark.sqlite_only
def test_a_lost_connection_is_invalidated(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        dbapi_connection.close()  # the driver's "closed database" counts as a disconnect
        with pytest.raises(sa.exc.DBAPIError) as raised:
            DirectStatement(LOOKUP).all(connection, {"slug": "acme", "at": WHEN})
        assert raised.value.connection_invalidated
        assert connection.invalidated


def test_statements_that_cannot_be_compiled_once_are_refused(engine: sa.Engine) -> None:
    expanding = DirectStatement(
        sa.select(_tenants.c.id).where(_tenants.c.slug.in_(sa.bindparam("slugs", expanding=True)))
    )
    # tenants.updated_at has an onupdate default that Core would compute per execution.
    defaulted = DirectStatement(sa.update(_tenants).values(name=sa.bindparam("name")))
    with engine.connect() as connection:
        with pytest.raises(ValueError, match="expanding"):
            expanding.all(connection, {"slugs": ["acme"]})
        with pytest.raises(ValueError, match="defaults"):
            defaulted.run(connection, {"name": "x"})
