"""Sign-in: credentials, the dummy-hash path, rehashing, and login throttling with lockout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEvent, SecurityEventType
from saas_core.clock import FakeClock
from saas_core.db.session import session_factory
from saas_core.db.tenant import platform_scope
from saas_core.errors import AccountDisabled, AccountLocked, InvalidCredentials, SessionExpired
from saas_core.identity.models import AuthSession, LoginThrottle, User, UserStatus
from saas_core.identity.passwords import Argon2Parameters, PasswordHasher
from saas_core.identity.service import COMMIT_ON_ERRORS, IdentityService
from saas_core.identity.sessions import IssuedSession
from saas_core.testing import InMemoryOutbox, fast_settings, make_user
from saas_core.testing.factories import DEFAULT_PASSWORD
from tests.support.databases import TestDatabase

IP = "203.0.113.7"


class SpyHasher(PasswordHasher):
    """A cheap hasher that counts real and dummy verifications."""

    def __init__(self, parameters: Argon2Parameters | None = None) -> None:
        super().__init__(parameters or Argon2Parameters.from_settings(fast_settings()))
        self.verified = 0
        self.dummy_verified = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return super().verify(password_hash, password)

    def dummy_verify(self, password: str) -> None:
        self.dummy_verified += 1
        super().dummy_verify(password)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> SpyHasher:
    return SpyHasher()


@pytest.fixture
def identity(clock: FakeClock, hasher: SpyHasher) -> IdentityService:
    return IdentityService(fast_settings(), clock, InMemoryOutbox(), hasher)


@pytest.fixture
def session(db: TestDatabase) -> Iterator[Session]:
    with session_factory(db.engine)() as s:
        yield s


def attempt(
    session: Session, identity: IdentityService, password: str, **kwargs: Any
) -> IssuedSession:
    """One sign-in in its own transaction, committed even when it fails (as routes must)."""
    kwargs.setdefault("email", "ada@example.com")
    kwargs.setdefault("ip", IP)
    try:
        issued = identity.login(session, password=password, **kwargs)
    except COMMIT_ON_ERRORS:
        session.commit()
        raise
    session.commit()
    return issued


def events(session: Session, event_type: str) -> list[SecurityEvent]:
    """Security events of one type, oldest first (read in the platform scope, as operators do)."""
    with platform_scope(session, reason="test reads security events"):
        return list(
            session.scalars(
                sa.select(SecurityEvent)
                .where(SecurityEvent.event_type == event_type)
                .order_by(SecurityEvent.occurred_at, SecurityEvent.id)
            )
        )


def test_login_opens_a_new_session_each_time(session: Session, identity: IdentityService) -> None:
    user = make_user(session, identity)
    session.commit()
    first = attempt(session, identity, DEFAULT_PASSWORD, email="  ADA@example.com ")
    second = attempt(session, identity, DEFAULT_PASSWORD)
    assert first.token != second.token
    assert first.auth_session.id != second.auth_session.id
    assert identity.authenticate(session, first.token).user.id == user.id
    assert identity.authenticate(session, second.token).user.id == user.id
    stored = session.scalars(sa.select(AuthSession.token_hash)).all()
    assert first.token not in stored
    assert second.token not in stored
    success = events(session, SecurityEventType.LOGIN_SUCCEEDED)
    assert [e.user_id for e in success] == [user.id, user.id]
    assert success[0].ip == IP
    assert session.get(User, user.id).last_login_at is not None  # type: ignore[union-attr]


def test_wrong_password_and_unknown_email_fail_alike(
    session: Session, identity: IdentityService, hasher: SpyHasher
) -> None:
    make_user(session, identity)
    session.commit()
    with pytest.raises(InvalidCredentials) as wrong:
        attempt(session, identity, "not the password at all")
    assert (hasher.verified, hasher.dummy_verified) == (1, 0)
    with pytest.raises(InvalidCredentials) as unknown:
        attempt(session, identity, "not the password at all", email="nobody@example.com")
    # The unknown email did the same argon2 work, against the dummy hash.
    assert hasher.dummy_verified == 1
    assert wrong.value.detail == unknown.value.detail
    assert wrong.value.code == unknown.value.code
    reasons = [e.metadata_["reason"] for e in events(session, SecurityEventType.LOGIN_FAILED)]
    assert reasons == ["wrong_password", "unknown_account"]


def test_passwordless_account_takes_the_dummy_path(
    session: Session, identity: IdentityService, hasher: SpyHasher
) -> None:
    make_user(session, identity, password=None)
    session.commit()
    with pytest.raises(InvalidCredentials):
        attempt(session, identity, "")
    assert hasher.dummy_verified == 1


def test_login_rehashes_when_parameters_rise(
    session: Session, clock: FakeClock, hasher: SpyHasher
) -> None:
    weak = IdentityService(fast_settings(), clock, InMemoryOutbox(), hasher)
    user = make_user(session, weak)
    session.commit()
    old_hash = user.password_hash
    stronger = Argon2Parameters(memory_cost_kib=128, time_cost=2, parallelism=1)
    strong = IdentityService(fast_settings(), clock, InMemoryOutbox(), PasswordHasher(stronger))
    attempt(session, strong, DEFAULT_PASSWORD)
    session.refresh(user)
    assert user.password_hash != old_hash
    assert "m=128,t=2,p=1" in (user.password_hash or "")
    # The new hash still verifies, and a second login does not rehash again.
    attempt(session, strong, DEFAULT_PASSWORD)
    session.refresh(user)
    assert "m=128,t=2,p=1" in (user.password_hash or "")


def test_disabled_and_deleted_accounts_cannot_sign_in(
    session: Session, identity: IdentityService
) -> None:
    user = make_user(session, identity)
    user.status = UserStatus.DISABLED
    session.commit()
    with pytest.raises(AccountDisabled):
        attempt(session, identity, DEFAULT_PASSWORD)
    session.rollback()
    user.status = UserStatus.ACTIVE
    user.deleted_at = identity.clock.now()
    session.commit()
    with pytest.raises(InvalidCredentials):  # a deleted account is not found at all
        attempt(session, identity, DEFAULT_PASSWORD)


def test_sixth_attempt_is_locked_even_with_the_right_password(
    session: Session, identity: IdentityService, clock: FakeClock
) -> None:
    """Done-when: N failures lock the account; the N+1th is refused with the right password."""
    user = make_user(session, identity)
    session.commit()
    limit = identity.settings.login_max_failures
    for _ in range(limit):
        clock.advance(seconds=10)
        with pytest.raises(InvalidCredentials):
            attempt(session, identity, "a wrong password")
    clock.advance(seconds=10)
    with pytest.raises(AccountLocked) as locked:
        attempt(session, identity, DEFAULT_PASSWORD)
    assert locked.value.extra["scope"] == "account"
    assert 0 < locked.value.extra["retry_after"] <= identity.settings.login_lockout.seconds

    failed = events(session, SecurityEventType.LOGIN_FAILED)
    assert [e.metadata_["reason"] for e in failed] == ["wrong_password"] * limit + ["locked"]
    assert [e.metadata_.get("failures") for e in failed[:limit]] == list(range(1, limit + 1))
    assert all(e.user_id == user.id for e in failed[:limit])
    lockouts = events(session, SecurityEventType.LOCKOUT)
    assert len(lockouts) == 1
    assert lockouts[0].metadata_["scope"] == "account"
    assert lockouts[0].user_id == user.id
    assert not events(session, SecurityEventType.LOGIN_SUCCEEDED)

    # Still locked one second before the lockout ends; signs in once it has passed.
    clock.advance(identity.settings.login_lockout - timedelta(seconds=11))
    with pytest.raises(AccountLocked):
        attempt(session, identity, DEFAULT_PASSWORD)
    clock.advance(seconds=2)
    issued = attempt(session, identity, DEFAULT_PASSWORD)
    assert identity.authenticate(session, issued.token).user.id == user.id
    # Success cleared the account's counter.
    assert (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(LoginThrottle)
            .where(LoginThrottle.key_kind == "account")
        )
        == 0
    )


def test_unknown_email_is_locked_the_same_way(session: Session, identity: IdentityService) -> None:
    for _ in range(identity.settings.login_max_failures):
        with pytest.raises(InvalidCredentials):
            attempt(session, identity, "whatever it is", email="ghost@example.com")
    with pytest.raises(AccountLocked):
        attempt(session, identity, "whatever it is", email="ghost@example.com")
    assert len(events(session, SecurityEventType.LOCKOUT)) == 1


def test_success_resets_the_account_counter(
    session: Session, identity: IdentityService, clock: FakeClock
) -> None:
    make_user(session, identity)
    session.commit()
    limit = identity.settings.login_max_failures
    for _ in range(2):
        for _ in range(limit - 1):
            with pytest.raises(InvalidCredentials):
                attempt(session, identity, "a wrong password")
        attempt(session, identity, DEFAULT_PASSWORD)
    assert not events(session, SecurityEventType.LOCKOUT)


def test_failures_outside_the_window_do_not_add_up(
    session: Session, identity: IdentityService, clock: FakeClock
) -> None:
    make_user(session, identity)
    session.commit()
    limit = identity.settings.login_max_failures
    for _ in range(limit - 1):
        with pytest.raises(InvalidCredentials):
            attempt(session, identity, "a wrong password")
    clock.advance(identity.settings.login_failure_window + timedelta(seconds=1))
    for _ in range(limit - 1):
        with pytest.raises(InvalidCredentials):
            attempt(session, identity, "a wrong password")
    attempt(session, identity, DEFAULT_PASSWORD)
    assert not events(session, SecurityEventType.LOCKOUT)


def test_one_address_guessing_many_accounts_is_locked(
    session: Session, clock: FakeClock, hasher: SpyHasher
) -> None:
    identity = IdentityService(
        fast_settings(address_max_failures=3), clock, InMemoryOutbox(), hasher
    )
    make_user(session, identity, email="victim@example.com")
    session.commit()
    for n in range(3):
        with pytest.raises(InvalidCredentials):
            attempt(session, identity, "guess guess guess", email=f"user{n}@example.com")
    with pytest.raises(AccountLocked) as locked:
        attempt(session, identity, DEFAULT_PASSWORD, email="victim@example.com")
    assert locked.value.extra["scope"] == "address"
    # Another address is not affected.
    attempt(session, identity, DEFAULT_PASSWORD, email="victim@example.com", ip="198.51.100.1")
    lockouts = events(session, SecurityEventType.LOCKOUT)
    assert [e.metadata_["scope"] for e in lockouts] == ["address"]


def test_a_stored_token_hash_never_authenticates(
    session: Session, identity: IdentityService
) -> None:
    make_user(session, identity)
    session.commit()
    issued = attempt(session, identity, DEFAULT_PASSWORD)
    stored = session.scalar(sa.select(AuthSession.token_hash))
    assert stored is not None
    with pytest.raises(SessionExpired):
        identity.authenticate(session, stored)
    assert identity.authenticate(session, issued.token).auth_session.token_hash == stored


def test_sign_in_under_row_level_security(pg: TestDatabase) -> None:
    """As the non-owner application role, failures, lockouts and successes are all recorded."""
    identity = IdentityService(fast_settings(), FakeClock(), InMemoryOutbox(), SpyHasher())
    with session_factory(pg.app_engine)() as session:
        make_user(session, identity)
        session.commit()
        with pytest.raises(InvalidCredentials):
            identity.login(session, email="ada@example.com", password="a wrong password")
        # The platform scope was on for the event's INSERT only.
        scope = session.scalar(sa.select(sa.func.current_setting("app.platform_scope", True)))
        assert scope in ("", None)
        session.commit()
        attempt(session, identity, DEFAULT_PASSWORD)
        assert len(events(session, SecurityEventType.LOGIN_FAILED)) == 1
        assert len(events(session, SecurityEventType.LOGIN_SUCCEEDED)) == 1


def test_concurrent_failures_lock_exactly_once(pg: TestDatabase) -> None:
    """Parallel wrong passwords on PostgreSQL: exact counts, one lockout, the rest refused."""
    import threading

    identity = IdentityService(fast_settings(), FakeClock(), InMemoryOutbox(), SpyHasher())
    make_session = session_factory(pg.app_engine)
    with make_session() as setup:
        make_user(setup, identity)
        setup.commit()
    attempts = 12
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []

    def guess() -> None:
        with make_session() as session:
            barrier.wait()
            try:
                identity.login(session, email="ada@example.com", password="a wrong password")
            except (InvalidCredentials, AccountLocked) as error:
                session.commit()
                outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=guess) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == attempts
    with make_session() as session:
        assert len(events(session, SecurityEventType.LOCKOUT)) == 1
        counted = session.scalar(
            sa.select(LoginThrottle.failures).where(LoginThrottle.key_kind == "account")
        )
        failed = events(session, SecurityEventType.LOGIN_FAILED)
    wrong = [e for e in failed if e.metadata_["reason"] == "wrong_password"]
    assert counted == len(wrong) == outcomes.count("InvalidCredentials")
    assert sorted(e.metadata_["failures"] for e in wrong) == list(range(1, counted + 1))
    assert counted >= identity.settings.login_max_failures
