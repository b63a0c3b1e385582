"""Tenancy service: tenants, members, last-owner rules, lifecycle (both databases)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from saas_core.context import RequestContext
from saas_core.errors import (
    LastOwner,
    MemberNotFound,
    PermissionDenied,
    RoleNotFound,
    SeatLimitReached,
    SlugTaken,
    TenantNotFound,
)
from saas_core.tenancy.context import switch_active_tenant
from saas_core.tenancy.models import Tenant, TenantStatus
from saas_core.tenancy.schemas import (
    InvitationAccept,
    InvitationCreate,
    MemberUpdate,
    TenantCreate,
    TenantUpdate,
)
from saas_core.tenancy.service import TenancyService
from tests.support.databases import TestDatabase
from tests.support.tenancy import Actor, World, make_world


@pytest.fixture
def world(db: TestDatabase) -> World:
    return make_world(db)


def _public_id(world: World, tenant_id: int) -> uuid.UUID:
    with world.unit() as session:
        public_id = session.scalar(select(Tenant.public_id).where(Tenant.id == tenant_id))
    assert public_id is not None
    return public_id


def _join(world: World, owner: Actor, tenant_id: int, email: str, role: str = "member") -> Actor:
    """Invite ``email`` into the owner's tenant and accept as a new user."""
    guest = world.user(email)
    public_id = _public_id(world, tenant_id)
    with world.unit() as session:
        ctx = world.context(session, owner)
        world.tenancy.invite_member(
            session, ctx, public_id, InvitationCreate(email=email, role=role)
        )
    token = world.outbox.last(to=email).token
    assert token is not None
    with world.unit() as session:
        ctx = world.context(session, guest)
        world.tenancy.accept_invitation(session, ctx, InvitationAccept(token=token).token)
    with world.unit() as session:
        ctx = world.context(session, guest)
        switch_active_tenant(session, ctx, public_id)
    return guest


def test_create_tenant_makes_the_creator_its_owner(world: World) -> None:
    ada = world.user("ada@example.com")
    tenant_id = world.tenant(ada, "acme")
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert ctx.tenant is not None
        assert ctx.tenant.id == tenant_id
        assert ctx.role == "owner"
        assert "tenant:delete" in ctx.permissions
        members = world.tenancy.list_members(session, ctx, ctx.tenant.public_id)
    assert [(m.email, m.role) for m in members] == [("ada@example.com", "owner")]


def test_slug_is_unique_and_validated(world: World) -> None:
    ada = world.user("ada@example.com")
    world.tenant(ada, "acme")
    with world.unit() as session:
        ctx = world.context(session, ada)
        with pytest.raises(SlugTaken):
            world.tenancy.create_tenant(session, ctx, TenantCreate(name="Other", slug="acme"))
    for bad in ("A", "ab", "-abc", "abc-", "a_b_c", "x" * 64, "Ünï"):
        with pytest.raises(ValueError, match="slug"):
            TenantCreate(name="x", slug=bad)


def test_list_my_tenants_shows_only_mine_and_hides_archived(world: World) -> None:
    ada, bob = world.user("ada@example.com"), world.user("bob@example.com")
    acme = world.tenant(ada, "acme")
    world.tenant(ada, "beta", activate=False)
    world.tenant(bob, "bobco")
    with world.unit() as session:
        ctx = world.context(session, ada)
        mine = world.tenancy.list_my_tenants(session, ctx)
    assert [(t.slug, t.role, t.active) for t in mine] == [
        ("acme", "owner", True),
        ("beta", "owner", False),
    ]
    acme_id = _public_id(world, acme)
    with world.unit() as session:
        ctx = world.context(session, ada)
        world.tenancy.archive_tenant(session, ctx, acme_id)
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert ctx.tenant is None  # an archived tenant can no longer be entered
        assert [t.slug for t in world.tenancy.list_my_tenants(session, ctx)] == ["beta"]


