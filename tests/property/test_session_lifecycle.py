"""The session lifecycle as a Hypothesis state machine, against a fake clock, on both databases.

A model of every issued token (last seen, absolute expiry, revoked) predicts whether each lookup
must succeed; the real :class:`~saas_core.identity.service.IdentityService` must agree at every
step, including exactly at the idle limit (limit - 1 s valid, limit + 1 s not) and the absolute
limit, across rotation, revoking one session, revoking the others, revoking all, and a password
reset. A token's stored SHA-256 (what a database copy leaks) never authenticates.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.orm import Session

from saas_core.clock import FakeClock
from saas_core.context import AuthMethod, RequestContext, UserRef
from saas_core.db.session import session_factory
from saas_core.errors import SessionExpired
from saas_core.identity.models import AuthSession, SessionRevokeReason, User
from saas_core.identity.service import IdentityService
from saas_core.identity.tokens import hash_token
from saas_core.testing import InMemoryOutbox, fast_settings, make_user
from tests.support.databases import TestDatabase

SECOND = timedelta(seconds=1)
_emails = itertools.count()


@dataclass
class ModelSession:
    """What the model knows about one issued token."""

    id: int
    public_id: uuid.UUID
    last_seen: datetime
    expires_at: datetime
    revoked: bool = False


def lifecycle_machine(db: TestDatabase) -> type[RuleBasedStateMachine]:
    """The state machine class, bound to one test database."""
    make_session = session_factory(db.engine)

    class SessionLifecycle(RuleBasedStateMachine):
        tokens = Bundle("tokens")

        def __init__(self) -> None:
            super().__init__()
            self.clock = FakeClock()
            self.outbox = InMemoryOutbox()
            self.identity = IdentityService(fast_settings(), self.clock, self.outbox)
            self.idle = self.identity.settings.session_idle_timeout
            self.touch = self.identity.settings.session_touch_interval
            self.db: Session = make_session()
            self.model: dict[str, ModelSession] = {}
            self.password = "first passphrase here"
            self.resets = 0

        def teardown(self) -> None:
            self.db.close()

        # --- the model ----------------------------------------------------------------------------

        def valid(self, token: str) -> bool:
            m = self.model[token]
            now = self.clock.now()
            return not m.revoked and now < m.expires_at and now <= m.last_seen + self.idle

        def check(self, token: str) -> None:
            """Authenticate ``token`` and compare with the model's prediction."""
            expected = self.valid(token)
            try:
                auth = self.identity.authenticate(self.db, token)
            except SessionExpired:
                self.db.rollback()
                assert not expected, f"valid token refused at {self.clock.now()}"
                return
            self.db.commit()
            assert expected, f"dead token accepted at {self.clock.now()}"
            assert auth.user.id == self.user.id
            m = self.model[token]
            if self.clock.now() - m.last_seen >= self.touch:
                m.last_seen = self.clock.now()
            assert auth.auth_session.last_seen_at == m.last_seen

        def ctx(self, session_id: int | None = None) -> RequestContext:
            return RequestContext(
                auth_method=AuthMethod.SESSION,
                user=UserRef(self.user.id, self.user.public_id, self.user.email),
                session_id=session_id,
            )

        # --- rules --------------------------------------------------------------------------------

        @initialize(target=tokens)
        def first_login(self) -> str:
            email = f"user{next(_emails)}-{uuid.uuid4().hex[:8]}@example.com"
            self.user: User = make_user(self.db, self.identity, email=email, password=self.password)
            self.db.commit()
            return self.login()

        @rule(target=tokens)
        def login(self) -> str:
            issued = self.identity.login(self.db, email=self.user.email, password=self.password)
            self.db.commit()
            now = self.clock.now()
            row = issued.auth_session
            assert row.expires_at == now + self.identity.settings.session_absolute_timeout
            assert issued.token not in self.model
            self.model[issued.token] = ModelSession(row.id, row.public_id, now, row.expires_at)
            return issued.token

        @rule(seconds=st.sampled_from([1, 59, 60, 61, 600, 1799, 1800, 1801, 3600, 43_200]))
        def advance(self, seconds: int) -> None:
            self.clock.advance(seconds=seconds)

        @rule(token=tokens)
        def authenticate(self, token: str) -> None:
            self.check(token)

        @rule(token=tokens, offset=st.sampled_from([-1, 0, 1]))
        def at_the_idle_limit(self, token: str, offset: int) -> None:
            target = self.model[token].last_seen + self.idle + offset * SECOND
            if target >= self.clock.now():
                self.clock.set(target)
            self.check(token)

        @rule(token=tokens)
        def across_the_idle_limit(self, token: str) -> None:
            """Limit - 1 s, then exactly the limit (each lookup touches), then limit + 1 s."""
            for offset in (-1, 0, 1):
                target = self.model[token].last_seen + self.idle + offset * SECOND
                if target >= self.clock.now():
                    self.clock.set(target)
                self.check(token)
            assert not self.valid(token)

        @rule(token=tokens)
        def at_the_touch_interval(self, token: str) -> None:
            """One second before the touch interval nothing is written; at the interval it is."""
            for offset in (-1, 0):
                target = self.model[token].last_seen + self.touch + offset * SECOND
                if target >= self.clock.now():
                    self.clock.set(target)
                self.check(token)

        @rule(token=tokens)
        def at_the_absolute_limit(self, token: str) -> None:
            """Keep the session busy until its absolute expiry, then cross it."""
            m = self.model[token]
            while self.valid(token) and self.clock.now() + self.idle < m.expires_at:
                self.clock.advance(self.idle - SECOND)
                self.check(token)
            if self.clock.now() < m.expires_at - SECOND:
                self.clock.set(m.expires_at - SECOND)
            self.check(token)
            if self.clock.now() < m.expires_at:
                self.clock.set(m.expires_at)
            self.check(token)
            assert not self.valid(token)

        @rule(target=tokens, token=tokens)
        def rotate(self, token: str) -> str:
            m = self.model[token]
            row = self.db.scalars(
                sa.select(AuthSession).where(AuthSession.token_hash == hash_token(token))
            ).one()
            if not self.valid(token):
                try:
                    self.identity.sessions.rotate(self.db, row)
                except SessionExpired:
                    self.db.rollback()
                    return token
                raise AssertionError("rotated a dead session")
            issued = self.identity.sessions.rotate(self.db, row)
            self.db.commit()
            m.revoked = True
            new = issued.auth_session
            assert new.expires_at == m.expires_at
            self.model[issued.token] = ModelSession(
                new.id, new.public_id, self.clock.now(), m.expires_at
            )
            return issued.token

        @rule(token=tokens)
        def revoke_one(self, token: str) -> None:
            self.identity.revoke_session(self.db, self.ctx(), self.model[token].public_id)
            self.db.commit()
            self.model[token].revoked = True

        @rule(token=tokens)
        def revoke_the_others(self, token: str) -> None:
            keep = self.model[token]
            self.identity.revoke_other_sessions(self.db, self.ctx(keep.id))
            self.db.commit()
            for other in self.model.values():
                if other is not keep:
                    other.revoked = True

        @rule()
        def revoke_all(self) -> None:
            self.identity.sessions.revoke_all(
                self.db, self.user.id, reason=SessionRevokeReason.REVOKED_BY_ADMIN
            )
            self.db.commit()
            for m in self.model.values():
                m.revoked = True

        @rule()
        def password_reset(self) -> None:
            self.identity.request_password_reset(self.db, self.user.email)
            token = self.outbox.last(to=self.user.email, kind="reset_password").token
            assert token is not None
            self.resets += 1
            self.password = f"reset passphrase number {self.resets}"
            self.identity.reset_password(self.db, token, self.password)
            self.db.commit()
            for m in self.model.values():
                m.revoked = True

        @rule(token=tokens)
        def stored_hash_never_authenticates(self, token: str) -> None:
            stored = self.db.scalar(
                sa.select(AuthSession.token_hash).where(AuthSession.id == self.model[token].id)
            )
            assert stored == hash_token(token)
            try:
                self.identity.authenticate(self.db, stored)
            except SessionExpired:
                self.db.rollback()
            else:
                raise AssertionError("a stored token hash authenticated")

        @invariant()
        def listed_sessions_are_the_valid_ones(self) -> None:
            if not hasattr(self, "user"):
                return
            listed = {s.public_id for s in self.identity.list_sessions(self.db, self.ctx())}
            self.db.rollback()
            expected = {m.public_id for t, m in self.model.items() if self.valid(t)}
            assert listed == expected

    return SessionLifecycle


def test_session_lifecycle(db: TestDatabase) -> None:
    """Done-when: the lifecycle state machine holds on SQLite and PostgreSQL."""
    run_state_machine_as_test(
        lifecycle_machine(db),
        settings=settings(max_examples=50, stateful_step_count=20, deadline=None),
    )
