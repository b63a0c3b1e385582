"""Server-side sessions (``auth_sessions``): issue, authenticate, rotate, list, revoke.

A session token is 32 random bytes; the table stores only its SHA-256 (see
:mod:`saas_core.identity.tokens`). :meth:`SessionService.authenticate` hashes what the client
sends, so a hash copied out of the database never authenticates.

Lifetime, measured with the service's :class:`~saas_core.clock.Clock`:

* absolute: ``expires_at`` is fixed when the session is created (login time +
  ``Settings.session_absolute_timeout``, 12 h by default) and rotation keeps it, so refreshing a
  session never extends it; the session is expired once ``now >= expires_at``;
* idle: the session is expired once ``now > last_seen_at + Settings.session_idle_timeout`` (30 min
  by default): one second before the limit it is valid, one second after it is not. The idle
  limit is computed from the setting, not stored, so a changed setting applies to live sessions.

``last_seen_at`` is written at most once per ``Settings.session_touch_interval`` (60 s by
default) rather than on every request, which keeps authentication read-only for most requests.
The price: idle time counts from the last *recorded* activity, so a session may idle out up to
one touch interval earlier than the latest request would suggest.

Revocation (logout, "sign out other devices", password change or reset, account deletion,
rotation) sets ``revoked_at`` and takes effect on the next lookup; each one records a security
event.

Two ways in: :meth:`SessionService.authenticate` returns the ORM objects (for the services that
change a session), :meth:`SessionService.verify` the few plain values every request needs, read
with one lean statement (:mod:`saas_core.identity.session_lookup`) and the same rules
(:meth:`SessionService.accept`).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session, attributes

from saas_core.audit.models import SecurityEventType, Severity
from saas_core.audit.security import record_security_event
from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.errors import AccountDisabled, NotFound, SessionExpired
from saas_core.identity.models import AuthSession, SessionRevokeReason, User, UserStatus
from saas_core.identity.session_lookup import (
    LOOKUP_WIDTH,
    SESSION_LOOKUP,
    SESSION_TOUCH,
    ValidSession,
)
from saas_core.identity.tokens import hash_token, new_token

#: Longest credential worth hashing; anything longer is not one of our tokens.
MAX_TOKEN_LENGTH = 512


class Keep(enum.Enum):
    """Sentinel type: "leave this value as it is"."""

    KEEP = "keep"


#: Sentinel for :meth:`SessionService.rotate`: keep the old session's value.
KEEP: Literal[Keep.KEEP] = Keep.KEEP


class IssuedSession(NamedTuple):
    """A new session: ``token`` goes to the client once (cookie or bearer), never stored."""

    token: str
    auth_session: AuthSession


class Authenticated(NamedTuple):
    """A valid session and its user, as returned by :meth:`SessionService.authenticate`."""

    auth_session: AuthSession
    user: User


class SessionState(enum.StrEnum):
    """Whether a session row can authenticate at a given instant."""

    ACTIVE = "active"
    REVOKED = "revoked"
    IDLE_EXPIRED = "idle_expired"
    EXPIRED = "expired"


def _state(
    revoked_at: datetime | None,
    expires_at: datetime,
    last_seen_at: datetime,
    now: datetime,
    idle_timeout: timedelta,
) -> SessionState:
    if revoked_at is not None:
        return SessionState.REVOKED
    if now >= expires_at:
        return SessionState.EXPIRED
    if now > last_seen_at + idle_timeout:
        return SessionState.IDLE_EXPIRED
    return SessionState.ACTIVE


class SessionService:
    """Issues and checks sessions. Methods flush; the caller's unit of work commits."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def state(self, auth_session: AuthSession, now: datetime | None = None) -> SessionState:
        """The state of ``auth_session`` at ``now`` (default: the clock's now)."""
        return _state(
            auth_session.revoked_at,
            auth_session.expires_at,
            auth_session.last_seen_at,
            now or self.clock.now(),
            self.settings.session_idle_timeout,
        )

    def create(
        self,
        session: Session,
        user_id: int,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        active_tenant_id: int | None = None,
        impersonator_user_id: int | None = None,
        authenticated_at: datetime | None = None,
        expires_at: datetime | None = None,
        rotated_from_id: int | None = None,
    ) -> IssuedSession:
        """Insert a new session for ``user_id`` with a fresh token (login calls this)."""
        now = self.clock.now()
        token = new_token()
        absolute = now + self.settings.session_absolute_timeout
        row = AuthSession(
            user_id=user_id,
            token_hash=token.hash,
            active_tenant_id=active_tenant_id,
            impersonator_user_id=impersonator_user_id,
            rotated_from_id=rotated_from_id,
            authenticated_at=authenticated_at or now,
            last_seen_at=now,
            expires_at=min(expires_at, absolute) if expires_at else absolute,
            ip=ip,
            user_agent=user_agent[:512] if user_agent else None,
            created_at=now,
        )
        session.add(row)
        session.flush()
        return IssuedSession(token.raw, row)

    def authenticate(self, session: Session, raw_token: str) -> Authenticated:
        """The valid session whose token is ``raw_token``, and its user.

        One query (session joined to user), plus one UPDATE of ``last_seen_at`` at most once per
        touch interval. Raises :class:`~saas_core.errors.SessionExpired` for an unknown, revoked,
        idle or expired token, and :class:`~saas_core.errors.AccountDisabled` when the user is
        disabled or deleted.
        """
        if not raw_token or len(raw_token) > MAX_TOKEN_LENGTH:
            raise SessionExpired()
        row = session.execute(
            sa.select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.token_hash == hash_token(raw_token))
        ).one_or_none()
        if row is None:
            raise SessionExpired()
        auth_session, user = row
        now = self.clock.now()
        if self.state(auth_session, now) is not SessionState.ACTIVE:
            raise SessionExpired()
        if user.deleted_at is not None or user.status is not UserStatus.ACTIVE:
            raise AccountDisabled()
        if now - auth_session.last_seen_at >= self.settings.session_touch_interval:
            auth_session.last_seen_at = now
            session.flush()
        return Authenticated(auth_session, user)

    def verify(
        self, session: Session, raw_token: str, *, now: datetime | None = None
    ) -> ValidSession:
        """:meth:`authenticate` in plain values: the same rules, no ORM objects loaded.

        One statement (``SESSION_LOOKUP``), plus the throttled ``last_seen_at`` update.
        ``now`` defaults to the clock's.
        """
        now = now or self.clock.now()
        params = self.lookup_params(raw_token, now)
        if session.autoflush:
            session.flush()  # as a query would: what the caller added is visible to the lookup
        return self.accept(session, SESSION_LOOKUP.first(session.connection(), params), now)

    def lookup_params(self, raw_token: str, now: datetime) -> dict[str, Any]:
        """Parameters of the session lookup (and its validity check in SQL) for ``raw_token``.

        Raises :class:`~saas_core.errors.SessionExpired` for a token that cannot be one of ours.
        """
        if not raw_token or len(raw_token) > MAX_TOKEN_LENGTH:
            raise SessionExpired()
        return {
            "token_hash": hash_token(raw_token),
            "now": now,
            "idle_since": now - self.settings.session_idle_timeout,
        }

    def accept(self, session: Session, row: Sequence[Any] | None, now: datetime) -> ValidSession:
        """Check a session lookup row (``None``: no such token) as of ``now``.

        Raises :class:`~saas_core.errors.SessionExpired` or
        :class:`~saas_core.errors.AccountDisabled` exactly as :meth:`authenticate` does, and
        records activity (``last_seen_at``) at most once per touch interval.
        """
        if row is None:
            raise SessionExpired()
        (
            session_id,
            user_id,
            active_tenant_id,
            impersonator_user_id,
            revoked_at,
            expires_at,
            last_seen_at,
            public_id,
            email,
            status,
            deleted_at,
        ) = row[:LOOKUP_WIDTH]
        idle = self.settings.session_idle_timeout
        if _state(revoked_at, expires_at, last_seen_at, now, idle) is not SessionState.ACTIVE:
            raise SessionExpired()
        if deleted_at is not None or status != UserStatus.ACTIVE:
            raise AccountDisabled()
        if now - last_seen_at >= self.settings.session_touch_interval:
            SESSION_TOUCH.run(session.connection(), {"session_id": session_id, "now": now})
            loaded = session.identity_map.get(session.identity_key(AuthSession, session_id))
            if loaded is not None:  # keep an already loaded row in step with the database
                attributes.set_committed_value(loaded, "last_seen_at", now)
        return ValidSession(
            session_id, user_id, public_id, email, active_tenant_id, impersonator_user_id
        )

    def rotate(
        self,
        session: Session,
        auth_session: AuthSession,
        *,
        ctx: RequestContext | None = None,
        user_id: int | None = None,
        impersonator_user_id: int | Literal[Keep.KEEP] | None = KEEP,
        active_tenant_id: int | Literal[Keep.KEEP] | None = KEEP,
        expires_at: datetime | None = None,
        reason: SessionRevokeReason = SessionRevokeReason.ROTATED,
    ) -> IssuedSession:
        """Replace ``auth_session`` with a new token; the old token stops working at once.

        For privilege changes (impersonation start and stop, ``/auth/refresh``). The new session
        keeps the old one's absolute expiry (``expires_at`` may only shorten it), login time,
        client and, unless overridden, its user, impersonator and active tenant.
        """
        now = self.clock.now()
        if self.state(auth_session, now) is not SessionState.ACTIVE:
            raise SessionExpired()
        auth_session.revoked_at = now
        auth_session.revoked_reason = reason
        issued = self.create(
            session,
            user_id if user_id is not None else auth_session.user_id,
            ip=ctx.client_ip if ctx and ctx.client_ip else auth_session.ip,
            user_agent=ctx.user_agent if ctx and ctx.user_agent else auth_session.user_agent,
            active_tenant_id=(
                auth_session.active_tenant_id if active_tenant_id is KEEP else active_tenant_id
            ),
            impersonator_user_id=(
                auth_session.impersonator_user_id
                if impersonator_user_id is KEEP
                else impersonator_user_id
            ),
            authenticated_at=auth_session.authenticated_at,
            expires_at=min(expires_at, auth_session.expires_at)
            if expires_at
            else auth_session.expires_at,
            rotated_from_id=auth_session.id,
        )
        self._record(
            session,
            ctx,
            user_id=auth_session.user_id,
            reason=reason,
            revoked=[auth_session.public_id],
            extra={"new_session": str(issued.auth_session.public_id)},
        )
        return issued

    def list_active(self, session: Session, user_id: int) -> list[AuthSession]:
        """The user's sessions that can still authenticate, most recently used first."""
        now = self.clock.now()
        return list(
            session.scalars(
                sa.select(AuthSession)
                .where(
                    AuthSession.user_id == user_id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > now,
                    AuthSession.last_seen_at >= now - self.settings.session_idle_timeout,
                )
                .order_by(AuthSession.last_seen_at.desc(), AuthSession.id.desc())
            )
        )

    def revoke(
        self,
        session: Session,
        user_id: int,
        session_public_id: uuid.UUID,
        *,
        reason: SessionRevokeReason = SessionRevokeReason.REVOKED_BY_USER,
        ctx: RequestContext | None = None,
    ) -> AuthSession:
        """Revoke one of ``user_id``'s sessions by public id.

        Another user's session, or an unknown id, is :class:`~saas_core.errors.NotFound` (never a
        403: the caller learns nothing about other users' sessions). Revoking an already revoked
        session is a no-op that records nothing.
        """
        target = session.scalars(
            sa.select(AuthSession).where(
                AuthSession.public_id == session_public_id, AuthSession.user_id == user_id
            )
        ).one_or_none()
        if target is None:
            raise NotFound("no such session")
        if target.revoked_at is None:
            target.revoked_at = self.clock.now()
            target.revoked_reason = reason
            session.flush()
            self._record(session, ctx, user_id=user_id, reason=reason, revoked=[target.public_id])
        return target

    def revoke_all(
        self,
        session: Session,
        user_id: int,
        *,
        reason: SessionRevokeReason,
        keep_session_id: int | None = None,
        ctx: RequestContext | None = None,
    ) -> list[uuid.UUID]:
        """Revoke every unrevoked session of ``user_id`` except ``keep_session_id``.

        Returns the public ids revoked; one security event lists them all.
        """
        statement = (
            sa.update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=self.clock.now(), revoked_reason=reason)
            .returning(AuthSession.public_id)
            .execution_options(synchronize_session="fetch")
        )
        if keep_session_id is not None:
            statement = statement.where(AuthSession.id != keep_session_id)
        revoked = sorted(session.scalars(statement).all())
        if revoked:
            self._record(session, ctx, user_id=user_id, reason=reason, revoked=revoked)
        return revoked

    def _record(
        self,
        session: Session,
        ctx: RequestContext | None,
        *,
        user_id: int,
        reason: SessionRevokeReason,
        revoked: list[uuid.UUID],
        extra: dict[str, str] | None = None,
    ) -> None:
        event_type = (
            SecurityEventType.LOGOUT
            if reason is SessionRevokeReason.LOGOUT
            else SecurityEventType.SESSION_REVOKED
        )
        metadata: dict[str, object] = {
            "reason": reason.value,
            "sessions": [str(public_id) for public_id in revoked],
            **(extra or {}),
        }
        if ctx is not None and ctx.user is not None and ctx.user.id != user_id:
            metadata["actor_user_id"] = ctx.user.id
        if ctx is not None and ctx.impersonator is not None:
            metadata["impersonator_user_id"] = ctx.impersonator.id
        record_security_event(
            session,
            event_type=event_type,
            severity=Severity.INFO,
            user_id=user_id,
            ip=ctx.client_ip if ctx else None,
            user_agent=ctx.user_agent if ctx else None,
            request_id=ctx.request_id if ctx else None,
            metadata=metadata,
            clock=self.clock,
        )
