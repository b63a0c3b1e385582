"""Session lifetime (idle and absolute), touch interval, rotation, listing and revocation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEvent, SecurityEventType
from saas_core.clock import FakeClock
from saas_core.context import AuthMethod, RequestContext, UserRef
from saas_core.db.session import session_factory
from saas_core.db.tenant import platform_scope
from saas_core.errors import AccountDisabled, NotFound, SessionExpired
from saas_core.identity.models import AuthSession, SessionRevokeReason, User, UserStatus
from saas_core.identity.service import IdentityService
from saas_core.identity.sessions import IssuedSession
from saas_core.testing import InMemoryOutbox, fast_settings, make_user
from saas_core.testing.factories import DEFAULT_PASSWORD
from tests.support.databases import TestDatabase

SECOND = timedelta(seconds=1)


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


@pytest.fixture
def user(session: Session, identity: IdentityService) -> User:
    created = make_user(session, identity)
    session.commit()
    return created


def login(
    session: Session, identity: IdentityService, email: str = "ada@example.com"
) -> IssuedSession:
    issued = identity.login(session, email=email, password=DEFAULT_PASSWORD, ip="192.0.2.1")
    session.commit()
    return issued


def ctx_for(user: User, issued: IssuedSession) -> RequestContext:
    return RequestContext(
        auth_method=AuthMethod.SESSION,
        user=UserRef(user.id, user.public_id, user.email),
        session_id=issued.auth_session.id,
        client_ip="192.0.2.1",
        request_id="req-1",
    )


def valid(session: Session, identity: IdentityService, token: str) -> bool:
    try:
        identity.authenticate(session, token)
    except SessionExpired:
        return False
    finally:
        session.commit()
    return True


def revocation_events(session: Session) -> list[SecurityEvent]:
    with platform_scope(session):
        return list(
            session.scalars(
                sa.select(SecurityEvent)
                .where(
                    SecurityEvent.event_type.in_(
                        [SecurityEventType.SESSION_REVOKED, SecurityEventType.LOGOUT]
                    )
                )
                .order_by(SecurityEvent.occurred_at, SecurityEvent.id)
            )
        )


def test_idle_expiry_is_exact_to_the_second(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    idle = identity.settings.session_idle_timeout
    issued = login(session, identity)
    clock.advance(idle - SECOND)
    assert valid(session, identity, issued.token)  # and this request touches last_seen_at
    clock.advance(idle - SECOND)
    assert valid(session, identity, issued.token)
    clock.advance(idle + SECOND)
    assert not valid(session, identity, issued.token)


def test_exactly_at_the_idle_limit_is_still_valid(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    issued = login(session, identity)
    clock.advance(identity.settings.session_idle_timeout)
    assert valid(session, identity, issued.token)


def test_absolute_expiry_holds_whatever_the_activity(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    absolute = identity.settings.session_absolute_timeout
    issued = login(session, identity)
    assert issued.auth_session.expires_at == clock.now() + absolute
    step = timedelta(minutes=20)
    while clock.now() + step < issued.auth_session.expires_at:
        clock.advance(step)
        assert valid(session, identity, issued.token)
    clock.set(issued.auth_session.expires_at - SECOND)
    assert valid(session, identity, issued.token)
    clock.advance(SECOND)
    assert not valid(session, identity, issued.token)


def test_last_seen_is_written_at_most_once_per_touch_interval(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    touch = identity.settings.session_touch_interval
    issued = login(session, identity)
    created = issued.auth_session.last_seen_at
    clock.advance(touch - SECOND)
    assert identity.authenticate(session, issued.token).auth_session.last_seen_at == created
    session.commit()
    clock.advance(SECOND)
    touched = identity.authenticate(session, issued.token).auth_session.last_seen_at
    session.commit()
    assert touched == clock.now()
    session.expire_all()
    stored = session.scalar(sa.select(AuthSession.last_seen_at))
    assert stored == touched


def test_disabled_or_deleted_user_is_refused_on_the_next_request(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    issued = login(session, identity)
    user.status = UserStatus.DISABLED
    session.commit()
    with pytest.raises(AccountDisabled):
        identity.authenticate(session, issued.token)
    session.rollback()
    user.status = UserStatus.ACTIVE
    user.deleted_at = clock.now()
    session.commit()
    with pytest.raises(AccountDisabled):
        identity.authenticate(session, issued.token)


@pytest.mark.parametrize("token", ["", "x" * 10_000, "not-a-token"])
def test_garbage_tokens_are_refused(
    session: Session, identity: IdentityService, token: str
) -> None:
    with pytest.raises(SessionExpired):
        identity.authenticate(session, token)


def test_rotation_kills_the_old_token_and_keeps_the_absolute_expiry(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    issued = login(session, identity)
    clock.advance(minutes=10)
    rotated = identity.refresh(session, ctx_for(user, issued))
    session.commit()
    assert rotated.token != issued.token
    assert not valid(session, identity, issued.token)
    assert valid(session, identity, rotated.token)
    assert rotated.auth_session.expires_at == issued.auth_session.expires_at
    assert rotated.auth_session.rotated_from_id == issued.auth_session.id
    assert issued.auth_session.revoked_reason is SessionRevokeReason.ROTATED
    (event,) = revocation_events(session)
    assert event.metadata_["reason"] == "rotated"
    assert event.metadata_["new_session"] == str(rotated.auth_session.public_id)
    # A revoked session cannot be rotated again.
    with pytest.raises(SessionExpired):
        identity.sessions.rotate(session, issued.auth_session)


def test_rotation_for_impersonation_changes_user_and_impersonator(
    session: Session, identity: IdentityService, user: User
) -> None:
    operator = make_user(session, identity, email="op@example.com")
    session.commit()
    issued = login(session, identity, "op@example.com")
    as_user = identity.sessions.rotate(
        session,
        issued.auth_session,
        user_id=user.id,
        impersonator_user_id=operator.id,
        reason=SessionRevokeReason.ROTATED,
    )
    session.commit()
    auth = identity.authenticate(session, as_user.token)
    assert auth.user.id == user.id
    assert auth.auth_session.impersonator_user_id == operator.id
    back = identity.sessions.rotate(
        session,
        as_user.auth_session,
        user_id=operator.id,
        impersonator_user_id=None,
        reason=SessionRevokeReason.IMPERSONATION_ENDED,
    )
    session.commit()
    assert not valid(session, identity, as_user.token)
    assert identity.authenticate(session, back.token).user.id == operator.id


def test_list_and_revoke_own_sessions(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    first = login(session, identity)
    clock.advance(minutes=1)
    second = login(session, identity)
    clock.advance(minutes=1)
    third = login(session, identity)
    ctx = ctx_for(user, third)
    listed = identity.list_sessions(session, ctx)
    assert [s.id for s in listed] == [
        third.auth_session.id,
        second.auth_session.id,
        first.auth_session.id,
    ]

    identity.revoke_session(session, ctx, first.auth_session.public_id)
    session.commit()
    assert not valid(session, identity, first.token)
    assert valid(session, identity, second.token)
    assert first.auth_session.id not in [s.id for s in identity.list_sessions(session, ctx)]

    # "Sign out other devices" from the middle session: older and newer ones both go.
    middle = ctx_for(user, second)
    revoked = identity.revoke_other_sessions(session, middle)
    session.commit()
    assert revoked == [third.auth_session.public_id]
    assert not valid(session, identity, third.token)
    assert valid(session, identity, second.token)

    identity.logout(session, middle)
    session.commit()
    assert not valid(session, identity, second.token)
    assert identity.list_sessions(session, middle) == []
    kinds = [(e.event_type, e.metadata_["reason"]) for e in revocation_events(session)]
    assert kinds == [
        ("session_revoked", "revoked_by_user"),
        ("session_revoked", "revoked_by_user"),
        ("logout", "logout"),
    ]
    assert all(e.user_id == user.id and e.request_id == "req-1" for e in revocation_events(session))


def test_another_users_session_is_not_found(
    session: Session, identity: IdentityService, user: User
) -> None:
    make_user(session, identity, email="eve@example.com")
    session.commit()
    mine = login(session, identity)
    theirs = login(session, identity, "eve@example.com")
    with pytest.raises(NotFound):
        identity.revoke_session(session, ctx_for(user, mine), theirs.auth_session.public_id)
    session.rollback()
    assert valid(session, identity, theirs.token)
    assert revocation_events(session) == []


def test_idle_sessions_are_not_listed(
    session: Session, identity: IdentityService, clock: FakeClock, user: User
) -> None:
    old = login(session, identity)
    clock.advance(identity.settings.session_idle_timeout + SECOND)
    new = login(session, identity)
    listed = identity.list_sessions(session, ctx_for(user, new))
    assert [s.id for s in listed] == [new.auth_session.id]
    assert old.auth_session.id != new.auth_session.id
