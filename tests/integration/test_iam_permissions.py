"""The catalog in the database: sync, per-request loading and the documented matrix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas_core.iam import load_permissions, sync_catalog
from saas_core.iam.catalog import (
    PERMISSIONS,
    PLATFORM_PERMISSIONS,
    ROLES,
    ROLES_BY_KEY,
    RoleSpec,
)
from saas_core.iam.models import IamScope, Permission, Role, RoleAssignment, RolePermission
from saas_core.identity.models import User
from saas_core.tenancy.models import Tenant, TenantMember
from tests.support.databases import TestDatabase
from tests.unit.test_iam_catalog import parse_matrices

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "iam.md"


def _snapshot(session: Session) -> tuple[object, ...]:
    permissions = session.execute(
        select(Permission.id, Permission.key, Permission.description, Permission.scope).order_by(
            Permission.id
        )
    ).all()
    roles = session.execute(
        select(Role.id, Role.key, Role.name, Role.description, Role.scope, Role.is_system)
        .where(Role.tenant_id.is_(None))
        .order_by(Role.id)
    ).all()
    links = session.execute(
        select(RolePermission.role_id, RolePermission.permission_id).order_by(
            RolePermission.role_id, RolePermission.permission_id
        )
    ).all()
    return tuple(map(tuple, permissions)), tuple(map(tuple, roles)), tuple(map(tuple, links))


def _role_id(session: Session, key: str) -> int:
    role_id = session.scalar(select(Role.id).where(Role.tenant_id.is_(None), Role.key == key))
    assert role_id is not None
    return role_id


def _user(session: Session, email: str) -> User:
    user = User(email=email)
    session.add(user)
    session.flush()
    return user


def _tenant(session: Session, slug: str) -> Tenant:
    tenant = Tenant(slug=slug, name=slug.title())
    session.add(tenant)
    session.flush()
    return tenant


def test_sync_is_idempotent_and_repairs_drift(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        # Start from an empty catalog: an upgrade to head has already synced it.
        for table in ("iam_role_permissions", "iam_roles", "iam_permissions"):
            session.execute(sa.text(f"DELETE FROM {table}"))
        first = sync_catalog(session)
        session.commit()
        assert first.changed
        assert len(first.permissions_added) == len(PERMISSIONS)
        assert first.roles_added == [r.key for r in ROLES]
        assert len(first.links_added) == sum(len(r.permissions) for r in ROLES)
        before = _snapshot(session)

        second = sync_catalog(session)
        session.commit()
        assert not second.changed
        assert second.lines() == ["catalog already in sync"]
        assert _snapshot(session) == before

        # Drift: a stray link, a stray permission, an edited built-in role and description.
        stray = Permission(key="legacy:thing", description="gone", scope=IamScope.TENANT)
        session.add(stray)
        session.flush()
        viewer = _role_id(session, "viewer")
        write = session.scalar(select(Permission.id).where(Permission.key == "projects:write"))
        session.add_all(
            [
                RolePermission(role_id=viewer, permission_id=write),
                RolePermission(role_id=viewer, permission_id=stray.id),
            ]
        )
        session.execute(
            sa.update(Role).where(Role.id == _role_id(session, "owner")).values(name="Boss")
        )
        session.execute(
            sa.update(Permission)
            .where(Permission.key == "tenant:read")
            .values(description="edited")
        )
        session.execute(
            sa.delete(RolePermission).where(
                RolePermission.role_id == _role_id(session, "member"),
                RolePermission.permission_id == write,
            )
        )
        session.commit()

        third = sync_catalog(session)
        session.commit()
        assert third.permissions_removed == ["legacy:thing"]
        assert third.permissions_updated == ["tenant:read"]
        assert third.roles_updated == ["owner"]
        assert third.links_added == ["member:projects:write"]
        assert third.links_removed == ["viewer:projects:write"]
        assert _snapshot(session) == before
        assert not sync_catalog(session).changed


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.key)
def test_every_role_loads_exactly_the_documented_permissions(
    db: TestDatabase, role: RoleSpec
) -> None:
    documented = parse_matrices(DOCS.read_text(encoding="utf-8"))
    key = role.key
    with Session(db.engine) as session:
        sync_catalog(session)
        tenant = _tenant(session, "acme")
        user = _user(session, "a@example.com")
        spec = ROLES_BY_KEY[key]
        if spec.scope is IamScope.TENANT:
            session.add(
                TenantMember(tenant_id=tenant.id, user_id=user.id, role_id=_role_id(session, key))
            )
            role_id: int | None = _role_id(session, key)
        else:
            session.add(
                RoleAssignment(
                    user_id=user.id,
                    role_id=_role_id(session, key),
                    is_break_glass=spec.break_glass,
                    reason="incident 42" if spec.break_glass else None,
                    expires_at=NOW + timedelta(hours=1),
                )
            )
            role_id = None
        session.flush()
        tenant_perms, platform_perms = load_permissions(
            session, role_id=role_id, user_id=user.id, tenant_id=tenant.id, now=NOW
        )
    held = tenant_perms | platform_perms
    assert tenant_perms.isdisjoint(PLATFORM_PERMISSIONS)
    assert platform_perms <= PLATFORM_PERMISSIONS
    cells = documented["tenant" if spec.scope is IamScope.TENANT else "platform"]
    for permission in PERMISSIONS:
        allowed = cells.get((key, permission.key), False)
        assert (permission.key in held) is allowed, (key, permission.key)


def _custom_role(session: Session, tenant: Tenant, key: str, permissions: list[str]) -> Role:
    role = Role(tenant_id=tenant.id, key=key, name=key.title(), scope=IamScope.TENANT)
    session.add(role)
    session.flush()
    _link(session, role.id, permissions)
    return role


def _link(session: Session, role_id: int, permissions: list[str]) -> None:
    for key in permissions:
        permission_id = session.scalar(select(Permission.id).where(Permission.key == key))
        session.add(RolePermission(role_id=role_id, permission_id=permission_id))
    session.flush()


def test_a_role_change_takes_effect_on_the_next_load(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        sync_catalog(session)
        acme = _tenant(session, "acme")
        user = _user(session, "a@example.com")
        custom = _custom_role(session, acme, "reader", ["projects:read"])
        member = TenantMember(tenant_id=acme.id, user_id=user.id, role_id=custom.id)
        session.add(member)
        session.commit()

        def load() -> frozenset[str]:
            return load_permissions(
                session, role_id=member.role_id, user_id=user.id, tenant_id=acme.id, now=NOW
            )[0]

        assert load() == {"projects:read"}
        _link(session, custom.id, ["projects:write"])
        session.commit()
        assert load() == {"projects:read", "projects:write"}
        session.execute(sa.delete(RolePermission).where(RolePermission.role_id == custom.id))
        session.commit()
        assert load() == frozenset()
        member.role_id = _role_id(session, "viewer")
        session.commit()
        assert load() == ROLES_BY_KEY["viewer"].permissions


def test_only_live_platform_assignments_grant_platform_permissions(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        sync_catalog(session)
        user = _user(session, "ops@example.com")
        expiring = RoleAssignment(
            user_id=user.id,
            role_id=_role_id(session, "support"),
            expires_at=NOW + timedelta(hours=1),
        )
        revoked = RoleAssignment(
            user_id=user.id, role_id=_role_id(session, "platform_admin"), revoked_at=NOW
        )
        other = _user(session, "someone@example.com")
        others = RoleAssignment(
            user_id=other.id,
            role_id=_role_id(session, "break_glass"),
            is_break_glass=True,
            reason="r",
            expires_at=NOW + timedelta(hours=1),
        )
        session.add_all([expiring, revoked, others])
        session.commit()

        def platform(at: datetime) -> frozenset[str]:
            return load_permissions(session, role_id=None, user_id=user.id, tenant_id=None, now=at)[
                1
            ]

        support = ROLES_BY_KEY["support"].permissions
        assert platform(NOW) == support
        assert platform(NOW + timedelta(minutes=59, seconds=59)) == support
        assert platform(NOW + timedelta(hours=1)) == frozenset()  # expiry is exclusive
        expiring.revoked_at = NOW
        session.commit()
        assert platform(NOW) == frozenset()
        assert load_permissions(session, role_id=None, user_id=None, tenant_id=None, now=NOW) == (
            frozenset(),
            frozenset(),
        )


def test_tenant_grants_apply_only_in_their_own_tenant(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        sync_catalog(session)
        acme, other = _tenant(session, "acme"), _tenant(session, "other")
        user = _user(session, "a@example.com")
        viewer = _role_id(session, "viewer")
        foreign = _custom_role(session, other, "foreign", ["projects:write", "billing:manage"])
        session.add_all(
            [
                TenantMember(tenant_id=acme.id, user_id=user.id, role_id=viewer),
                RoleAssignment(
                    tenant_id=acme.id, user_id=user.id, role_id=_role_id(session, "billing")
                ),
                RoleAssignment(
                    tenant_id=other.id, user_id=user.id, role_id=_role_id(session, "owner")
                ),
                # Pointing a grant in acme at another tenant's custom role gives nothing.
                RoleAssignment(tenant_id=acme.id, user_id=user.id, role_id=foreign.id),
                # A tenant role granted as if it were platform-wide gives nothing either.
                RoleAssignment(user_id=user.id, role_id=_role_id(session, "owner")),
            ]
        )
        session.commit()
        in_acme, platform = load_permissions(
            session, role_id=viewer, user_id=user.id, tenant_id=acme.id, now=NOW
        )
        assert in_acme == ROLES_BY_KEY["viewer"].permissions | ROLES_BY_KEY["billing"].permissions
        assert platform == frozenset()
        # A membership whose role is another tenant's custom role grants nothing.
        assert load_permissions(
            session, role_id=foreign.id, user_id=None, tenant_id=acme.id, now=NOW
        ) == (frozenset(), frozenset())


def test_loading_permissions_is_one_query(db: TestDatabase) -> None:
    statements: list[str] = []
    with Session(db.engine) as session:
        sync_catalog(session)
        acme = _tenant(session, "acme")
        user = _user(session, "a@example.com")
        session.add(RoleAssignment(user_id=user.id, role_id=_role_id(session, "support")))
        owner = _role_id(session, "owner")
        session.commit()
        user_id, tenant_id = user.id, acme.id

        def count(conn: object, cursor: object, statement: str, *args: object) -> None:
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            tenant_perms, platform_perms = load_permissions(
                session, role_id=owner, user_id=user_id, tenant_id=tenant_id, now=NOW
            )
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
    assert tenant_perms == ROLES_BY_KEY["owner"].permissions
    assert platform_perms == ROLES_BY_KEY["support"].permissions
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


@pytest.mark.postgres_only
def test_loading_under_row_level_security(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        sync_catalog(session)
        acme, other = _tenant(session, "acme"), _tenant(session, "other")
        user = _user(session, "a@example.com")
        custom = _custom_role(session, acme, "writer", ["projects:write"])
        _custom_role(session, other, "writer", ["billing:manage"])
        session.add_all(
            [
                TenantMember(tenant_id=acme.id, user_id=user.id, role_id=custom.id),
                RoleAssignment(user_id=user.id, role_id=_role_id(session, "support")),
            ]
        )
        session.commit()
        ids = (custom.id, user.id, acme.id)
    role_id, user_id, tenant_id = ids
    with Session(db.app_engine) as session:
        bind = "SELECT set_config(:k, :v, true)"
        session.execute(sa.text(bind), {"k": "app.tenant_id", "v": str(tenant_id)})
        session.execute(sa.text(bind), {"k": "app.user_id", "v": str(user_id)})
        got = load_permissions(
            session, role_id=role_id, user_id=user_id, tenant_id=tenant_id, now=NOW
        )
        assert got == (frozenset({"projects:write"}), ROLES_BY_KEY["support"].permissions)
    with Session(db.app_engine) as session:
        # Nothing bound: no custom role, no assignment is visible.
        assert load_permissions(
            session, role_id=role_id, user_id=user_id, tenant_id=tenant_id, now=NOW
        ) == (frozenset(), frozenset())
