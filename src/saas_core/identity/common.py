"""What the identity flows share: the service's parts, lookups, re-authentication, events, email.

:class:`IdentityBase` is the base of the flow classes (:mod:`~saas_core.identity.accounts`,
:mod:`~saas_core.identity.profile`) that :class:`~saas_core.identity.service.IdentityService`
combines; it holds no state of its own beyond what the service's constructor sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from saas_core.audit.models import SecurityEventType, Severity
from saas_core.audit.security import record_security_event
from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext, UserRef
from saas_core.errors import AccountLocked, InvalidCredentials, Unauthenticated, UserNotFound
from saas_core.identity.api_keys import ApiKeyService
from saas_core.identity.models import AuthSession, User
from saas_core.identity.passwords import PasswordHasher, check_password_policy
from saas_core.identity.ports import EmailMessage, EmailSender
from saas_core.identity.sessions import SessionService
from saas_core.identity.throttle import LoginThrottler, ThrottleKey


class AccountDeletionHook(Protocol):
    """Called by ``IdentityService.delete_account`` once the account is soft-deleted.

    The GDPR erasure workflow plugs in here (open a deletion request, schedule the erasure).
    Hooks run in the same transaction, after the ``account_deleted`` security event is recorded;
    raising aborts the deletion.
    """

    def __call__(self, session: Session, user: User, ctx: RequestContext) -> None:
        """React to ``user``'s deletion."""
        ...


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as security events record it."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, ctx: RequestContext | None) -> Origin:
        """The origin of ``ctx`` (empty without a context)."""
        if ctx is None:
            return cls()
        return cls(ctx.client_ip, ctx.user_agent, ctx.request_id)


class IdentityBase:
    """What the identity flows share; ``IdentityService.__init__`` sets the attributes."""

    settings: Settings
    clock: Clock
    email_sender: EmailSender
    passwords: PasswordHasher
    sessions: SessionService
    throttle: LoginThrottler
    api_keys: ApiKeyService
    deletion_hooks: list[AccountDeletionHook]

    # --- lookups ----------------------------------------------------------------------------------

    def require_user(self, ctx: RequestContext) -> UserRef:
        """The signed-in user of ``ctx``; :class:`~saas_core.errors.Unauthenticated` otherwise."""
        if ctx.user is None:
            raise Unauthenticated()
        return ctx.user

    def current_user(self, session: Session, ctx: RequestContext) -> User:
        """The live :class:`User` row of ``ctx``'s user (``GET /me``)."""
        user = session.get(User, self.require_user(ctx).id)
        if user is None or user.deleted_at is not None:
            raise UserNotFound()
        return user

    def find_live_user(self, session: Session, normalized_email: str) -> User | None:
        """The live (not deleted) user with this normalised email, if any."""
        return session.scalars(
            sa.select(User).where(User.email == normalized_email, User.deleted_at.is_(None))
        ).one_or_none()

    # --- helpers ----------------------------------------------------------------------------------

    def _live_user(self, session: Session, user_id: int) -> User:
        user = session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            raise UserNotFound()
        return user

    def _set_password(self, user: User, new_password: str) -> None:
        check_password_policy(
            new_password, email=user.email, min_length=self.settings.password_min_length
        )
        now = self.clock.now()
        user.password_hash = self.passwords.hash(new_password)
        user.password_changed_at = now
        user.updated_at = now

    def _reauthenticate(
        self, session: Session, ctx: RequestContext, user: User, password: str
    ) -> None:
        """Check ``user``'s password for a sensitive action, throttled like a sign-in.

        A wrong password counts against the account's lockout (a stolen session must not become
        a password oracle); like :meth:`login`, commit before letting the error propagate.
        """
        keys = [ThrottleKey.account(user.email)]
        origin = Origin.of(ctx)
        try:
            self.throttle.check(session, keys)
        except AccountLocked:
            self._event(
                session,
                SecurityEventType.LOGIN_FAILED,
                origin,
                user_id=user.id,
                severity=Severity.LOW,
                metadata={"reason": "locked", "reauthentication": True},
            )
            raise
        if user.password_hash is None or not self.passwords.verify(user.password_hash, password):
            self._reauthentication_failed(session, keys, origin, user)
        if ctx.session_id is not None:
            session.execute(
                sa.update(AuthSession)
                .where(AuthSession.id == ctx.session_id, AuthSession.user_id == user.id)
                .values(authenticated_at=self.clock.now())
                .execution_options(synchronize_session="fetch")
            )

    def _reauthentication_failed(
        self, session: Session, keys: list[ThrottleKey], origin: Origin, user: User
    ) -> NoReturn:
        (count,) = self.throttle.record_failure(session, keys)
        self._event(
            session,
            SecurityEventType.LOGIN_FAILED,
            origin,
            user_id=user.id,
            severity=Severity.LOW,
            metadata={"reason": "wrong_password", "reauthentication": True},
        )
        if count.locked_now:
            self._event(
                session,
                SecurityEventType.LOCKOUT,
                origin,
                user_id=user.id,
                severity=Severity.MEDIUM,
                metadata={"scope": count.key.kind.value, "failures": count.failures},
            )
        raise InvalidCredentials()

    def _send(self, to: str, kind: str, subject: str, token: str | None) -> None:
        self.email_sender.send(
            EmailMessage(to=to, subject=subject, text=_body(kind, token), kind=kind, token=token)
        )

    def _event(
        self,
        session: Session,
        event_type: str,
        origin: Origin,
        *,
        user_id: int | None = None,
        severity: Severity = Severity.INFO,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        record_security_event(
            session,
            event_type=event_type,
            severity=severity,
            user_id=user_id,
            ip=origin.ip,
            user_agent=origin.user_agent,
            request_id=origin.request_id,
            metadata=metadata,
            clock=self.clock,
        )


_BODIES: dict[str, str] = {
    "verify_email": "Confirm your email address with this code:\n\n{token}\n",
    "reset_password": "Reset your password with this code:\n\n{token}\n\n"
    "If you did not ask for a reset, ignore this email: your password is unchanged.\n",
    "change_email": "Confirm your new email address with this code:\n\n{token}\n",
    "email_change_notice": "Someone signed in to your account asked to change its email "
    "address. If it was not you, reset your password now.\n",
}


def _body(kind: str, token: str | None) -> str:
    return _BODIES[kind].format(token=token or "")
