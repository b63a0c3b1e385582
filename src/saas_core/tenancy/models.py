"""Tables of the tenancy domain: tenants (more tables join them in this module)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.db.base import Base
from saas_core.db.mixins import IdMixin, PublicIdMixin, TimestampMixin
from saas_core.db.types import enum_type


class TenantStatus(enum.StrEnum):
    """Lifecycle of a tenant (seed review fix: an enum, not free text)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ARCHIVED = "archived"


class Tenant(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A workspace: the unit of isolation, billing and membership."""

    __tablename__ = "tenants"

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
