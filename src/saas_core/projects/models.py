"""Tables of the projects domain: the example tenant-owned resource."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.db.base import Base
from saas_core.db.mixins import (
    IdMixin,
    PublicIdMixin,
    SoftDeleteMixin,
    TenantScopedMixin,
    TimestampMixin,
)
from saas_core.db.types import enum_type


class ProjectStatus(enum.StrEnum):
    """Whether a project is in use."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class Project(IdMixin, PublicIdMixin, TenantScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A tenant's project: the domain core of the seed's routes (``/projects``).

    Lists page by ``(created_at, id)`` within a tenant, which the ``(tenant_id, created_at, id)``
    index serves. ``DELETE`` is a soft delete (``deleted_at``); archiving is a status.
    """

    __tablename__ = "projects"
    __table_args__ = (
        Index(None, "tenant_id", "created_at", "id"),
        Index("ix_projects_metadata_gin", "metadata", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[ProjectStatus] = mapped_column(
        enum_type(ProjectStatus, "project_status"), default=ProjectStatus.ACTIVE
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
