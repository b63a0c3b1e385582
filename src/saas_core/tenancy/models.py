"""Tables of the tenancy domain: tenants, their members and invitations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.clock import utcnow
from saas_core.db.base import Base
from saas_core.db.mixins import IdMixin, PublicIdMixin, TenantScopedMixin, TimestampMixin
from saas_core.db.types import enum_type


class TenantStatus(enum.StrEnum):
    """Lifecycle of a tenant (seed review fix: an enum, not free text)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ARCHIVED = "archived"


class Tenant(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A workspace: the unit of isolation, billing and membership.

    Archiving is the tenant's soft delete (``status = archived`` and ``archived_at``).
    """

    __tablename__ = "tenants"
    __table_args__ = (
        Index("ix_tenants_metadata_gin", "metadata", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[TenantStatus] = mapped_column(
        enum_type(TenantStatus, "tenant_status"), default=TenantStatus.ACTIVE
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    suspended_at: Mapped[datetime | None] = mapped_column(default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class MemberType(enum.StrEnum):
    """What kind of seat a membership is; only ``member`` counts towards paid seats."""

    MEMBER = "member"
    GUEST = "guest"
    SERVICE_ACCOUNT = "service_account"


class TenantMember(IdMixin, TenantScopedMixin, TimestampMixin, Base):
    """A user's membership of a tenant, with the one tenant role it holds there.

    A user's own memberships are readable before a tenant is bound (RLS ``self_read``), which is
    how the active tenant is chosen. A role still held by someone cannot be deleted: ``role_id``
    is ON DELETE NO ACTION rather than RESTRICT because SQLite checks RESTRICT as each row goes,
    while NO ACTION waits for the end of the statement: deleting a tenant (which cascades to
    both its members and its custom roles) then works whatever order the cascades run in.
    Platform roles and extra grants live in ``iam_assignments``.
    """

    __tablename__ = "tenant_members"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        Index(None, "tenant_id", "role_id"),
        Index(None, "user_id"),
        {"info": {"rls": {"self_read": "user_id"}}},
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("iam_roles.id"))
    member_type: Mapped[MemberType] = mapped_column(
        enum_type(MemberType, "tenant_member_type"), default=MemberType.MEMBER
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    invited_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class InvitationStatus(enum.StrEnum):
    """Where an invitation stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class TenantInvitation(IdMixin, PublicIdMixin, TenantScopedMixin, TimestampMixin, Base):
    """A single-use, expiring invitation to join a tenant, sent to an email address.

    Only the SHA-256 of the token is stored; the invitee, not yet a member, can read exactly the
    invitation whose token they hold (RLS ``token_read`` on ``app.token_hash``). At most one
    invitation per address is pending in a tenant (partial unique index); accepted, revoked and
    expired ones stay as history. A pending invitation past ``expires_at`` is treated as expired
    even before a job flips its status.
    """

    __tablename__ = "tenant_invitations"
    __table_args__ = (
        Index(
            "uq_tenant_invitations_tenant_id_email_pending",
            "tenant_id",
            "email",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(None, "tenant_id", "created_at"),
        Index(None, "email"),
        {"info": {"rls": {"token_read": "token_hash"}}},
    )

    #: Normalised (trimmed, lower-cased) like ``users.email``.
    email: Mapped[str] = mapped_column(String(320))
    role_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("iam_roles.id"), index=True)
    #: The kind of membership accepting creates. Its own PostgreSQL type name, so each
    #: table's migration creates and drops its types independently.
    member_type: Mapped[MemberType] = mapped_column(
        enum_type(MemberType, "tenant_invitation_member_type"), default=MemberType.MEMBER
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[InvitationStatus] = mapped_column(
        enum_type(InvitationStatus, "tenant_invitation_status"), default=InvitationStatus.PENDING
    )
    expires_at: Mapped[datetime]
    invited_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
