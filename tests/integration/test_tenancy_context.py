"""Building the request context: active tenant, re-read membership and role, query count,
impersonator, tenant switch, API keys, and Core's authenticator/binder ports (both databases).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from saas_core.core import Credentials, Transport
from saas_core.db.tenant import TenantBinding, bind_tenant, current_binding
from saas_core.errors import AccountDisabled, ApiKeyInvalid, SessionExpired, TenantNotFound
from saas_core.identity.api_keys import ApiKeyService
from saas_core.identity.models import AuthSession, User, UserStatus
from saas_core.identity.tokens import hash_token
from saas_core.tenancy.context import (
    ContextTenantBinder,
    SessionAuthenticator,
    switch_active_tenant,
)
from saas_core.tenancy.models import Tenant
from saas_core.tenancy.schemas import MemberUpdate
from tests.support.databases import TestDatabase
from tests.support.tenancy import World, join, make_world

#: Statements build_context issues when the session has an active tenant (see the module
#: docstring of saas_core.tenancy.context and docs/tenancy.md). On PostgreSQL the session
#: lookup also binds app.user_id and app.tenant_id.
EXPECTED = {"postgresql": 3, "sqlite": 3}


@pytest.fixture
def world(db: TestDatabase) -> World:
    return make_world(db)


@contextmanager
def counted(world: World) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(world.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(world.engine, "before_cursor_execute", count)


def test_context_carries_user_tenant_role_and_permissions(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    ctx = world.ctx(ada)
    assert ctx.user is not None
    assert ctx.user.email == "ada@example.com"
    assert ctx.tenant is not None
    assert (ctx.tenant.id, ctx.tenant.slug, ctx.tenant.status) == (acme, "acme", "active")
    assert ctx.role == "owner"
    assert {"projects:write", "members:manage", "tenant:delete"} <= ctx.permissions
    assert ctx.platform_permissions == frozenset()
    assert ctx.impersonator is None
    assert (ctx.client_ip, ctx.user_agent, ctx.request_id) == ("203.0.113.7", "tests", "req-test")


def test_query_count_is_bounded(world: World, db: TestDatabase) -> None:
    ada = world.user("ada@example.com")
    world.tenant(ada, "acme")
    world.ctx(ada)  # warm up (and touch the session)
    with world.unit() as session, counted(world) as statements:
        world.context(session, ada)
    assert len(statements) == EXPECTED[db.dialect], statements
    # The last-seen write happens once per touch interval, not per request.
    world.clock.advance(world.settings.session_touch_interval)
    with world.unit() as session, counted(world) as statements:
        world.context(session, ada)
    assert len(statements) == EXPECTED[db.dialect] + 1, statements
    with world.unit() as session, counted(world) as statements:
        world.context(session, ada)
    assert len(statements) == EXPECTED[db.dialect], statements


def _settings(session: Session) -> tuple[str, str]:
    """``app.user_id`` and ``app.tenant_id`` as PostgreSQL holds them in this transaction."""
    row = session.execute(
        text("SELECT current_setting('app.user_id', true), current_setting('app.tenant_id', true)")
    ).one()
    return row[0] or "", row[1] or ""


@pytest.mark.postgres_only
def test_the_session_lookup_binds_user_and_tenant(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert ctx.tenant is not None
        assert _settings(session) == (str(ada.user_id), str(acme))
        assert current_binding(session) == TenantBinding(tenant_id=acme, user_id=ada.user_id)


@pytest.mark.postgres_only
def test_a_session_that_does_not_authenticate_binds_nothing(world: World) -> None:
    ada, bob = world.user("ada@example.com"), world.user("bob@example.com")
    world.tenant(ada, "acme")
    world.tenant(bob, "bobs")
    with world.unit() as session:
        session.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == hash_token(ada.token))
            .values(revoked_at=world.clock.now())
        )
        session.execute(
            update(User).where(User.id == bob.user_id).values(status=UserStatus.DISABLED)
        )
    carol = world.user("carol@example.com")
    world.tenant(carol, "carols")
    idle = world.settings.session_idle_timeout + timedelta(seconds=1)
    for actor, error, wait in (
        (ada, SessionExpired, timedelta(0)),
        (bob, AccountDisabled, timedelta(0)),
        (carol, SessionExpired, idle),
    ):
        world.clock.advance(wait)
        with world.unit() as session:
            # One statement: the lookup's own SQL check bound nothing, so nothing was undone.
            with counted(world) as statements, pytest.raises(error):
                world.context(session, actor)
            assert len(statements) == 1, statements
            assert _settings(session) == ("", "")
            assert current_binding(session) == TenantBinding()


MICRO = timedelta(microseconds=1)

#: (case, last seen this long before the idle limit, expiry this long after now, revoked,
#: user status, user deleted). Boundaries to the microsecond, where SQL and Python must agree.
CASES = [
    ("fresh", timedelta(minutes=5), timedelta(hours=1), False, UserStatus.ACTIVE, False),
    ("idle limit exactly", timedelta(0), timedelta(hours=1), False, UserStatus.ACTIVE, False),
    ("idle limit + 1 us", -MICRO, timedelta(hours=1), False, UserStatus.ACTIVE, False),
    ("expires in 1 us", timedelta(minutes=5), MICRO, False, UserStatus.ACTIVE, False),
    ("expires now", timedelta(minutes=5), timedelta(0), False, UserStatus.ACTIVE, False),
    ("revoked", timedelta(minutes=5), timedelta(hours=1), True, UserStatus.ACTIVE, False),
    ("disabled", timedelta(minutes=5), timedelta(hours=1), False, UserStatus.DISABLED, False),
    ("deleted", timedelta(minutes=5), timedelta(hours=1), False, UserStatus.ACTIVE, True),
    ("revoked and disabled", -MICRO, timedelta(0), True, UserStatus.DISABLED, True),
]


def test_validity_in_sql_and_python_agree_to_the_microsecond(
    world: World, db: TestDatabase
) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    idle = world.settings.session_idle_timeout
    for case, slack, lifetime, revoked, status, deleted in CASES:
        now = world.clock.now()
        with world.unit() as session:
            session.execute(
                update(AuthSession)
                .where(AuthSession.token_hash == hash_token(ada.token))
                .values(
                    last_seen_at=now - idle + slack,
                    expires_at=now + lifetime,
                    revoked_at=now if revoked else None,
                )
            )
            session.execute(
                update(User)
                .where(User.id == ada.user_id)
                .values(status=status, deleted_at=now if deleted else None)
            )
        session_ok = not revoked and lifetime > timedelta(0) and slack >= timedelta(0)
        user_ok = status is UserStatus.ACTIVE and not deleted
        with world.unit() as session:
            with counted(world) as statements:
                try:
                    ctx = world.context(session, ada)
                except SessionExpired:
                    assert not session_ok, case
                    outcome = "expired"
                except AccountDisabled:
                    assert session_ok, case
                    assert not user_ok, case
                    outcome = "disabled"
                else:
                    assert session_ok, case
                    assert user_ok, case
                    assert ctx.tenant is not None
                    outcome = "ok"
            # Refused: the lookup alone, nothing bound so nothing undone. Accepted: the usual
            # statements plus the last-seen touch (every accepted case is older than a minute),
            # the binding by the lookup in force as it was, with nothing to correct.
            wanted = 1 if outcome != "ok" else EXPECTED[db.dialect] + 1
            assert len(statements) == wanted, (case, statements)
            if db.is_postgres:
                bound = (str(ada.user_id), str(acme)) if outcome == "ok" else ("", "")
                assert _settings(session) == bound, case


@pytest.mark.postgres_only
def test_a_tenant_left_since_is_unbound(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    bob = join(world, ada, acme, "bob@example.com", "member")
    bob_ctx = world.ctx(bob)
    assert bob_ctx.tenant is not None
    assert bob_ctx.user is not None
    with world.unit() as session:
        ctx = world.context(session, ada)
        world.tenancy.remove_member(session, ctx, bob_ctx.tenant.public_id, bob_ctx.user.public_id)
    with world.unit() as session:
        assert world.context(session, bob).tenant is None
        assert _settings(session) == (str(bob.user_id), "")


def test_a_session_already_bound_rebinds_to_the_caller(world: World, db: TestDatabase) -> None:
    ada, bob = world.user("ada@example.com"), world.user("bob@example.com")
    acme = world.tenant(ada, "acme")
    bobs = world.tenant(bob, "bobs")
    with world.unit() as session:
        bind_tenant(session, bobs, user_id=bob.user_id)
        session.connection()  # the transaction starts with Bob's tenant bound
        ctx = world.context(session, ada)
        assert ctx.tenant is not None
        assert ctx.tenant.id == acme
        assert ctx.role == "owner"
        assert current_binding(session) == TenantBinding(tenant_id=acme, user_id=ada.user_id)
        if db.is_postgres:
            assert _settings(session) == (str(ada.user_id), str(acme))


def test_removal_takes_effect_on_the_next_request(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    bob = join(world, ada, acme, "bob@example.com", "member")
    bob_ctx = world.ctx(bob)
    assert bob_ctx.tenant is not None
    assert bob_ctx.user is not None
    with world.unit() as session:
        ctx = world.context(session, ada)
        world.tenancy.remove_member(session, ctx, bob_ctx.tenant.public_id, bob_ctx.user.public_id)
    after = world.ctx(bob)
    assert after.tenant is None
    assert after.permissions == frozenset()


def test_role_change_takes_effect_on_the_next_request(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    bob = join(world, ada, acme, "bob@example.com", "viewer")
    before = world.ctx(bob)
    assert before.role == "viewer"
    assert "projects:write" not in before.permissions
    assert before.tenant is not None
    assert before.user is not None
    with world.unit() as session:
        ctx = world.context(session, ada)
        world.tenancy.update_member(
            session, ctx, before.tenant.public_id, before.user.public_id, MemberUpdate(role="admin")
        )
    after = world.ctx(bob)
    assert after.role == "admin"
    assert "projects:write" in after.permissions


def test_switching_needs_membership(world: World) -> None:
    ada, eve = world.user("ada@example.com"), world.user("eve@example.com")
    world.tenant(ada, "acme")
    world.tenant(ada, "beta", activate=False)
    evil = world.tenant(eve, "evil")
    with world.unit() as session:
        beta = session.scalar(select(Tenant.public_id).where(Tenant.slug == "beta"))
        evil_public = session.scalar(select(Tenant.public_id).where(Tenant.id == evil))
        assert beta is not None
        assert evil_public is not None
        ctx = world.context(session, ada)
        with pytest.raises(TenantNotFound):
            switch_active_tenant(session, ctx, evil_public)
        switch_active_tenant(session, ctx, beta)
        assert ctx.tenant is not None
        assert ctx.tenant.slug == "acme"  # this request keeps its tenant
    nxt = world.ctx(ada)
    assert nxt.tenant is not None
    assert nxt.tenant.slug == "beta"


def test_impersonator_is_resolved(world: World) -> None:
    ada, op = world.user("ada@example.com"), world.user("operator@example.com")
    with world.unit() as session:
        session.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == hash_token(ada.token))
            .values(impersonator_user_id=op.user_id)
        )
    ctx = world.ctx(ada)
    assert ctx.impersonator is not None
    assert ctx.impersonator.email == "operator@example.com"


def test_authenticator_and_binder_ports(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    auth = SessionAuthenticator(world.settings, world.clock)
    with world.unit() as session:
        anonymous = auth.authenticate(session, Credentials(Transport.NONE, None, "r1"))
        assert not anonymous.is_authenticated
        ctx = auth.authenticate(session, Credentials(Transport.BEARER, ada.token, "r2"))
        assert ctx.tenant is not None
        assert ctx.tenant.id == acme
        ContextTenantBinder().bind(session, ctx)
        assert current_binding(session).tenant_id == acme
        with pytest.raises(SessionExpired):
            auth.authenticate(session, Credentials(Transport.COOKIE, "not-a-token", "r3"))


def test_api_key_context_is_cut_to_its_creators_permissions(world: World) -> None:
    ada = world.user("ada@example.com")
    acme = world.tenant(ada, "acme")
    bob = join(world, ada, acme, "bob@example.com", "admin")
    keys = ApiKeyService(world.settings, world.clock)
    with world.unit() as session:
        created = keys.create(
            session,
            world.context(session, bob),
            name="ci",
            permissions=["projects:read", "projects:write"],
        )
    auth = SessionAuthenticator(world.settings, world.clock)
    with world.unit() as session:
        ctx = auth.authenticate(session, Credentials(Transport.BEARER, created.key, "r"))
        assert ctx.api_key_id == created.api_key.id
        assert ctx.user is None
        assert ctx.tenant is not None
        assert ctx.tenant.id == acme
        assert ctx.permissions == {"projects:read", "projects:write"}
        with pytest.raises(ApiKeyInvalid):
            auth.authenticate(session, Credentials(Transport.COOKIE, created.key, "r"))
    # Bob becomes a viewer: his key keeps only what he still holds.
    bob_ctx = world.ctx(bob)
    assert bob_ctx.tenant is not None
    assert bob_ctx.user is not None
    with world.unit() as session:
        world.tenancy.update_member(
            session,
            world.context(session, ada),
            bob_ctx.tenant.public_id,
            bob_ctx.user.public_id,
            MemberUpdate(role="viewer"),
        )
    with world.unit() as session:
        ctx = auth.authenticate(session, Credentials(Transport.BEARER, created.key, "r"))
        assert ctx.permissions == {"projects:read"}
    # Bob leaves: his key stops working.
    with world.unit() as session:
        world.tenancy.remove_member(
            session, world.context(session, bob), bob_ctx.tenant.public_id, bob_ctx.user.public_id
        )
    with world.unit() as session, pytest.raises(ApiKeyInvalid):
        auth.authenticate(session, Credentials(Transport.BEARER, created.key, "r"))
