"""Tables of the platform domain: impersonation sessions."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.clock import utcnow
from saas_core.db.base import Base
from saas_core.db.mixins import IdMixin, PublicIdMixin
from saas_core.db.types import enum_type


class ImpersonationEndReason(enum.StrEnum):
    """Why an impersonation session ended."""

    EXITED = "exited"  # the operator chose to stop
    EXPIRED = "expired"  # expires_at passed
    REVOKED = "revoked"  # ended by another operator or by a security action
    LOGGED_OUT = "logged_out"  # the operator's own session ended


class ImpersonationSession(IdMixin, PublicIdMixin, Base):
    """A platform operator acting as another user, for a stated reason and a bounded time.

    Every impersonation needs a written ``reason`` and, when granted through a break-glass
    role, the assignment that allowed it (``break_glass_assignment_id``). The operator's auth
    session is rotated at start and stop; ``auth_session_id`` names the session that carried it.
    ``started_at`` is the one creation timestamp; the session is live while ``ended_at`` is NULL
    and ``expires_at`` is in the future.

    The workspace acted in is ``acting_tenant_id``, deliberately not ``tenant_id``: these are
    platform records, read by platform routes under the platform scope, and a tenant must not be
    able to read (or hide) the impersonations of its own members. ``auth_session_id`` and
    ``break_glass_assignment_id`` are SET NULL when those rows are purged by their own retention:
    this record stays, and the audit log keeps the full story of the impersonation.
    """

    __tablename__ = "impersonation_sessions"
    __table_args__ = (
        Index(None, "impersonator_user_id", "started_at"),
        Index(None, "target_user_id", "started_at"),
        CheckConstraint("impersonator_user_id <> target_user_id", name="not_self"),
        CheckConstraint("length(reason) > 0", name="reason_not_empty"),
        CheckConstraint("expires_at > started_at", name="expires_after_start"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_start"),
        CheckConstraint(
            "(ended_at IS NULL AND end_reason IS NULL)"
            " OR (ended_at IS NOT NULL AND end_reason IS NOT NULL)",
            name="ended_has_reason",
        ),
    )

    impersonator_user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    target_user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    acting_tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str] = mapped_column(Text)
    break_glass_assignment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("iam_assignments.id", ondelete="SET NULL"), default=None
    )
    auth_session_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("auth_sessions.id", ondelete="SET NULL"), default=None
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[ImpersonationEndReason | None] = mapped_column(
        enum_type(ImpersonationEndReason, "impersonation_end_reason"), default=None
    )
    #: Network address of the operator when the session started.
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
