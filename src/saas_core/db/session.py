"""Engines and sessions.

:func:`create_engine` applies the settings saas-core relies on for each database:

* SQLite: foreign keys enforced, WAL journal, a busy timeout, and ``BEGIN IMMEDIATE`` for write
  transactions so two writers queue instead of failing half-way.
* PostgreSQL: psycopg 3, UTC session time zone, pool pre-ping.

Tenant binding (the automatic ORM filter and PostgreSQL's ``app.tenant_id``) lives in
:mod:`saas_core.db.tenant`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from saas_core.clock import Clock
from saas_core.errors import ConfigurationError, missing_dependency


def parse_database_url(url: str | URL) -> URL:
    """Parse ``url`` and normalise the driver (``postgresql://`` means psycopg 3).

    Raises :class:`~saas_core.errors.ConfigurationError` with a one-line reason when the URL is
    malformed or names a database saas-core does not support.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise ConfigurationError(f"malformed database URL: {_redact(str(url))}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.drivername != "postgresql+psycopg":
            raise ConfigurationError(
                f"unsupported PostgreSQL driver {parsed.drivername!r}; use postgresql+psycopg://"
            )
    elif backend != "sqlite":
        raise ConfigurationError(
            f"unsupported database {backend!r}: saas-core runs on PostgreSQL and SQLite"
        )
    return parsed


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an :class:`~sqlalchemy.engine.Engine` configured for saas-core."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("options", "-c timezone=UTC")
    try:
        return sa.create_engine(parsed, connect_args=connect_args, **kwargs)
    except (ModuleNotFoundError, NoSuchModuleError):
        raise missing_dependency("psycopg", "postgres") from None


def _create_sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", 30)
    # Let SQLAlchemy's events (below) own BEGIN so we can make write transactions IMMEDIATE.
    connect_args["isolation_level"] = None
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers wait (busy_timeout)
        # instead of failing with "database is locked" when a read transaction upgrades.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine, clock: Clock | None = None) -> sessionmaker[Session]:
    """A ``sessionmaker`` bound to ``engine`` that keeps objects usable after commit.

    Its sessions are :class:`~saas_core.db.tenant.TenantSession`: filtered by the bound tenant.
    With a ``clock``, rows changed in a flush get ``updated_at`` from that clock (see
    :func:`_stamp_updated_at`), so the application's clock, not the wall clock, dates changes.
    """
    from saas_core.db.tenant import TenantSession

    info = {_CLOCK_KEY: clock} if clock is not None else {}
    return sessionmaker(
        bind=engine, class_=TenantSession, expire_on_commit=False, autoflush=True, info=info
    )


_CLOCK_KEY = "saas_core.clock"


@event.listens_for(Session, "before_flush")
def _stamp_updated_at(session: Session, _context: Any, _instances: Any) -> None:
    """Date every modified row with ``updated_at`` from the session's clock, when it has one.

    The column's own ``onupdate`` falls back to the wall clock, which a service running on
    another clock (a fake one in tests, a replayed one in jobs) would contradict.
    """
    clock = session.info.get(_CLOCK_KEY)
    if clock is None:
        return
    from saas_core.db.mixins import TimestampMixin

    now = clock.now()
    for instance in session.dirty:
        if isinstance(instance, TimestampMixin) and session.is_modified(
            instance, include_collections=False
        ):
            instance.updated_at = now
            # Even when ``now`` equals the stored value: an unchanged attribute is left out of
            # the UPDATE, and the column's wall-clock ``onupdate`` would fill it in instead.
            flag_modified(instance, "updated_at")
