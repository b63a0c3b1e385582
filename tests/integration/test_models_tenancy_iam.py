"""Constraints of the tenancy, IAM and projects tables and the seat view, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from saas_core.iam.models import IamScope, Permission, Role, RoleAssignment, RolePermission
from saas_core.identity.models import User
from saas_core.projects.models import Project
from saas_core.tenancy.models import (
    InvitationStatus,
    MemberType,
    Tenant,
    TenantInvitation,
    TenantMember,
    TenantStatus,
)
from saas_core.tenancy.views import create_views, drop_views, tenant_seat_summary
from tests.support.databases import TestDatabase

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_catalog(db: TestDatabase) -> None:
    """These schema tests write their own roles and permissions: start without the synced ones."""
    with db.engine.begin() as conn:
        for table in ("iam_role_permissions", "iam_roles", "iam_permissions"):
            conn.execute(text(f"DELETE FROM {table}"))


def _tenant(session: Session, slug: str) -> Tenant:
    tenant = Tenant(slug=slug, name=slug.title())
    session.add(tenant)
    session.flush()
    return tenant


def _user(session: Session, email: str) -> User:
    user = User(email=email)
    session.add(user)
    session.flush()
    return user


def _role(session: Session, key: str, tenant: Tenant | None = None) -> Role:
    role = Role(key=key, name=key.title(), tenant_id=tenant.id if tenant else None)
    session.add(role)
    session.flush()
    return role


def _member(
    session: Session, tenant: Tenant, user: User, role: Role, kind: MemberType = MemberType.MEMBER
) -> TenantMember:
    member = TenantMember(tenant_id=tenant.id, user_id=user.id, role_id=role.id, member_type=kind)
    session.add(member)
    session.flush()
    return member


def _invitation(session: Session, tenant: Tenant, role: Role, email: str, token: str) -> None:
    session.add(
        TenantInvitation(
            tenant_id=tenant.id,
            email=email,
            role_id=role.id,
            token_hash=token.ljust(64, "0"),
            expires_at=NOW + timedelta(days=7),
        )
    )
    session.flush()


def test_tenant_status_outside_the_enum_is_rejected(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        tenant = _tenant(session, "acme")
        session.commit()
        # PostgreSQL's native enum refuses the literal; SQLite's CHECK refuses the row.
        expected = DataError if db.is_postgres else IntegrityError
        with pytest.raises(expected):
            session.execute(
                text("UPDATE tenants SET status = 'deleted' WHERE id = :id"), {"id": tenant.id}
            )
        session.rollback()
        for status in TenantStatus:
            session.execute(
                text("UPDATE tenants SET status = :s WHERE id = :id"),
                {"s": status.value, "id": tenant.id},
            )


def test_seat_view_counts_members_per_tenant(db: TestDatabase) -> None:
    with db.engine.begin() as conn:
        create_views(conn)
        create_views(conn)  # idempotent
    with Session(db.engine) as session:
        acme, empty = _tenant(session, "acme"), _tenant(session, "empty")
        other = _tenant(session, "other")
        owner = _role(session, "owner")
        kinds = [MemberType.MEMBER, MemberType.MEMBER, MemberType.GUEST, MemberType.SERVICE_ACCOUNT]
        for n, kind in enumerate(kinds):
            _member(session, acme, _user(session, f"u{n}@example.com"), owner, kind)
        _member(session, other, _user(session, "o@example.com"), owner)
        session.commit()
        rows = session.execute(
            select(tenant_seat_summary).order_by(tenant_seat_summary.c.tenant_id)
        ).all()
        assert [tuple(r) for r in rows] == [
            (acme.id, 2, 1, 1),
            (empty.id, 0, 0, 0),
            (other.id, 1, 0, 0),
        ]
    with db.engine.begin() as conn:
        drop_views(conn)
        drop_views(conn)
        create_views(conn)


def test_one_membership_per_user_and_tenant(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        acme, other = _tenant(session, "acme"), _tenant(session, "other")
        user, owner = _user(session, "a@example.com"), _role(session, "owner")
        _member(session, acme, user, owner)
        _member(session, other, user, owner)
        session.commit()
        with pytest.raises(IntegrityError):
            _member(session, acme, user, owner, MemberType.GUEST)


def test_one_pending_invitation_per_address_and_tenant(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        acme, other = _tenant(session, "acme"), _tenant(session, "other")
        role = _role(session, "member")
        _invitation(session, acme, role, "x@example.com", "a")
        _invitation(session, other, role, "x@example.com", "b")
        session.commit()
        with pytest.raises(IntegrityError):
            _invitation(session, acme, role, "x@example.com", "c")
        session.rollback()

        first = session.scalars(
            select(TenantInvitation).where(TenantInvitation.tenant_id == acme.id)
        ).one()
        first.status = InvitationStatus.REVOKED
        session.flush()
        _invitation(session, acme, role, "x@example.com", "d")
        session.commit()


def test_role_keys_unique_among_shared_roles_and_within_a_tenant(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        acme, other = _tenant(session, "acme"), _tenant(session, "other")
        _role(session, "owner")
        _role(session, "owner", acme)
        _role(session, "owner", other)
        session.commit()
        with pytest.raises(IntegrityError):
            _role(session, "owner")
        session.rollback()
        with pytest.raises(IntegrityError):
            _role(session, "owner", acme)


def test_platform_roles_are_never_tenant_owned(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        acme = _tenant(session, "acme")
        session.add(Role(key="support", name="Support", scope=IamScope.PLATFORM))
        session.commit()
        session.add(Role(key="s2", name="S2", scope=IamScope.PLATFORM, tenant_id=acme.id))
        with pytest.raises(IntegrityError):
            session.flush()


def test_break_glass_assignment_needs_reason_and_expiry(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        user = _user(session, "op@example.com")
        role = Role(key="break_glass", name="Break glass", scope=IamScope.PLATFORM)
        session.add(role)
        session.flush()
        session.add(
            RoleAssignment(
                user_id=user.id,
                role_id=role.id,
                is_break_glass=True,
                reason="incident 42",
                expires_at=NOW + timedelta(hours=1),
            )
        )
        session.commit()
        session.add(RoleAssignment(user_id=user.id, role_id=role.id, is_break_glass=True))
        with pytest.raises(IntegrityError):
            session.flush()


def test_a_role_in_use_cannot_be_deleted(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        acme = _tenant(session, "acme")
        role = _role(session, "custom", acme)
        _member(session, acme, _user(session, "a@example.com"), role)
        session.commit()
        with pytest.raises(IntegrityError):
            session.execute(text("DELETE FROM iam_roles WHERE id = :id"), {"id": role.id})


def test_deleting_a_role_drops_its_permission_links(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        role = _role(session, "viewer")
        perm = Permission(key="projects:read", description="Read projects")
        session.add(perm)
        session.flush()
        session.add(RolePermission(role_id=role.id, permission_id=perm.id))
        session.commit()
        session.execute(text("DELETE FROM iam_roles WHERE id = :id"), {"id": role.id})
        assert session.scalar(select(func.count()).select_from(RolePermission)) == 0
        assert session.scalar(select(func.count()).select_from(Permission)) == 1


def test_deleting_a_tenant_removes_everything_it_owns(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        acme, other = _tenant(session, "acme"), _tenant(session, "other")
        shared = _role(session, "owner")
        custom = _role(session, "custom", acme)
        user = _user(session, "a@example.com")
        _member(session, acme, user, custom)
        _member(session, other, user, shared)
        _invitation(session, acme, custom, "x@example.com", "a")
        session.add(RoleAssignment(tenant_id=acme.id, user_id=user.id, role_id=custom.id))
        session.add(Project(tenant_id=acme.id, name="P", created_by_id=user.id))
        session.add(Project(tenant_id=other.id, name="Q", created_by_id=user.id))
        session.commit()

        session.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": acme.id})
        session.commit()
        for model in (TenantMember, Project):
            assert session.scalars(select(model.tenant_id)).all() == [other.id]
        assert session.scalars(select(TenantInvitation)).all() == []
        assert session.scalars(select(RoleAssignment)).all() == []
        assert session.scalars(select(Role.key)).all() == ["owner"]
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_deleting_a_creator_keeps_their_projects(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        acme = _tenant(session, "acme")
        user = _user(session, "a@example.com")
        project = Project(tenant_id=acme.id, name="P", created_by_id=user.id, metadata_={"k": 1})
        session.add(project)
        session.commit()
        session.delete(user)
        session.commit()
        session.refresh(project)
        assert project.created_by_id is None
        assert project.metadata_ == {"k": 1}


def test_credentials_stay_outside_tenant_rls_and_views_outside_the_metadata() -> None:
    from saas_core.db.base import metadata
    from saas_core.db.postgres import tenant_tables

    # Looked up before a tenant is bound: a column named tenant_id would put them under RLS.
    for name in ("auth_sessions", "auth_tokens", "api_keys", "login_throttles"):
        assert "tenant_id" not in metadata.tables[name].c
    assert "tenant_seat_summary" not in metadata.tables
    specs = {spec.table: spec for spec in tenant_tables(metadata)}
    assert specs["tenant_members"].self_read == "user_id"
    assert specs["iam_assignments"].self_read == "user_id"
    assert specs["iam_roles"].global_read
    assert specs["tenant_invitations"].token_read == "token_hash"
    assert {"projects", "tenant_members", "tenant_invitations"} <= specs.keys()
