"""API key lifecycle: create (scopes bounded by the creator), list, authenticate, revoke, expire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEvent, SecurityEventType
from saas_core.clock import FakeClock
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.db.session import session_factory
from saas_core.db.tenant import platform_scope
from saas_core.errors import ApiKeyInvalid, InvalidInput, NotFound, PermissionDenied
from saas_core.identity.models import ApiKey, User
from saas_core.identity.service import IdentityService
from saas_core.tenancy.models import Tenant
from saas_core.testing import InMemoryOutbox, fast_settings, make_user
from tests.support.databases import TestDatabase


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def identity(clock: FakeClock) -> IdentityService:
    return IdentityService(fast_settings(), clock, InMemoryOutbox())


@pytest.fixture
def session(db: TestDatabase) -> Iterator[Session]:
    with session_factory(db.engine)() as s:
        yield s


def tenant(session: Session, slug: str) -> TenantRef:
    row = Tenant(slug=slug, name=slug.title())
    session.add(row)
    session.flush()
    return TenantRef(row.id, row.public_id, row.slug, "active")


def ctx(user: User, tenant_ref: TenantRef | None, permissions: set[str]) -> RequestContext:
    return RequestContext(
        auth_method=AuthMethod.SESSION,
        user=UserRef(user.id, user.public_id, user.email),
        tenant=tenant_ref,
        permissions=frozenset(permissions) if tenant_ref else frozenset(),
        platform_permissions=frozenset() if tenant_ref else frozenset(permissions),
        client_ip="192.0.2.9",
    )


def test_api_key_lifecycle(session: Session, identity: IdentityService, clock: FakeClock) -> None:
    user = make_user(session, identity)
    acme = tenant(session, "acme")
    session.commit()
    admin = ctx(user, acme, {"projects:read", "projects:write", "usage:read"})
    created = identity.api_keys.create(
        session, admin, name=" ingest ", permissions=["usage:read", "projects:read", "usage:read"]
    )
    session.commit()
    key, row = created
    assert key.startswith(row.prefix + ".")
    assert row.name == "ingest"
    assert row.permissions == ["projects:read", "usage:read"]
    assert row.bound_tenant_id == acme.id
    assert row.created_by_id == user.id
    secret = key.split(".", 1)[1]
    stored = session.execute(sa.select(ApiKey.prefix, ApiKey.secret_hash)).one()
    assert secret not in stored.secret_hash
    assert secret not in stored.prefix

    found = identity.api_keys.authenticate(session, key, ip="198.51.100.4")
    session.commit()
    assert found.id == row.id
    assert (found.last_used_at, found.last_used_ip) == (clock.now(), "198.51.100.4")
    # Last use is written at most once a minute.
    clock.advance(seconds=30)
    identity.api_keys.authenticate(session, key, ip="198.51.100.5")
    assert found.last_used_ip == "198.51.100.4"
    clock.advance(seconds=30)
    identity.api_keys.authenticate(session, key, ip="198.51.100.5")
    assert found.last_used_ip == "198.51.100.5"
    session.commit()

    # A wrong secret with the right prefix, and a stored hash as a secret, are refused.
    for bad in (f"{row.prefix}.wrong", f"{row.prefix}.{row.secret_hash}", "garbage"):
        with pytest.raises(ApiKeyInvalid):
            identity.api_keys.authenticate(session, bad)

    assert [k.id for k in identity.api_keys.list_keys(session, admin)] == [row.id]
    identity.api_keys.revoke(session, admin, row.public_id)
    session.commit()
    with pytest.raises(ApiKeyInvalid):
        identity.api_keys.authenticate(session, key)
    identity.api_keys.revoke(session, admin, row.public_id)  # idempotent, no second event

    with platform_scope(session):
        types = session.scalars(
            sa.select(SecurityEvent.event_type).order_by(SecurityEvent.occurred_at)
        ).all()
        tenants = set(session.scalars(sa.select(SecurityEvent.tenant_id)))
    assert types == [SecurityEventType.API_KEY_CREATED, SecurityEventType.API_KEY_REVOKED]
    assert tenants == {acme.id}


def test_scopes_cannot_exceed_the_creators_permissions(
    session: Session, identity: IdentityService
) -> None:
    user = make_user(session, identity)
    acme = tenant(session, "acme")
    session.commit()
    member = ctx(user, acme, {"projects:read"})
    with pytest.raises(PermissionDenied) as denied:
        identity.api_keys.create(
            session, member, name="too much", permissions=["projects:read", "credits:adjust"]
        )
    assert denied.value.extra["permission"] == "credits:adjust"
    # Tenant permissions do not make a platform key, and vice versa.
    no_tenant = ctx(user, None, set())
    with pytest.raises(PermissionDenied):
        identity.api_keys.create(session, no_tenant, name="p", permissions=["projects:read"])


def test_expiry_and_validation(
    session: Session, identity: IdentityService, clock: FakeClock
) -> None:
    user = make_user(session, identity)
    acme = tenant(session, "acme")
    session.commit()
    admin = ctx(user, acme, {"usage:read"})
    with pytest.raises(InvalidInput):
        identity.api_keys.create(session, admin, name="x", permissions=[], expires_at=clock.now())
    with pytest.raises(InvalidInput):
        identity.api_keys.create(session, admin, name="   ", permissions=[])
    key, _ = identity.api_keys.create(
        session,
        admin,
        name="short-lived",
        permissions=["usage:read"],
        expires_at=clock.now() + timedelta(hours=1),
    )
    session.commit()
    clock.advance(hours=1, seconds=-1)
    identity.api_keys.authenticate(session, key)
    clock.advance(seconds=1)
    with pytest.raises(ApiKeyInvalid):
        identity.api_keys.authenticate(session, key)


def test_keys_are_scoped_to_their_tenant(session: Session, identity: IdentityService) -> None:
    user = make_user(session, identity)
    acme, globex = tenant(session, "acme"), tenant(session, "globex")
    session.commit()
    in_acme = ctx(user, acme, {"usage:read"})
    in_globex = ctx(user, globex, {"usage:read"})
    _, row = identity.api_keys.create(session, in_acme, name="a", permissions=["usage:read"])
    platform = ctx(user, None, {"audit:read"})
    _, platform_row = identity.api_keys.create(
        session, platform, name="p", permissions=["audit:read"]
    )
    session.commit()
    assert platform_row.bound_tenant_id is None
    assert identity.api_keys.list_keys(session, in_globex) == []
    assert [k.id for k in identity.api_keys.list_keys(session, platform)] == [platform_row.id]
    with pytest.raises(NotFound):
        identity.api_keys.revoke(session, in_globex, row.public_id)


def test_deleting_the_creator_revokes_their_keys(
    session: Session, identity: IdentityService
) -> None:
    user = make_user(session, identity, password=None)
    acme = tenant(session, "acme")
    session.commit()
    key, _ = identity.api_keys.create(
        session, ctx(user, acme, {"usage:read"}), name="k", permissions=["usage:read"]
    )
    identity.delete_account(session, ctx(user, None, set()))
    session.commit()
    with pytest.raises(ApiKeyInvalid):
        identity.api_keys.authenticate(session, key)