def test_update_and_read_tenant(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    world.tenant(world.user("eve@example.com"), "evil")
    public_id = _public_id(world, acme)
    with world.unit() as session:
        ctx = world.context(session, ada)
        out = world.tenancy.update_tenant(
            session, ctx, public_id, TenantUpdate(name="Acme Inc", slug="acme-inc")
        )
        assert (out.name, out.slug) == ("Acme Inc", "acme-inc")
        with pytest.raises(SlugTaken):
            world.tenancy.update_tenant(session, ctx, public_id, TenantUpdate(slug="evil"))
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert world.tenancy.get_tenant(session, ctx, public_id).slug == "acme-inc"
        with pytest.raises(TenantNotFound):
            world.tenancy.get_tenant(session, ctx, uuid.uuid4())


def test_suspend_is_for_platform_operators(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    public_id = _public_id(world, acme)
    with world.unit() as session:
        ctx = world.context(session, ada)
        with pytest.raises(PermissionDenied):
            world.tenancy.suspend_tenant(session, ctx, public_id)
    operator = RequestContext(platform_permissions=frozenset({"platform:tenants:manage"}))
    with world.unit() as session:
        out = world.tenancy.suspend_tenant(session, operator, public_id)
        assert out.status is TenantStatus.SUSPENDED
    with world.unit() as session:
        assert world.context(session, ada).tenant is None  # suspended: no access
    with world.unit() as session:
        world.tenancy.reactivate_tenant(session, operator, public_id)
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert ctx.tenant is not None
        assert ctx.tenant.id == acme


def test_last_owner_can_be_neither_removed_nor_demoted(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    public_id = _public_id(world, acme)
    bob = _join(world, ada, acme, "bob@example.com", role="admin")
    with world.unit() as session:
        ctx = world.context(session, ada)
        ada_id = ctx.user.public_id if ctx.user else uuid.uuid4()
        with pytest.raises(LastOwner):
            world.tenancy.update_member(session, ctx, public_id, ada_id, MemberUpdate(role="admin"))
        with pytest.raises(LastOwner):
            world.tenancy.remove_member(session, ctx, public_id, ada_id)
    # An admin cannot demote or remove an owner (they would hand out what they lack).
    with world.unit() as session:
        ctx = world.context(session, bob)
        with pytest.raises(PermissionDenied):
            world.tenancy.update_member(
                session, ctx, public_id, ada_id, MemberUpdate(role="member")
            )
        with pytest.raises(PermissionDenied):
            world.tenancy.remove_member(session, ctx, public_id, ada_id)
    # With a second owner, the first may step down.
    with world.unit() as session:
        ctx = world.context(session, ada)
        bob_id = _member_id(world, session, ctx, "bob@example.com")
        world.tenancy.update_member(session, ctx, public_id, bob_id, MemberUpdate(role="owner"))
    with world.unit() as session:
        ctx = world.context(session, ada)
        out = world.tenancy.update_member(
            session, ctx, public_id, ada_id, MemberUpdate(role="admin")
        )
        assert out.role == "admin"
    with world.unit() as session:
        ctx = world.context(session, bob)
        bob_self = ctx.user.public_id if ctx.user else uuid.uuid4()
        with pytest.raises(LastOwner):
            world.tenancy.remove_member(session, ctx, public_id, bob_self)


def _member_id(world: World, session: object, ctx: RequestContext, email: str) -> uuid.UUID:
    assert ctx.tenant is not None
    members = world.tenancy.list_members(session, ctx, ctx.tenant.public_id)  # type: ignore[arg-type]
    return next(m.user_id for m in members if m.email == email)


def test_unknown_role_and_unknown_member(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    public_id = _public_id(world, acme)
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert ctx.user is not None
        with pytest.raises(RoleNotFound):
            world.tenancy.update_member(
                session, ctx, public_id, ctx.user.public_id, MemberUpdate(role="nope")
            )
        with pytest.raises(MemberNotFound):
            world.tenancy.remove_member(session, ctx, public_id, uuid.uuid4())


class _NoSeats:
    def check_can_add(self, session: object, tenant_id: int) -> None:
        raise SeatLimitReached()


def test_seat_policy_is_consulted_for_members_not_guests(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    public_id = _public_id(world, acme)
    strict = TenancyService(world.settings, world.clock, _NoSeats(), email_sender=world.outbox)
    with world.unit() as session:
        ctx = world.context(session, ada)
        with pytest.raises(SeatLimitReached):
            strict.invite_member(session, ctx, public_id, InvitationCreate(email="m@example.com"))
        out = strict.invite_member(
            session, ctx, public_id, InvitationCreate(email="g@example.com", member_type="guest")
        )
        assert out.member_type == "guest"
