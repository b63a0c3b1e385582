"""Invitations: single use, expiry, the invited address only, re-invite, revoke (both databases).
On PostgreSQL the invitee reads the invitation through Row Level Security's ``token_read``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from saas_core.config import Settings
from saas_core.db.tenant import platform_scope
from saas_core.errors import (
    AlreadyMember,
    InvalidToken,
    InvitationEmailMismatch,
    InvitationNotFound,
    PermissionDenied,
)
from saas_core.identity.tokens import hash_token
from saas_core.tenancy.context import switch_active_tenant
from saas_core.tenancy.models import InvitationStatus, Tenant, TenantInvitation
from saas_core.tenancy.schemas import InvitationCreate
from tests.support.databases import TestDatabase
from tests.support.tenancy import Actor, World, make_world


@pytest.fixture
def world(db: TestDatabase) -> World:
    return make_world(db)


def _setup(world: World) -> tuple[Actor, uuid.UUID]:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    with world.unit() as session:
        public_id = session.scalar(select(Tenant.public_id).where(Tenant.id == acme))
    assert public_id is not None
    return ada, public_id


def _invite(world: World, inviter: Actor, tenant: uuid.UUID, email: str, **kw: str) -> str:
    with world.unit() as session:
        ctx = world.context(session, inviter)
        world.tenancy.invite_member(session, ctx, tenant, InvitationCreate(email=email, **kw))
    message = world.outbox.last(to=email.strip().lower(), kind="tenant_invitation")
    assert message.token is not None
    assert message.token in message.text
    return message.token


def _accept(world: World, actor: Actor, token: str) -> str:
    with world.unit() as session:
        out = world.tenancy.accept_invitation(session, world.context(session, actor), token)
    return out.slug


def test_invitation_is_single_use_and_stores_only_a_hash(world: World) -> None:
    ada, acme = _setup(world)
    token = _invite(world, ada, acme, "  Bob@Example.com ", role="viewer")
    bob = world.user("bob@example.com")
    assert _accept(world, bob, token) == "acme"
    with pytest.raises(InvalidToken):
        _accept(world, bob, token)
    with world.unit() as session:
        ctx = world.context(session, ada)
        members = world.tenancy.list_members(session, ctx, acme)
        assert [(m.email, m.role) for m in members] == [
            ("ada@example.com", "owner"),
            ("bob@example.com", "viewer"),
        ]
        with platform_scope(session, reason="test"):
            stored = session.scalars(select(TenantInvitation)).one()
        assert stored.token_hash == hash_token(token)
        assert stored.status is InvitationStatus.ACCEPTED


def test_invitation_expires(world: World) -> None:
    # Sessions that outlive the invitation, so only the invitation expires.
    world.settings = Settings(
        session_idle_timeout=timedelta(days=30), session_absolute_timeout=timedelta(days=30)
    )
    ada, acme = _setup(world)
    token = _invite(world, ada, acme, "bob@example.com")
    bob = world.user("bob@example.com")
    world.clock.advance(world.settings.invitation_ttl + timedelta(seconds=1))
    with world.unit() as session:
        listed = world.tenancy.list_invitations(session, world.context(session, ada), acme)
        assert [i.status for i in listed] == [InvitationStatus.EXPIRED]
    with pytest.raises(InvalidToken):
        _accept(world, bob, token)


def test_invitation_is_for_the_invited_address_only(world: World) -> None:
    ada, acme = _setup(world)
    token = _invite(world, ada, acme, "bob@example.com")
    mallory = world.user("mallory@example.com")
    with pytest.raises(InvitationEmailMismatch):
        _accept(world, mallory, token)
    with pytest.raises(InvalidToken):
        _accept(world, mallory, "x" * 43)


def test_reinvite_replaces_and_revoke_kills(world: World) -> None:
    ada, acme = _setup(world)
    first = _invite(world, ada, acme, "bob@example.com")
    second = _invite(world, ada, acme, "bob@example.com", role="admin")
    bob = world.user("bob@example.com")
    with pytest.raises(InvalidToken):
        _accept(world, bob, first)
    with world.unit() as session:
        ctx = world.context(session, ada)
        (pending,) = world.tenancy.list_invitations(session, ctx, acme)
        assert pending.role == "admin"
        revoked = world.tenancy.revoke_invitation(session, ctx, acme, pending.id)
        assert revoked.status is InvitationStatus.REVOKED
        with pytest.raises(InvitationNotFound):
            world.tenancy.revoke_invitation(session, ctx, acme, uuid.uuid4())
    with pytest.raises(InvalidToken):
        _accept(world, bob, second)


def test_members_are_not_invited_twice_and_roles_are_not_escalated(world: World) -> None:
    ada, acme = _setup(world)
    token = _invite(world, ada, acme, "bob@example.com", role="admin")
    bob = world.user("bob@example.com")
    _accept(world, bob, token)
    with world.unit() as session, pytest.raises(AlreadyMember):
        world.tenancy.invite_member(
            session, world.context(session, ada), acme, InvitationCreate(email="bob@example.com")
        )
    # Bob (admin) switches to the tenant and may not invite an owner: he lacks owner rights.
    with world.unit() as session:
        switch_active_tenant(session, world.context(session, bob), acme)
    with world.unit() as session, pytest.raises(PermissionDenied):
        world.tenancy.invite_member(
            session,
            world.context(session, bob),
            acme,
            InvitationCreate(email="carol@example.com", role="owner"),
        )
