"""Constraints of the identity tables, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas_core.identity.models import (
    ApiKey,
    AuthSession,
    AuthToken,
    AuthTokenPurpose,
    LoginThrottle,
    ThrottleKeyKind,
    User,
    UserEmailPreferences,
)
from saas_core.tenancy.models import Tenant
from tests.support.databases import TestDatabase

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _user(session: Session, email: str = "ada@example.com") -> User:
    user = User(email=email)
    session.add(user)
    session.flush()
    return user


def _session_row(user: User, token: str, **extra: object) -> AuthSession:
    return AuthSession(
        user_id=user.id, token_hash=_hash(token), expires_at=NOW + timedelta(hours=12), **extra
    )


def test_second_live_user_with_same_email_fails(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        _user(session)
        session.commit()
        session.add(User(email="ada@example.com"))
        with pytest.raises(IntegrityError):
            session.flush()


def test_same_email_after_soft_delete_succeeds(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        old = _user(session)
        old.deleted_at = NOW
        session.flush()
        _user(session)
        session.commit()
        emails = session.scalars(select(User.email).where(User.deleted_at.is_(None))).all()
        assert emails == ["ada@example.com"]


def test_session_token_hash_is_unique(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        user = _user(session)
        session.add(_session_row(user, "t1"))
        session.commit()
        session.add(_session_row(user, "t1"))
        with pytest.raises(IntegrityError):
            session.flush()


def test_deleting_a_user_removes_their_credentials(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        user = _user(session)
        operator = _user(session, "op@example.com")
        session.add_all(
            [
                _session_row(user, "own"),
                _session_row(operator, "op"),
                AuthToken(
                    user_id=user.id,
                    purpose=AuthTokenPurpose.VERIFY_EMAIL,
                    token_hash=_hash("verify"),
                    expires_at=NOW,
                ),
                UserEmailPreferences(user_id=user.id),
            ]
        )
        impersonated = _session_row(operator, "imp")
        impersonated.impersonator_user_id = user.id
        session.add(impersonated)
        session.commit()

        session.delete(user)
        session.commit()
        session.expire_all()
        assert session.scalars(select(AuthToken)).all() == []
        assert session.scalars(select(UserEmailPreferences)).all() == []
        remaining = session.scalars(select(AuthSession)).all()
        assert sorted(s.token_hash for s in remaining) == sorted([_hash("op"), _hash("imp")])
        assert all(s.impersonator_user_id is None for s in remaining)


def test_deleting_a_tenant_unbinds_sessions_and_removes_its_api_keys(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        user = _user(session)
        tenant = Tenant(slug="acme", name="Acme")
        session.add(tenant)
        session.flush()
        auth = _session_row(user, "t", active_tenant_id=tenant.id)
        session.add(auth)
        session.add(ApiKey(name="ci", prefix="sk_a", secret_hash=_hash("s"), created_by_id=user.id))
        session.add(
            ApiKey(name="bound", prefix="sk_b", secret_hash=_hash("s"), bound_tenant_id=tenant.id)
        )
        session.commit()

        session.delete(tenant)
        session.commit()
        session.expire_all()
        assert auth.active_tenant_id is None
        assert session.scalars(select(ApiKey.prefix)).all() == ["sk_a"]


def test_api_key_prefix_is_unique(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        session.add(ApiKey(name="a", prefix="sk_x", secret_hash=_hash("1"), permissions=["a:b"]))
        session.commit()
        session.add(ApiKey(name="b", prefix="sk_x", secret_hash=_hash("2")))
        with pytest.raises(IntegrityError):
            session.flush()


@pytest.mark.parametrize(
    ("purpose", "new_email"),
    [
        (AuthTokenPurpose.CHANGE_EMAIL, None),
        (AuthTokenPurpose.RESET_PASSWORD, "new@example.com"),
    ],
)
def test_new_email_present_exactly_for_change_email_tokens(
    db: TestDatabase, purpose: AuthTokenPurpose, new_email: str | None
) -> None:
    with Session(db.engine) as session:
        user = _user(session)
        session.add(
            AuthToken(
                user_id=user.id,
                purpose=AuthTokenPurpose.CHANGE_EMAIL,
                token_hash=_hash("ok"),
                new_email="new@example.com",
                expires_at=NOW,
            )
        )
        session.flush()
        session.add(
            AuthToken(
                user_id=user.id,
                purpose=purpose,
                token_hash=_hash("bad"),
                new_email=new_email,
                expires_at=NOW,
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_security_alerts_cannot_be_switched_off(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        prefs = UserEmailPreferences(user_id=_user(session).id, marketing=True)
        session.add(prefs)
        session.flush()
        assert prefs.security_alerts is True
        prefs.security_alerts = False
        with pytest.raises(IntegrityError):
            session.flush()


def test_one_throttle_row_per_key(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        key = _hash("ada@example.com")
        session.add(LoginThrottle(key_kind=ThrottleKeyKind.ACCOUNT, key_hash=key, window_start=NOW))
        # The same hash as an address is another counter.
        session.add(LoginThrottle(key_kind=ThrottleKeyKind.ADDRESS, key_hash=key, window_start=NOW))
        session.commit()
        session.add(LoginThrottle(key_kind=ThrottleKeyKind.ACCOUNT, key_hash=key, window_start=NOW))
        with pytest.raises(IntegrityError):
            session.flush()
