"""Tables of IAM: the permission catalog, roles, their permissions and role assignments.

A user's permissions in a tenant come from the role of their membership
(``tenant_members.role_id``) plus any unexpired, unrevoked ``iam_assignments`` in that tenant;
platform permissions come from assignments whose ``tenant_id`` is NULL.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.db.base import Base
from saas_core.db.mixins import CreatedAtMixin, IdMixin, PublicIdMixin, TimestampMixin
from saas_core.db.types import enum_type


class IamScope(enum.StrEnum):
    """Where a permission or role applies: inside one tenant, or across the platform."""

    TENANT = "tenant"
    PLATFORM = "platform"


class Permission(IdMixin, TimestampMixin, Base):
    """One entry of the permission catalog, e.g. ``projects:read``.

    The catalog is declared in code and synced here; ``key`` is its stable public name.
    """

    __tablename__ = "iam_permissions"

    key: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[IamScope] = mapped_column(
        enum_type(IamScope, "iam_permission_scope"), default=IamScope.TENANT
    )


class Role(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A named set of permissions.

    ``tenant_id`` NULL marks a role shared by every tenant (the default tenant roles such as
    ``owner``) or a platform role; such rows are readable in any tenant (RLS ``global_read``).
    A tenant's custom roles carry its ``tenant_id``. ``key`` is unique among the shared roles
    and, separately, within each tenant (two partial unique indexes, since NULLs never clash in
    a plain unique constraint). Platform roles are never tenant-owned (CHECK).

    ``tenant_id`` is declared here, nullable, instead of through ``TenantScopedMixin``: the
    automatic tenant filter must not hide the shared rows.
    """

    __tablename__ = "iam_roles"
    __table_args__ = (
        Index(
            "uq_iam_roles_tenant_id_key",
            "tenant_id",
            "key",
            unique=True,
            postgresql_where=text("tenant_id IS NOT NULL"),
            sqlite_where=text("tenant_id IS NOT NULL"),
        ),
        Index(
            "uq_iam_roles_key_shared",
            "key",
            unique=True,
            postgresql_where=text("tenant_id IS NULL"),
            sqlite_where=text("tenant_id IS NULL"),
        ),
        CheckConstraint("scope = 'tenant' OR tenant_id IS NULL", name="platform_role_shared"),
        {"info": {"rls": {"global_read": True}}},
    )

    tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), default=None, sort_order=-80
    )
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[IamScope] = mapped_column(
        enum_type(IamScope, "iam_role_scope"), default=IamScope.TENANT
    )
    #: Shipped by saas-core: its permissions are managed by code, not editable by tenants.
    is_system: Mapped[bool] = mapped_column(default=False)


class RolePermission(Base):
    """A permission a role grants (a link row; the pair is the key)."""

    __tablename__ = "iam_role_permissions"

    role_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("iam_roles.id", ondelete="CASCADE"), primary_key=True
    )
    permission_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("iam_permissions.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )


class RoleAssignment(IdMixin, PublicIdMixin, CreatedAtMixin, Base):
    """A role granted to a user beyond their membership role, usually with an expiry.

    ``tenant_id`` NULL is a platform-level assignment (platform admin, support, break-glass).
    It is effective while ``revoked_at`` is NULL and ``expires_at`` is NULL or in the future.
    A break-glass assignment must say why and must expire (CHECK). Users read their own
    assignments before a tenant is bound (RLS ``self_read``).
    """

    __tablename__ = "iam_assignments"
    __table_args__ = (
        Index(None, "tenant_id", "user_id"),
        Index(None, "user_id"),
        CheckConstraint(
            "NOT is_break_glass OR (reason IS NOT NULL AND expires_at IS NOT NULL)",
            name="break_glass_reason_and_expiry",
        ),
        {"info": {"rls": {"self_read": "user_id"}}},
    )

    tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), default=None, sort_order=-80
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("iam_roles.id", ondelete="CASCADE"), index=True
    )
    is_break_glass: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    granted_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
