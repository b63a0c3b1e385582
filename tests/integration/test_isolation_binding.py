"""Tenant binding: the automatic ORM filter, PostgreSQL's transaction-local settings, the
start-up role check. Runs as the application role on PostgreSQL (Row Level Security in force).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, aliased

from saas_core.config import Settings
from saas_core.db.session import session_factory
from saas_core.db.tenant import (
    bind_tenant,
    check_database_role,
    clear_binding,
    invitation_token_scope,
    platform_scope,
    tenant_scope,
)
from saas_core.errors import ConfigurationError, CrossTenantWrite
from saas_core.iam.models import IamScope, Role
from saas_core.identity.models import User
from saas_core.projects.models import Project
from saas_core.tenancy.models import Tenant, TenantInvitation, TenantMember
from tests.support.databases import TestDatabase
from tests.support.tenancy import app_engine, sync_roles


@dataclass
class Seed:
    a: int
    b: int
    ada: int
    bob: int


@pytest.fixture
def seed(db: TestDatabase) -> Seed:
    """Tenants A and B with two projects each, Ada in A and Bob in B (written by the owner)."""
    sync_roles(db)
    from datetime import UTC, datetime, timedelta

    with Session(db.engine) as session, session.begin():
        if db.is_postgres:
            session.execute(sa.text("SELECT set_config('app.platform_scope', 'on', true)"))
        a, b = Tenant(slug="tenant-a", name="A"), Tenant(slug="tenant-b", name="B")
        ada, bob = User(email="ada@example.com"), User(email="bob@example.com")
        session.add_all([a, b, ada, bob])
        session.flush()
        member = session.scalar(select(Role.id).where(Role.key == "member"))
        assert member is not None
        for tenant, user in ((a, ada), (b, bob)):
            session.add(TenantMember(tenant_id=tenant.id, user_id=user.id, role_id=member))
            for n in range(2):
                session.add(Project(tenant_id=tenant.id, name=f"{tenant.name}-{n}"))
        session.add(
            TenantInvitation(
                tenant_id=a.id,
                email="carol@example.com",
                role_id=member,
                token_hash="a" * 64,
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
        return Seed(a.id, b.id, ada.id, bob.id)


def _names(session: Session) -> list[str]:
    return sorted(session.scalars(select(Project.name)))


def test_nothing_bound_sees_no_tenant_rows(db: TestDatabase, seed: Seed) -> None:
    with session_factory(app_engine(db))() as session:
        assert _names(session) == []
        assert session.scalar(select(func.count()).select_from(Project)) == 0
        assert session.scalars(select(TenantMember)).all() == []
        # Shared rows stay visible: the built-in roles (global_read).
        assert session.scalar(select(Role.id).where(Role.key == "owner")) is not None


def test_bound_tenant_sees_its_rows_only_in_every_statement_shape(
    db: TestDatabase, seed: Seed
) -> None:
    with session_factory(app_engine(db))() as session:
        bind_tenant(session, seed.a)
        assert _names(session) == ["A-0", "A-1"]
        p2 = aliased(Project)
        assert sorted(session.scalars(select(p2.name))) == ["A-0", "A-1"]
        joined = session.scalars(
            select(Tenant.slug).join(Project, Project.tenant_id == Tenant.id).distinct()
        ).all()
        assert joined == ["tenant-a"]
        sub = select(Project.tenant_id).scalar_subquery()
        assert session.scalars(select(Tenant.slug).where(Tenant.id.in_(sub))).all() == ["tenant-a"]
        assert session.scalar(select(func.count(Project.id))) == 2
        assert session.scalars(select(Project).where(Project.tenant_id == seed.b)).all() == []
        bind_tenant(session, seed.b)  # rebinding in the same transaction applies at once
        assert _names(session) == ["B-0", "B-1"]


def test_orm_update_and_delete_are_filtered(db: TestDatabase, seed: Seed) -> None:
    with session_factory(app_engine(db))() as session, session.begin():
        bind_tenant(session, seed.a)
        session.execute(update(Project).values(name="renamed"))
        session.execute(delete(Project).where(Project.name == "B-0"))
    with session_factory(app_engine(db))() as session, platform_scope(session, reason="test"):
        assert _names(session) == ["B-0", "B-1", "renamed", "renamed"]


def test_platform_scope_is_explicit_and_scoped(db: TestDatabase, seed: Seed) -> None:
    with session_factory(app_engine(db))() as session:
        bind_tenant(session, seed.a)
        with platform_scope(session, reason="support look-up"):
            assert len(_names(session)) == 4
        assert _names(session) == ["A-0", "A-1"]


def test_own_memberships_are_readable_before_a_tenant_is_bound(
    db: TestDatabase, seed: Seed
) -> None:
    with session_factory(app_engine(db))() as session:
        bind_tenant(session, None, user_id=seed.ada)
        rows = session.scalars(select(TenantMember.tenant_id)).all()
        assert rows == [seed.a]
        assert _names(session) == []


def test_an_invitation_is_readable_with_its_token_hash_only(db: TestDatabase, seed: Seed) -> None:
    with session_factory(app_engine(db))() as session:
        bind_tenant(session, seed.b, user_id=seed.bob)
        assert session.scalars(select(TenantInvitation)).all() == []
        with invitation_token_scope(session, "b" * 64):
            assert session.scalars(select(TenantInvitation)).all() == []
        with invitation_token_scope(session, "a" * 64):
            (found,) = session.scalars(select(TenantInvitation)).all()
            assert found.email == "carol@example.com"
        assert session.scalars(select(TenantInvitation)).all() == []


def test_writing_another_tenants_row_is_refused(db: TestDatabase, seed: Seed) -> None:
    with session_factory(app_engine(db))() as session, session.begin():
        bind_tenant(session, seed.a)
        session.add(Project(tenant_id=seed.b, name="smuggled"))
        with pytest.raises(CrossTenantWrite):
            session.flush()
        session.rollback()
    with session_factory(app_engine(db))() as session, session.begin():
        bind_tenant(session, seed.a)
        with tenant_scope(session, seed.b):
            session.add(Project(tenant_id=seed.b, name="B-2"))
            session.flush()
        assert _names(session) == ["A-0", "A-1"]


@pytest.mark.postgres_only
def test_settings_are_transaction_local(db: TestDatabase, seed: Seed) -> None:
    def setting(session: Session, name: str) -> str | None:
        return session.scalar(sa.text(f"SELECT current_setting('app.{name}', true)"))

    with session_factory(db.app_engine)() as session:
        bind_tenant(session, seed.a, user_id=seed.ada)
        assert setting(session, "tenant_id") == str(seed.a)
        assert setting(session, "user_id") == str(seed.ada)
        with platform_scope(session):
            assert setting(session, "platform_scope") == "on"
        assert setting(session, "platform_scope") == ""
        session.commit()
        # The next transaction re-applies the binding...
        assert setting(session, "tenant_id") == str(seed.a)
        session.commit()
        clear_binding(session)
        # ...and with nothing bound, nothing is left over on the pooled connection.
        assert setting(session, "tenant_id") in ("", None)
        assert _names(session) == []
        # Rows with no tenant setting are invisible to Row Level Security itself.
        assert session.scalar(sa.text("SELECT count(*) FROM projects")) == 0


@pytest.mark.postgres_only
def test_startup_check_refuses_privileged_roles(db: TestDatabase) -> None:
    # The suite's schema owner is a superuser: refused, with a one-line reason.
    with pytest.raises(ConfigurationError) as refused:
        check_database_role(db.engine, Settings())
    assert "superuser" in str(refused.value)
    assert "\n" not in str(refused.value)
    allowed = check_database_role(db.engine, Settings(allow_privileged_database_role=True))
    assert any("superuser" in problem for problem in allowed)
    # The application role (owns nothing, NOBYPASSRLS) passes.
    assert check_database_role(db.app_engine, Settings()) == []


@pytest.mark.sqlite_only
def test_startup_check_has_nothing_to_check_on_sqlite(db: TestDatabase) -> None:
    assert check_database_role(db.engine, Settings()) == []


def test_shared_roles_are_not_tenant_rows(db: TestDatabase, seed: Seed) -> None:
    with session_factory(app_engine(db))() as session:
        bind_tenant(session, seed.a)
        scopes = set(session.scalars(select(Role.scope).where(Role.tenant_id.is_(None))))
        assert scopes == {IamScope.TENANT, IamScope.PLATFORM}
