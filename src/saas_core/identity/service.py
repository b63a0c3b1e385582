"""The identity service: sign-up, sign-in, sessions, passwords, email changes, account deletion.

:class:`IdentityService` is the one object host code and routes call. It composes the smaller
pieces (:class:`~saas_core.identity.sessions.SessionService`,
:class:`~saas_core.identity.throttle.LoginThrottler`,
:class:`~saas_core.identity.api_keys.ApiKeyService`) and owns the account flows. Every method is
synchronous, takes the caller's SQLAlchemy ``Session`` (and, when a signed-in user acts, the
request's :class:`~saas_core.context.RequestContext`), flushes, and never commits.

Failed sign-ins are the exception to "an error rolls everything back": :meth:`IdentityService.login`
flushes the failure counter and the security events *before* raising
:class:`~saas_core.errors.InvalidCredentials` or :class:`~saas_core.errors.AccountLocked`. The
caller must commit the session before letting such an error propagate, or throttling has no
memory (see :data:`COMMIT_ON_ERRORS`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEventType, Severity
from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.errors import (
    AccountDisabled,
    AccountLocked,
    InvalidCredentials,
    InvalidInput,
    SaasCoreError,
)
from saas_core.identity.accounts import AccountFlows
from saas_core.identity.api_keys import ApiKeyService
from saas_core.identity.common import AccountDeletionHook, Origin
from saas_core.identity.models import AuthSession, SessionRevokeReason, User, UserStatus
from saas_core.identity.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from saas_core.identity.ports import EmailSender, normalize_email
from saas_core.identity.profile import ProfileFlows
from saas_core.identity.sessions import Authenticated, IssuedSession, SessionService
from saas_core.identity.throttle import LoginThrottler, ThrottleKey

#: Errors after which the caller must still commit: they carry throttle counters and events.
COMMIT_ON_ERRORS: tuple[type[SaasCoreError], ...] = (InvalidCredentials, AccountLocked)


class IdentityService(AccountFlows, ProfileFlows):
    """Users, passwords, sessions and API keys, as plain Python.

    ``password_hasher`` defaults to argon2id with the parameters of ``settings``;
    ``deletion_hooks`` run when an account is deleted (after the security event is recorded).
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        email_sender: EmailSender,
        password_hasher: PasswordHasher | None = None,
        *,
        deletion_hooks: Sequence[AccountDeletionHook] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.email_sender = email_sender
        self.passwords = password_hasher or PasswordHasher.from_settings(settings)
        self.sessions = SessionService(settings, clock)
        self.throttle = LoginThrottler(settings, clock)
        self.api_keys = ApiKeyService(settings, clock)
        self.deletion_hooks: list[AccountDeletionHook] = list(deletion_hooks)

    # --- sign-in ---------------------------------------------------------------------------------

    def login(
        self,
        session: Session,
        *,
        email: str,
        password: str,
        ip: str | None = None,
        user_agent: str | None = None,
        request_id: str | None = None,
    ) -> IssuedSession:
        """Check the password and open a new session (a new token every time).

        Raises :class:`~saas_core.errors.AccountLocked` while the account or the address is
        locked (checked first, so even the right password is refused),
        :class:`~saas_core.errors.InvalidCredentials` for an unknown email or a wrong password
        (same message, same hashing work), and :class:`~saas_core.errors.AccountDisabled` for a
        disabled account with the right password. Commit even when the first two are raised.
        """
        origin = Origin(ip, user_agent, request_id)
        try:
            normalized = normalize_email(email)
        except InvalidInput:
            normalized = email.strip().lower()
        keys = self.throttle.keys(normalized, ip)
        try:
            self.throttle.check(session, keys)
        except AccountLocked as locked:
            self._event(
                session,
                SecurityEventType.LOGIN_FAILED,
                origin,
                severity=Severity.LOW,
                metadata={"reason": "locked", "account": keys[0].hash, **locked.extra},
            )
            raise
        user = self.find_live_user(session, normalized)
        if len(password) > MAX_PASSWORD_LENGTH:
            self._login_failed(session, keys, origin, user, reason="password_too_long")
        if user is None or user.password_hash is None:
            self.passwords.dummy_verify(password)
            self._login_failed(session, keys, origin, user, reason="unknown_account")
        if not self.passwords.verify(user.password_hash, password):
            self._login_failed(session, keys, origin, user, reason="wrong_password")
        if user.status is not UserStatus.ACTIVE:
            self._event(
                session,
                SecurityEventType.LOGIN_FAILED,
                origin,
                user_id=user.id,
                severity=Severity.LOW,
                metadata={"reason": "account_disabled"},
            )
            raise AccountDisabled()
        self.throttle.reset(session, keys[0])
        if self.passwords.needs_rehash(user.password_hash):
            user.password_hash = self.passwords.hash(password)
        user.last_login_at = self.clock.now()
        issued = self.sessions.create(session, user.id, ip=ip, user_agent=user_agent)
        self._event(
            session,
            SecurityEventType.LOGIN_SUCCEEDED,
            origin,
            user_id=user.id,
            metadata={"session": str(issued.auth_session.public_id)},
        )
        return issued

    def _login_failed(
        self,
        session: Session,
        keys: list[ThrottleKey],
        origin: Origin,
        user: User | None,
        *,
        reason: str,
    ) -> NoReturn:
        """Count the failure, record it (and any lockout it causes), then raise."""
        counts = self.throttle.record_failure(session, keys)
        user_id = user.id if user is not None else None
        self._event(
            session,
            SecurityEventType.LOGIN_FAILED,
            origin,
            user_id=user_id,
            severity=Severity.LOW,
            metadata={"reason": reason, "account": keys[0].hash, "failures": counts[0].failures},
        )
        for count in counts:
            if count.locked_now:
                self._event(
                    session,
                    SecurityEventType.LOCKOUT,
                    origin,
                    user_id=user_id,
                    severity=Severity.MEDIUM,
                    metadata={
                        "scope": count.key.kind.value,
                        "key": count.key.hash,
                        "failures": count.failures,
                        "locked_until": count.locked_until.isoformat()
                        if count.locked_until
                        else None,
                    },
                )
        raise InvalidCredentials()

    def authenticate(self, session: Session, raw_token: str) -> Authenticated:
        """The valid session of ``raw_token`` and its user (:meth:`SessionService.authenticate`)."""
        return self.sessions.authenticate(session, raw_token)

    def logout(self, session: Session, ctx: RequestContext) -> None:
        """Revoke the session the request came with."""
        user = self.require_user(ctx)
        if ctx.session_id is None:
            raise InvalidInput("this request did not come with a session")
        public_id = session.scalar(
            sa.select(AuthSession.public_id).where(AuthSession.id == ctx.session_id)
        )
        if public_id is not None:
            self.sessions.revoke(
                session, user.id, public_id, reason=SessionRevokeReason.LOGOUT, ctx=ctx
            )

    # --- own sessions ----------------------------------------------------------------------------

    def list_sessions(self, session: Session, ctx: RequestContext) -> list[AuthSession]:
        """The caller's active sessions, most recently used first."""
        return self.sessions.list_active(session, self.require_user(ctx).id)

    def revoke_session(
        self, session: Session, ctx: RequestContext, session_public_id: uuid.UUID
    ) -> AuthSession:
        """Revoke one of the caller's sessions; another user's session id is NotFound."""
        user = self.require_user(ctx)
        return self.sessions.revoke(session, user.id, session_public_id, ctx=ctx)

    def revoke_other_sessions(self, session: Session, ctx: RequestContext) -> list[uuid.UUID]:
        """Revoke every session of the caller except the current one."""
        user = self.require_user(ctx)
        return self.sessions.revoke_all(
            session,
            user.id,
            reason=SessionRevokeReason.REVOKED_BY_USER,
            keep_session_id=ctx.session_id,
            ctx=ctx,
        )

    def refresh(self, session: Session, ctx: RequestContext) -> IssuedSession:
        """Rotate the request's session (``/auth/refresh``): a new token, same absolute expiry."""
        self.require_user(ctx)
        current = session.get(AuthSession, ctx.session_id) if ctx.session_id else None
        if current is None:
            raise InvalidInput("this request did not come with a session")
        return self.sessions.rotate(session, current, ctx=ctx)
