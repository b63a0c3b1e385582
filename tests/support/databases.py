"""Scratch databases for the test suite.

SQLite: the schema is built once per test session into a template file; every test gets a copy.
PostgreSQL: one scratch database and one non-owner ``NOBYPASSRLS`` login role per test session,
both uniquely named and dropped at the end; tables are truncated after every test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from saas_core.db.postgres import grant_app_role
from saas_core.db.session import create_engine

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> URL:
    """The PostgreSQL URL tests use to create scratch databases and roles."""
    url = make_url(os.environ.get("SAAS_CORE_TEST_DATABASE_URL", DEFAULT_ADMIN_URL))
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def postgres_reachable() -> str | None:
    """``None`` when PostgreSQL answers, else the reason it does not."""
    engine = sa.create_engine(admin_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        engine.dispose()
    return None


@dataclass
class TestDatabase:
    """A database the tests may use: ``engine`` is the schema owner's connection."""

    __test__ = False  # not a test class

    dialect: str
    url: URL
    engine: Engine
    #: PostgreSQL only: a login role that owns nothing and has NOBYPASSRLS.
    app_role: str | None = None
    app_url: URL | None = None
    _app_engine: Engine | None = field(default=None, repr=False)

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL."""
        return self.dialect == "postgresql"

    @property
    def app_engine(self) -> Engine:
        """Engine connected as the non-owner application role (PostgreSQL only)."""
        if self.app_url is None:
            raise RuntimeError("no application role on this database")
        if self._app_engine is None:
            self._app_engine = create_engine(self.app_url)
        return self._app_engine

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._app_engine is not None:
            self._app_engine.dispose()


def build_schema(url: URL | str) -> None:
    """Create the saas-core schema at ``url`` the way users do: by running the migrations."""
    from saas_core import migrations

    migrations.upgrade(url if isinstance(url, str) else url.render_as_string(False))


@contextmanager
def empty_postgres_database() -> Iterator[str]:
    """A new, empty, uniquely named PostgreSQL database (its URL), dropped afterwards."""
    name = f"saas_core_empty_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url().set(database=name).render_as_string(False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


class SqliteTemplate:
    """Migrates once into a template file; hands out copies."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template = directory / "template.sqlite3"
        build_schema(f"sqlite:///{self.template}")

    @contextmanager
    def database(self) -> Iterator[TestDatabase]:
        """A fresh copy of the migrated template."""
        path = self.directory / f"db-{uuid.uuid4().hex}.sqlite3"
        shutil.copyfile(self.template, path)
        url = make_url(f"sqlite:///{path}")
        db = TestDatabase(dialect="sqlite", url=url, engine=create_engine(url))
        try:
            yield db
        finally:
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


class PostgresScratch:
    """One scratch database and one application role for a test session."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:12]
        self.name = f"saas_core_test_{suffix}"
        self.app_role = f"saas_core_app_{suffix}"
        self.admin = sa.create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            conn.exec_driver_sql(
                f'CREATE ROLE "{self.app_role}" LOGIN NOSUPERUSER NOBYPASSRLS'
                " NOCREATEDB NOCREATEROLE"
            )
        self.url = admin_url().set(database=self.name)
        self.app_url = self.url.set(username=self.app_role, password=None)
        build_schema(self.url.render_as_string(False))
        self.engine = create_engine(self.url)
        with self.engine.begin() as conn:
            grant_app_role(conn, self.app_role)
        self.db = TestDatabase(
            dialect="postgresql",
            url=self.url,
            engine=self.engine,
            app_role=self.app_role,
            app_url=self.app_url,
        )
        with self.engine.connect() as conn:
            self._tables = [
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT quote_ident(tablename) FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'saas_core_alembic_version'"
                    " AND NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c"
                    " ON c.oid = i.inhrelid WHERE c.relname = tablename)"
                )
            ]

    def truncate(self) -> None:
        """Empty every table (keeps the schema and its partitions), then re-sync the catalog.

        Every upgrade to head writes the permission catalog and the built-in roles, so a fresh
        test database has them; truncation must leave that same state behind.
        """
        from sqlalchemy.orm import Session

        from saas_core.iam.sync import sync_catalog

        with self.engine.begin() as conn:
            if self._tables:
                conn.exec_driver_sql(f"TRUNCATE {', '.join(self._tables)} RESTART IDENTITY CASCADE")
            with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                sync_catalog(session)
                session.commit()  # release the savepoint; closing would roll the sync back

    def drop(self) -> None:
        """Drop the scratch database and the role."""
        self.db.dispose()
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{self.app_role}"')
        self.admin.dispose()


def read_everything(db: TestDatabase, statement: sa.Select[Any]) -> list[sa.Row[Any]]:
    """Rows of ``statement`` across every tenant, read as the schema owner.

    Row Level Security is forced on the owner too, so on PostgreSQL the read runs inside the
    explicit platform scope.
    """
    with db.engine.connect() as connection, connection.begin():
        if db.is_postgres:
            connection.execute(sa.text("SELECT set_config('app.platform_scope', 'on', true)"))
        return list(connection.execute(statement).all())
