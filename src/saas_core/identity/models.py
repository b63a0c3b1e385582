"""Tables of the identity domain: users, sessions, single-use tokens, preferences, API keys,
login throttles.

Secrets never rest in clear: session tokens, single-use tokens and API key secrets are stored as
SHA-256 hex digests (``token_hash`` / ``secret_hash``), so a copy of the database cannot sign in.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.clock import utcnow
from saas_core.db.base import Base
from saas_core.db.mixins import (
    CreatedAtMixin,
    IdMixin,
    PublicIdMixin,
    SoftDeleteMixin,
    TimestampMixin,
)
from saas_core.db.types import enum_type

#: Length of a SHA-256 hex digest, the stored form of every token.
SHA256_HEX_LENGTH = 64


class UserStatus(enum.StrEnum):
    """Whether an account may sign in."""

    ACTIVE = "active"
    DISABLED = "disabled"


class User(IdMixin, PublicIdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A person (or service identity) who can sign in. The seed's ``user`` table.

    ``email`` is stored normalised (trimmed, lower-cased). It is unique among live accounts
    only: a partial unique index ignores soft-deleted rows, so an address can sign up again after
    its old account was deleted (seed review fix 8).
    """

    __tablename__ = "users"
    __table_args__ = (
        Index(
            "uq_users_email_live",
            "email",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )

    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[UserStatus] = mapped_column(
        enum_type(UserStatus, "user_status"), default=UserStatus.ACTIVE
    )
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)


class SessionRevokeReason(enum.StrEnum):
    """Why a session stopped being valid before its expiry."""

    LOGOUT = "logout"
    ROTATED = "rotated"
    REVOKED_BY_USER = "revoked_by_user"
    REVOKED_BY_ADMIN = "revoked_by_admin"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason code, not a secret
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason code, not a secret
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_DELETED = "account_deleted"
    IMPERSONATION_ENDED = "impersonation_ended"


class AuthSession(IdMixin, PublicIdMixin, CreatedAtMixin, Base):
    """A signed-in browser or client (the seed's ``auth_sessions``).

    Only the SHA-256 of the opaque token is stored. A session is valid while ``revoked_at`` is
    NULL, ``now < expires_at`` (the absolute limit, fixed at creation) and
    ``now < last_seen_at + idle timeout``. The idle limit is computed from the configured timeout
    rather than stored, so changing the setting applies to live sessions; ``last_seen_at`` is
    written at most once per ``session_touch_interval``.

    ``active_tenant_id`` is deliberately not called ``tenant_id``: sessions are looked up before
    any tenant is bound, so this table must stay outside tenant Row Level Security.

    Rotation (login, impersonation start/stop) creates a new row whose ``rotated_from_id`` names
    the old one; the old row is revoked with reason ``rotated``.
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (
        Index(None, "user_id", "revoked_at"),
        Index(None, "expires_at"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), unique=True)
    active_tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="SET NULL"), default=None, index=True
    )
    #: Set when an operator impersonates ``user_id``; the real actor for audit purposes.
    impersonator_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    rotated_from_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("auth_sessions.id", ondelete="SET NULL"), default=None
    )
    #: When the user last presented their password in this session (re-authentication).
    authenticated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Absolute expiry, independent of activity.
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[SessionRevokeReason | None] = mapped_column(
        enum_type(SessionRevokeReason, "auth_session_revoke_reason"), default=None
    )
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)


class AuthTokenPurpose(enum.StrEnum):
    """What a single-use token proves."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose code, not a secret
    CHANGE_EMAIL = "change_email"


class AuthToken(IdMixin, CreatedAtMixin, Base):
    """A single-use, expiring token sent by email (verification, password reset, email change).

    Valid while ``used_at`` and ``revoked_at`` are NULL and ``now < expires_at``. Issuing a new
    token of a purpose revokes the user's older ones (``revoked_at``), which keeps "used" meaning
    used. ``new_email`` is present exactly for ``change_email`` tokens (a CHECK holds it).
    """

    __tablename__ = "auth_tokens"
    __table_args__ = (
        Index(None, "user_id", "purpose"),
        CheckConstraint(
            "(purpose = 'change_email') = (new_email IS NOT NULL)",
            name="new_email_iff_change_email",
        ),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[AuthTokenPurpose] = mapped_column(
        enum_type(AuthTokenPurpose, "auth_token_purpose")
    )
    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(320), default=None)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class UserEmailPreferences(IdMixin, TimestampMixin, Base):
    """Which optional emails a user receives (``PATCH /me/preferences/email``).

    One boolean per category rather than a JSON document, so each category has a default, a
    type and a constraint. ``security_alerts`` cannot be switched off (a CHECK holds it): it is
    stored so the API shows it, not so it can change. ``marketing`` defaults to off (opt-in);
    the consent record itself lives in ``privacy_user_consents``. A user with no row gets the
    defaults.
    """

    __tablename__ = "user_email_preferences"
    __table_args__ = (CheckConstraint("security_alerts = true", name="security_alerts_always_on"),)

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    product_updates: Mapped[bool] = mapped_column(default=True)
    security_alerts: Mapped[bool] = mapped_column(default=True)
    billing: Mapped[bool] = mapped_column(default=True)
    marketing: Mapped[bool] = mapped_column(default=False)


class ApiKey(IdMixin, PublicIdMixin, CreatedAtMixin, Base):
    """A credential for service-to-service calls (the seed's ``/internal/...`` routes).

    The key handed out once is ``<prefix>.<secret>``: ``prefix`` is visible (shown in lists,
    used to find the row) and ``secret_hash`` is the SHA-256 of the high-entropy secret.
    ``permissions`` is the JSON list of permission keys (scopes) the key may use, never more
    than its creator held.

    ``bound_tenant_id`` is deliberately not called ``tenant_id``: keys are looked up before a
    tenant is bound. NULL means a platform key (only platform permissions apply).
    """

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    bound_tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), default=None, index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    permissions: Mapped[list[Any]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_ip: Mapped[str | None] = mapped_column(String(45), default=None)


class ThrottleKeyKind(enum.StrEnum):
    """What a login throttle counts failures for."""

    ACCOUNT = "account"
    ADDRESS = "address"


class LoginThrottle(IdMixin, Base):
    """Failed sign-in counter for one account or one client address, with its lockout.

    ``key_hash`` is the SHA-256 of the normalised email (``account``) or client address
    (``address``): no personal data in clear, and no foreign key to ``users``, so attempts on
    unknown addresses are throttled the same way as on real ones (no account enumeration).
    ``failures`` counts failures since ``window_start``; the window restarts once it has passed.
    Sign-in is refused while ``now < locked_until``.
    """

    __tablename__ = "login_throttles"
    __table_args__ = (
        UniqueConstraint("key_kind", "key_hash"),
        CheckConstraint("failures >= 0", name="failures_non_negative"),
    )

    key_kind: Mapped[ThrottleKeyKind] = mapped_column(
        enum_type(ThrottleKeyKind, "login_throttle_key_kind")
    )
    key_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    window_start: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(default=None)
    locked_until: Mapped[datetime | None] = mapped_column(default=None, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
