"""Account flows: sign-up and verification, password reset and change, email change, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEvent
from saas_core.clock import FakeClock
from saas_core.context import AuthMethod, RequestContext, UserRef
from saas_core.db.session import session_factory
from saas_core.db.tenant import platform_scope
from saas_core.errors import (
    AccountLocked,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    RegistrationClosed,
    SessionExpired,
    WeakPassword,
)
from saas_core.identity.models import AuthSession, User, UserStatus
from saas_core.identity.ports import InMemoryOutbox
from saas_core.identity.service import COMMIT_ON_ERRORS, IdentityService
from saas_core.identity.sessions import IssuedSession
from saas_core.testing import fast_settings, make_user
from saas_core.testing.factories import DEFAULT_PASSWORD
from tests.support.databases import TestDatabase

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox() -> InMemoryOutbox:
    return InMemoryOutbox()


@pytest.fixture
def identity(clock: FakeClock, outbox: InMemoryOutbox) -> IdentityService:
    return IdentityService(fast_settings(), clock, outbox)


@pytest.fixture
def session(db: TestDatabase) -> Iterator[Session]:
    with session_factory(db.engine)() as s:
        yield s


def login(session: Session, identity: IdentityService, email: str, password: str) -> IssuedSession:
    try:
        issued = identity.login(session, email=email, password=password)
    except COMMIT_ON_ERRORS:
        session.commit()
        raise
    session.commit()
    return issued


def ctx_for(user: User, issued: IssuedSession | None = None) -> RequestContext:
    return RequestContext(
        auth_method=AuthMethod.SESSION,
        user=UserRef(user.id, user.public_id, user.email),
        session_id=issued.auth_session.id if issued else None,
    )


def event_types(session: Session, user: User) -> list[str]:
    with platform_scope(session):
        return list(
            session.scalars(
                sa.select(SecurityEvent.event_type)
                .where(SecurityEvent.user_id == user.id)
                .order_by(SecurityEvent.occurred_at, SecurityEvent.id)
            )
        )


def live_sessions(session: Session, user: User) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(AuthSession)
            .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        )
        or 0
    )


# --- sign-up and verification --------------------------------------------------------------------


def test_register_normalises_email_and_sends_a_verification_token(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox
) -> None:
    user = identity.register(
        session, email="  Ada@Example.COM ", password=DEFAULT_PASSWORD, display_name=" Ada "
    )
    session.commit()
    assert user.email == "ada@example.com"
    assert user.display_name == "Ada"
    assert user.email_verified_at is None
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    message = outbox.last(kind="verify_email")
    assert message.to == "ada@example.com"
    assert message.token is not None
    assert message.token in message.text

    verified = identity.verify_email(session, message.token)
    session.commit()
    assert verified.id == user.id
    assert verified.email_verified_at is not None
    with pytest.raises(InvalidToken):
        identity.verify_email(session, message.token)


def test_verification_token_expires_and_a_new_one_replaces_the_old(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox, clock: FakeClock
) -> None:
    user = identity.register(session, email="ada@example.com", password=DEFAULT_PASSWORD)
    session.commit()
    first = outbox.last(kind="verify_email").token
    identity.send_verification_email(session, user)
    session.commit()
    second = outbox.last(kind="verify_email").token
    assert first is not None
    assert second is not None
    assert first != second
    with pytest.raises(InvalidToken):
        identity.verify_email(session, first)
    clock.advance(identity.settings.email_verification_ttl)
    with pytest.raises(InvalidToken):
        identity.verify_email(session, second)


def test_register_refusals(session: Session, clock: FakeClock, outbox: InMemoryOutbox) -> None:
    identity = IdentityService(fast_settings(), clock, outbox)
    identity.register(session, email="ada@example.com", password=DEFAULT_PASSWORD)
    session.commit()
    with pytest.raises(EmailTaken):
        identity.register(session, email="ADA@example.com", password=DEFAULT_PASSWORD)
    with pytest.raises(WeakPassword):
        identity.register(session, email="bob@example.com", password="short")
    with pytest.raises(InvalidInput):
        identity.register(session, email="not-an-email", password=DEFAULT_PASSWORD)
    closed = IdentityService(fast_settings(registration_enabled=False), clock, outbox)
    with pytest.raises(RegistrationClosed):
        closed.register(session, email="carol@example.com", password=DEFAULT_PASSWORD)
    # Invitations and admin tools still create users when sign-up is closed.
    assert closed.create_user(session, email="carol@example.com", password=None).id


# --- password reset ------------------------------------------------------------------------------


def test_reset_for_an_unknown_email_looks_the_same(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox
) -> None:
    assert identity.request_password_reset(session, "nobody@example.com") is None
    assert identity.request_password_reset(session, "not an email") is None
    assert outbox.messages == []


def test_reset_password_revokes_every_session_and_works_once(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox
) -> None:
    user = make_user(session, identity)
    session.commit()
    first = login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    second = login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    identity.request_password_reset(session, "ADA@example.com")
    session.commit()
    token = outbox.last(to="ada@example.com", kind="reset_password").token
    assert token is not None

    identity.reset_password(session, token, NEW_PASSWORD)
    session.commit()
    for issued in (first, second):
        with pytest.raises(SessionExpired):
            identity.authenticate(session, issued.token)
    assert live_sessions(session, user) == 0
    with pytest.raises(InvalidCredentials):
        login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    login(session, identity, "ada@example.com", NEW_PASSWORD)
    with pytest.raises(InvalidToken):
        identity.reset_password(session, token, "yet another passphrase")
    types = event_types(session, user)
    assert "password_reset_requested" in types
    assert "password_reset" in types
    assert "session_revoked" in types


def test_reset_token_expires(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox, clock: FakeClock
) -> None:
    make_user(session, identity)
    identity.request_password_reset(session, "ada@example.com")
    session.commit()
    token = outbox.last(kind="reset_password").token
    assert token is not None
    clock.advance(identity.settings.password_reset_ttl - timedelta(seconds=1))
    identity.request_password_reset(session, "ada@example.com")  # supersedes the first token
    session.commit()
    with pytest.raises(InvalidToken):
        identity.reset_password(session, token, NEW_PASSWORD)
    latest = outbox.last(kind="reset_password").token
    assert latest is not None
    clock.advance(identity.settings.password_reset_ttl)
    with pytest.raises(InvalidToken):
        identity.reset_password(session, latest, NEW_PASSWORD)


def test_reset_lifts_a_lockout(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox
) -> None:
    make_user(session, identity)
    session.commit()
    for _ in range(identity.settings.login_max_failures):
        with pytest.raises(InvalidCredentials):
            login(session, identity, "ada@example.com", "a wrong password")
    with pytest.raises(AccountLocked):
        login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    identity.request_password_reset(session, "ada@example.com")
    token = outbox.last(kind="reset_password").token
    assert token is not None
    identity.reset_password(session, token, NEW_PASSWORD)
    session.commit()
    login(session, identity, "ada@example.com", NEW_PASSWORD)


# --- password change -----------------------------------------------------------------------------


def test_change_password_keeps_this_session_and_revokes_the_others(
    session: Session, identity: IdentityService
) -> None:
    user = make_user(session, identity)
    session.commit()
    other = login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    current = login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    ctx = ctx_for(user, current)
    with pytest.raises(InvalidCredentials):
        identity.change_password(
            session, ctx, current_password="a wrong password", new_password=NEW_PASSWORD
        )
    session.commit()  # the failed re-authentication is counted and recorded
    identity.change_password(
        session, ctx, current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD
    )
    session.commit()
    assert identity.authenticate(session, current.token).user.id == user.id
    with pytest.raises(SessionExpired):
        identity.authenticate(session, other.token)
    login(session, identity, "ada@example.com", NEW_PASSWORD)
    types = event_types(session, user)
    assert types.count("login_failed") == 1
    assert "password_changed" in types
    with pytest.raises(WeakPassword):
        identity.change_password(
            session, ctx, current_password=NEW_PASSWORD, new_password="ada@example.com"
        )


# --- email change --------------------------------------------------------------------------------


def test_email_change_is_confirmed_from_the_new_address(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox
) -> None:
    user = make_user(session, identity)
    session.commit()
    ctx = ctx_for(user)
    with pytest.raises(InvalidCredentials):
        identity.request_email_change(
            session, ctx, new_email="ada@new.example", password="a wrong password"
        )
    session.rollback()
    identity.request_email_change(
        session, ctx, new_email=" Ada@New.Example ", password=DEFAULT_PASSWORD
    )
    session.commit()
    confirmation = outbox.last(kind="change_email")
    assert confirmation.to == "ada@new.example"
    notice = outbox.last(kind="email_change_notice")
    assert notice.to == "ada@example.com"
    assert notice.token is None
    assert session.get(User, user.id).email == "ada@example.com"  # type: ignore[union-attr]

    assert confirmation.token is not None
    changed = identity.confirm_email_change(session, confirmation.token)
    session.commit()
    assert changed.email == "ada@new.example"
    assert changed.email_verified_at is not None
    with pytest.raises(InvalidToken):
        identity.confirm_email_change(session, confirmation.token)
    login(session, identity, "ada@new.example", DEFAULT_PASSWORD)
    with pytest.raises(InvalidCredentials):
        login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    assert {"email_change_requested", "email_changed"} <= set(event_types(session, user))


def test_email_change_to_a_taken_address(
    session: Session, identity: IdentityService, outbox: InMemoryOutbox
) -> None:
    user = make_user(session, identity)
    make_user(session, identity, email="bob@example.com")
    session.commit()
    with pytest.raises(EmailTaken):
        identity.request_email_change(
            session, ctx_for(user), new_email="bob@example.com", password=DEFAULT_PASSWORD
        )
    identity.request_email_change(
        session, ctx_for(user), new_email="carol@example.com", password=DEFAULT_PASSWORD
    )
    token = outbox.last(kind="change_email").token
    assert token is not None
    # Someone signs up with the address before the confirmation is clicked.
    make_user(session, identity, email="carol@example.com")
    session.commit()
    with pytest.raises(EmailTaken):
        identity.confirm_email_change(session, token)


# --- deletion ------------------------------------------------------------------------------------


def test_delete_account_revokes_everything_runs_hooks_and_frees_the_email(
    session: Session, clock: FakeClock, outbox: InMemoryOutbox
) -> None:
    seen: list[tuple[int, str | None]] = []

    def erasure_hook(s: Session, user: User, ctx: RequestContext) -> None:
        seen.append((user.id, ctx.request_id))

    identity = IdentityService(fast_settings(), clock, outbox, deletion_hooks=[erasure_hook])
    user = make_user(session, identity)
    session.commit()
    first = login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    second = login(session, identity, "ada@example.com", DEFAULT_PASSWORD)
    ctx = ctx_for(user, second)
    with pytest.raises(InvalidCredentials):
        identity.delete_account(session, ctx)
    session.rollback()
    assert seen == []

    identity.delete_account(session, ctx, password=DEFAULT_PASSWORD)
    session.commit()
    assert seen == [(user.id, ctx.request_id)]
    session.refresh(user)
    assert user.deleted_at == clock.now()
    assert user.status is UserStatus.DISABLED
    assert live_sessions(session, user) == 0
    for issued in (first, second):
        with pytest.raises(SessionExpired):
            identity.authenticate(session, issued.token)
    assert "account_deleted" in event_types(session, user)

    again = identity.register(session, email="ada@example.com", password=NEW_PASSWORD)
    session.commit()
    assert again.id != user.id
    assert (
        login(session, identity, "ada@example.com", NEW_PASSWORD).auth_session.user_id == again.id
    )


def test_a_failing_hook_aborts_the_deletion(session: Session, clock: FakeClock) -> None:
    def refuse(s: Session, user: User, ctx: RequestContext) -> None:
        raise RuntimeError("erasure workflow unavailable")

    identity = IdentityService(fast_settings(), clock, InMemoryOutbox(), deletion_hooks=[refuse])
    user = make_user(session, identity, password=None)
    session.commit()
    with pytest.raises(RuntimeError):
        identity.delete_account(session, ctx_for(user))
    session.rollback()
    session.refresh(user)
    assert user.deleted_at is None


# --- profile and preferences ---------------------------------------------------------------------


def test_email_preferences(session: Session, identity: IdentityService) -> None:
    user = make_user(session, identity)
    session.commit()
    ctx = ctx_for(user)
    prefs = identity.get_email_preferences(session, ctx)
    assert (prefs.product_updates, prefs.security_alerts, prefs.billing, prefs.marketing) == (
        True,
        True,
        True,
        False,
    )
    updated = identity.update_email_preferences(session, ctx, marketing=True, billing=False)
    session.commit()
    assert updated.marketing
    assert not updated.billing
    again = identity.update_email_preferences(session, ctx, product_updates=False)
    session.commit()
    assert (again.product_updates, again.marketing, again.billing) == (False, True, False)
    with pytest.raises(InvalidInput):
        identity.update_email_preferences(session, ctx, security_alerts=False)
    with pytest.raises(InvalidInput):
        identity.update_email_preferences(session, ctx, newsletter=True)


def test_update_profile(session: Session, identity: IdentityService) -> None:
    user = make_user(session, identity)
    session.commit()
    ctx = ctx_for(user)
    identity.update_profile(session, ctx, display_name="Ada L.", timezone="Europe/London")
    identity.update_profile(session, ctx, locale="pt-BR")
    session.commit()
    session.refresh(user)
    assert (user.display_name, user.locale, user.timezone) == ("Ada L.", "pt-BR", "Europe/London")
    identity.update_profile(session, ctx, timezone=None)
    assert user.timezone is None
    assert user.display_name == "Ada L."
    with pytest.raises(InvalidInput):
        identity.update_profile(session, ctx, timezone="Mars/Olympus_Mons")
    with pytest.raises(InvalidInput):
        identity.update_profile(session, ctx, locale="not a locale")
