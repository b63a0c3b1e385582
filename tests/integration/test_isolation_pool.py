"""A pool of one connection alternating tenants never carries a tenant into the next transaction.

PostgreSQL only, as the application role (Row Level Security in force). The ORM filter is
switched off for the reads, so what is shown is what the database itself lets through.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas_core.db.session import create_engine, session_factory
from saas_core.db.tenant import bind_tenant, orm_filter_disabled
from saas_core.projects.models import Project
from saas_core.tenancy.models import Tenant
from tests.support.databases import TestDatabase

pytestmark = pytest.mark.postgres_only

ROUNDS = 60


def _seed(db: TestDatabase) -> tuple[int, int]:
    with Session(db.engine) as session, session.begin():
        a, b = Tenant(slug="pool-a", name="A"), Tenant(slug="pool-b", name="B")
        session.add_all([a, b])
        session.flush()
        for tenant in (a, b):
            session.add_all(
                Project(tenant_id=tenant.id, name=f"{tenant.name}{n}") for n in range(3)
            )
        return a.id, b.id


def test_one_pooled_connection_alternating_tenants(db: TestDatabase) -> None:
    a, b = _seed(db)
    assert db.app_url is not None
    engine = create_engine(db.app_url, pool_size=1, max_overflow=0)
    sessions = session_factory(engine)
    expected = {a: ["A0", "A1", "A2"], b: ["B0", "B1", "B2"]}
    backends: set[int] = set()
    try:
        for n in range(ROUNDS):
            tenant = (a, b)[n % 2]
            with sessions() as session:
                bind_tenant(session, tenant)
                with orm_filter_disabled(session):
                    names = sorted(session.scalars(select(Project.name)))
                raw = sorted(session.scalars(sa.text("SELECT name FROM projects")))
                assert session.scalar(sa.text("SELECT current_setting('app.tenant_id')")) == str(
                    tenant
                )
                backends.add(session.scalar(sa.text("SELECT pg_backend_pid()")) or 0)
                if n % 3 == 2:
                    session.rollback()
                else:
                    session.commit()
            assert names == expected[tenant]
            assert raw == expected[tenant]
            # The same (only) pooled connection, after the commit: no tenant left behind.
            with engine.connect() as conn:
                leftover = conn.scalar(sa.text("SELECT current_setting('app.tenant_id', true)"))
                assert leftover in ("", None)
                assert conn.scalar(sa.text("SELECT count(*) FROM projects")) == 0
                backends.add(conn.scalar(sa.text("SELECT pg_backend_pid()")) or 0)
        assert len(backends) == 1  # really one connection throughout
    finally:
        engine.dispose()


def test_binding_survives_commit_within_one_session(db: TestDatabase) -> None:
    a, _b = _seed(db)
    assert db.app_url is not None
    engine = create_engine(db.app_url, pool_size=1, max_overflow=0)
    try:
        with session_factory(engine)() as session:
            bind_tenant(session, a)
            for _ in range(3):
                assert len(session.scalars(sa.text("SELECT id FROM projects")).all()) == 3
                session.commit()  # the next transaction re-applies the session's binding
    finally:
        engine.dispose()
