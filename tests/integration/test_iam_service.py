"""IamService on both databases: custom roles, immutable built-ins, assignments, break-glass."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEvent, Severity
from saas_core.clock import FakeClock
from saas_core.config import Settings
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.errors import (
    AssignmentNotFound,
    BreakGlassTermsInvalid,
    MemberNotFound,
    PermissionDenied,
    RoleKeyTaken,
    RoleNotFound,
    SystemRoleImmutable,
    TenantRequired,
    UnknownPermission,
    UserNotFound,
    ValidationFailed,
)
from saas_core.iam import IamService, can, load_permissions, sync_catalog
from saas_core.iam.catalog import PERMISSIONS, ROLES_BY_KEY, TENANT_ROLE_KEYS
from saas_core.iam.models import IamScope, Role, RoleAssignment
from saas_core.iam.schemas import AssignmentCreate, RoleCreate, RoleUpdate
from saas_core.identity.models import User
from saas_core.tenancy.models import Tenant, TenantMember
from tests.support.databases import TestDatabase

START = datetime(2026, 3, 1, 12, tzinfo=UTC)


@dataclass
class World:
    """Two tenants with members, and a platform operator, over a synced catalog."""

    session: Session
    clock: FakeClock
    iam: IamService
    acme: Tenant
    other: Tenant
    users: dict[str, User]

    def role(self, key: str, tenant: Tenant | None = None) -> Role:
        owner = Role.tenant_id.is_(None) if tenant is None else Role.tenant_id == tenant.id
        found = self.session.scalar(select(Role).where(Role.key == key, owner))
        assert found is not None
        return found

    def join(self, name: str, tenant: Tenant, role: str) -> None:
        member = TenantMember(
            tenant_id=tenant.id, user_id=self.users[name].id, role_id=self.role(role).id
        )
        self.session.add(member)
        self.session.flush()

    def ctx(self, name: str, tenant: Tenant | None = None) -> RequestContext:
        """The context the request pipeline would build for ``name`` in ``tenant`` right now."""
        user = self.users[name]
        role_id = None
        if tenant is not None:
            role_id = self.session.scalar(
                select(TenantMember.role_id).where(
                    TenantMember.tenant_id == tenant.id, TenantMember.user_id == user.id
                )
            )
        perms, platform = load_permissions(
            self.session,
            role_id=role_id,
            user_id=user.id,
            tenant_id=tenant.id if tenant else None,
            now=self.clock.now(),
        )
        return RequestContext(
            auth_method=AuthMethod.SESSION,
            user=UserRef(id=user.id, public_id=user.public_id, email=user.email),
            tenant=(
                TenantRef(
                    id=tenant.id, public_id=tenant.public_id, slug=tenant.slug, status="active"
                )
                if tenant
                else None
            ),
            permissions=perms,
            platform_permissions=platform,
            request_id=uuid.uuid4().hex,
        )

    def events(self, event_type: str) -> list[SecurityEvent]:
        return list(
            self.session.scalars(
                select(SecurityEvent)
                .where(SecurityEvent.event_type == event_type)
                .order_by(SecurityEvent.occurred_at, SecurityEvent.id)
            )
        )


@pytest.fixture
def world(db: TestDatabase) -> Iterator[World]:
    session = Session(db.engine)
    clock = FakeClock(START)
    sync_catalog(session)
    acme = Tenant(slug="acme", name="Acme")
    other = Tenant(slug="other", name="Other")
    session.add_all([acme, other])
    users = {n: User(email=f"{n}@example.com") for n in ("owner", "admin", "viewer", "ops", "eve")}
    session.add_all(users.values())
    session.flush()
    w = World(session, clock, IamService(Settings(), clock), acme, other, users)
    w.join("owner", acme, "owner")
    w.join("admin", acme, "admin")
    w.join("viewer", acme, "viewer")
    w.join("eve", other, "owner")
    session.add(RoleAssignment(user_id=users["ops"].id, role_id=w.role("platform_admin").id))
    session.commit()
    try:
        yield w
    finally:
        session.close()


def test_tenant_sees_built_in_roles_and_only_its_own_custom_roles(world: World) -> None:
    w = world
    w.iam.create_role(w.session, w.ctx("eve", w.other), RoleCreate(key="secret", name="Secret"))
    w.iam.create_role(
        w.session,
        w.ctx("owner", w.acme),
        RoleCreate(key="editor", name="Editor", permissions=["projects:read", "projects:write"]),
    )
    w.session.commit()
    roles = w.iam.list_roles(w.session, w.ctx("admin", w.acme))
    assert [r.key for r in roles] == [*TENANT_ROLE_KEYS, "editor"]
    assert all(r.system for r in roles[:-1])
    assert not roles[-1].system
    assert roles[-1].permissions == ["projects:read", "projects:write"]
    assert roles[0].permissions == sorted(ROLES_BY_KEY["owner"].permissions)
    with pytest.raises(PermissionDenied):
        w.iam.list_roles(w.session, w.ctx("viewer", w.acme))  # no roles:read
    platform_view = w.iam.list_roles(w.session, w.ctx("ops"))
    assert {r.key for r in platform_view} == set(ROLES_BY_KEY)  # no tenant's custom roles


def test_custom_role_crud_and_validation(world: World) -> None:
    w = world
    owner = w.ctx("owner", w.acme)
    created = w.iam.create_role(
        w.session, owner, RoleCreate(key="auditor", name="Auditor", permissions=["audit:read"])
    )
    assert created.scope is IamScope.TENANT
    assert not created.system
    assert w.iam.get_role(w.session, owner, created.id) == created
    with pytest.raises(RoleKeyTaken):
        w.iam.create_role(w.session, owner, RoleCreate(key="auditor", name="Again"))
    with pytest.raises(RoleKeyTaken):
        w.iam.create_role(w.session, owner, RoleCreate(key="owner", name="Fake owner"))
    with pytest.raises(UnknownPermission):
        w.iam.create_role(w.session, owner, RoleCreate(key="x1", name="X", permissions=["nope"]))
    with pytest.raises(UnknownPermission):
        w.iam.create_role(
            w.session, owner, RoleCreate(key="x2", name="X", permissions=["platform:impersonate"])
        )
    # The same key in another tenant is fine.
    w.iam.create_role(w.session, w.ctx("eve", w.other), RoleCreate(key="auditor", name="A"))

    w.clock.advance(minutes=5)
    updated = w.iam.update_role(
        w.session,
        owner,
        created.id,
        RoleUpdate(name="Auditors", permissions=["audit:read", "security:read"]),
    )
    assert updated.name == "Auditors"
    assert updated.description == ""
    assert updated.permissions == ["audit:read", "security:read"]
    assert updated.updated_at == w.clock.now()
    again = w.iam.update_role(w.session, owner, created.id, RoleUpdate(description="Reads logs"))
    assert again.permissions == updated.permissions
    assert again.description == "Reads logs"
    w.session.commit()
    changes = [e for e in w.events("role_changed") if e.tenant_id == w.acme.id]
    assert len(changes) == 2  # creation, permission change; the description edit is no event
    assert changes[1].metadata_["added"] == ["security:read"]
    assert changes[1].tenant_id == w.acme.id
    with pytest.raises(TenantRequired):
        w.iam.create_role(w.session, w.ctx("ops"), RoleCreate(key="nowhere", name="N"))


def test_no_privilege_escalation_through_custom_roles(world: World) -> None:
    w = world
    admin = w.ctx("admin", w.acme)
    with pytest.raises(PermissionDenied) as raised:
        w.iam.create_role(
            w.session, admin, RoleCreate(key="payer", name="P", permissions=["billing:manage"])
        )
    assert raised.value.extra["permission"] == "billing:manage"
    role = w.iam.create_role(
        w.session,
        w.ctx("owner", w.acme),
        RoleCreate(key="payer", name="P", permissions=["billing:manage"]),
    )
    # The admin may rename it and keep what it has, but not add more of what they lack.
    w.iam.update_role(w.session, admin, role.id, RoleUpdate(name="Payers"))
    with pytest.raises(PermissionDenied):
        w.iam.update_role(
            w.session, admin, role.id, RoleUpdate(permissions=["billing:manage", "credits:adjust"])
        )
    with pytest.raises(PermissionDenied):
        w.iam.create_role(w.session, w.ctx("viewer", w.acme), RoleCreate(key="vv", name="V"))


def test_built_in_roles_are_immutable(world: World) -> None:
    w = world
    owner = w.ctx("owner", w.acme)
    for key in TENANT_ROLE_KEYS:
        with pytest.raises(SystemRoleImmutable):
            w.iam.update_role(w.session, owner, w.role(key).public_id, RoleUpdate(name="Mine"))
    with pytest.raises(SystemRoleImmutable):
        w.iam.update_role(
            w.session, w.ctx("ops"), w.role("break_glass").public_id, RoleUpdate(name="x")
        )
    assert w.role("owner").name == ROLES_BY_KEY["owner"].name


def test_another_tenants_role_is_not_found(world: World) -> None:
    w = world
    theirs = w.iam.create_role(w.session, w.ctx("eve", w.other), RoleCreate(key="tt", name="T"))
    owner = w.ctx("owner", w.acme)
    with pytest.raises(RoleNotFound):
        w.iam.get_role(w.session, owner, theirs.id)
    with pytest.raises(RoleNotFound):
        w.iam.update_role(w.session, owner, theirs.id, RoleUpdate(name="Mine"))
    with pytest.raises(RoleNotFound):
        w.iam.get_role(w.session, owner, uuid.uuid4())
    with pytest.raises(RoleNotFound):  # platform roles are invisible to tenant callers
        w.iam.get_role(w.session, owner, w.role("break_glass").public_id)
    with pytest.raises(RoleNotFound):
        w.iam.create_assignment(
            w.session,
            owner,
            AssignmentCreate(user_id=w.users["admin"].public_id, role_id=theirs.id),
        )


def test_a_role_edit_reaches_holders_on_their_next_request(world: World) -> None:
    w = world
    owner = w.ctx("owner", w.acme)
    role = w.iam.create_role(
        w.session, owner, RoleCreate(key="editor", name="E", permissions=["projects:read"])
    )
    member = w.session.scalar(
        select(TenantMember).where(TenantMember.user_id == w.users["viewer"].id)
    )
    assert member is not None
    member.role_id = w.session.scalar(select(Role.id).where(Role.public_id == role.id)) or 0
    w.session.commit()
    before = w.ctx("viewer", w.acme)
    assert not can(before, "projects:write")
    w.iam.update_role(
        w.session, owner, role.id, RoleUpdate(permissions=["projects:read", "projects:write"])
    )
    w.session.commit()
    assert not can(before, "projects:write")  # a built context is frozen...
    assert can(w.ctx("viewer", w.acme), "projects:write")  # ...the next request sees the change


def test_break_glass_needs_reason_and_bounded_expiry(world: World) -> None:
    w = world
    ops = w.ctx("ops")
    target = w.users["eve"].public_id
    glass = w.role("break_glass").public_id
    now = w.clock.now()
    for bad in (
        AssignmentCreate(user_id=target, role_id=glass, expires_at=now + timedelta(hours=1)),
        AssignmentCreate(
            user_id=target, role_id=glass, expires_at=now + timedelta(hours=1), reason="  "
        ),
        AssignmentCreate(user_id=target, role_id=glass, reason="incident 7"),
        AssignmentCreate(
            user_id=target,
            role_id=glass,
            reason="incident 7",
            expires_at=now + timedelta(hours=4, seconds=1),
        ),
    ):
        with pytest.raises(BreakGlassTermsInvalid):
            w.iam.create_assignment(w.session, ops, bad)
    with pytest.raises(ValidationFailed):
        w.iam.create_assignment(
            w.session, ops, AssignmentCreate(user_id=target, role_id=glass, expires_at=now)
        )
    granted = w.iam.create_assignment(
        w.session,
        ops,
        AssignmentCreate(
            user_id=target, role_id=glass, reason="incident 7", expires_at=now + timedelta(hours=4)
        ),
    )
    w.session.commit()
    assert granted.break_glass
    assert granted.reason == "incident 7"
    (event,) = w.events("break_glass_granted")
    assert event.severity is Severity.HIGH
    assert event.user_id == w.users["eve"].id
    assert event.metadata_["actor_user_id"] == w.users["ops"].id
    assert event.metadata_["assignment_id"] == str(granted.id)
    assert "reason" not in event.metadata_

    assert can(w.ctx("eve"), "platform:impersonate")
    w.clock.advance(hours=4)
    assert not can(w.ctx("eve"), "platform:impersonate")  # expired: gone on the next request


def test_platform_grants_need_platform_iam_and_revocation_is_immediate(world: World) -> None:
    w = world
    support = w.role("support").public_id
    request = AssignmentCreate(user_id=w.users["admin"].public_id, role_id=support)
    with pytest.raises(RoleNotFound):  # tenant owners cannot even see platform roles
        w.iam.create_assignment(w.session, w.ctx("owner", w.acme), request)
    with pytest.raises(UserNotFound):
        w.iam.create_assignment(
            w.session, w.ctx("ops"), AssignmentCreate(user_id=uuid.uuid4(), role_id=support)
        )
    granted = w.iam.create_assignment(w.session, w.ctx("ops"), request)
    w.session.commit()
    assert not granted.break_glass
    assert granted.scope is IamScope.PLATFORM
    assert can(w.ctx("admin"), "platform:audit:read")
    with pytest.raises(AssignmentNotFound):
        w.iam.revoke_assignment(w.session, w.ctx("owner", w.acme), granted.id)
    revoked = w.iam.revoke_assignment(w.session, w.ctx("ops"), granted.id)
    w.session.commit()
    assert revoked.revoked_at == w.clock.now()
    assert not can(w.ctx("admin"), "platform:audit:read")
    again = w.iam.revoke_assignment(w.session, w.ctx("ops"), granted.id)
    assert again.revoked_at == revoked.revoked_at
    w.session.commit()
    assert len(w.events("iam_assignment_granted")) == 1
    assert len(w.events("iam_assignment_revoked")) == 1
    with pytest.raises(AssignmentNotFound):
        w.iam.revoke_assignment(w.session, w.ctx("ops"), uuid.uuid4())


def test_extra_tenant_grants(world: World) -> None:
    w = world
    billing = w.role("billing").public_id
    viewer_id = w.users["viewer"].public_id
    with pytest.raises(PermissionDenied):  # admins lack billing:manage, so cannot hand it out
        w.iam.create_assignment(
            w.session, w.ctx("admin", w.acme), AssignmentCreate(user_id=viewer_id, role_id=billing)
        )
    with pytest.raises(MemberNotFound):
        w.iam.create_assignment(
            w.session,
            w.ctx("owner", w.acme),
            AssignmentCreate(user_id=w.users["eve"].public_id, role_id=billing),
        )
    granted = w.iam.create_assignment(
        w.session, w.ctx("owner", w.acme), AssignmentCreate(user_id=viewer_id, role_id=billing)
    )
    w.session.commit()
    assert granted.scope is IamScope.TENANT
    assert can(w.ctx("viewer", w.acme), "billing:manage")
    with pytest.raises(AssignmentNotFound):  # another tenant's grant is invisible
        w.iam.revoke_assignment(w.session, w.ctx("eve", w.other), granted.id)
    w.iam.revoke_assignment(w.session, w.ctx("admin", w.acme), granted.id)
    w.session.commit()
    assert not can(w.ctx("viewer", w.acme), "billing:manage")


def test_permission_catalog_listing(world: World) -> None:
    listed = world.iam.list_permissions()
    assert [p.key for p in listed] == [p.key for p in PERMISSIONS]
    platform = world.iam.list_permissions(IamScope.PLATFORM)
    assert platform
    assert all(p.key.startswith("platform:") for p in platform)
