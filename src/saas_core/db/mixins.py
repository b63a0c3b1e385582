"""Columns most tables share. Compose them into models; each mixin is one concern."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Identity, func
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from saas_core.clock import utcnow
from saas_core.db.types import BigIntFK, BigIntPK
from saas_core.ids import uuid7


class IdMixin:
    """Internal ``bigint`` identity key. Never leaves the library (see :class:`PublicIdMixin`)."""

    id: Mapped[int] = mapped_column(BigIntPK, Identity(), primary_key=True, sort_order=-100)


class PublicIdMixin:
    """The UUID that appears in URLs and responses."""

    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid7, sort_order=-90)


class CreatedAtMixin:
    """When the row was written."""

    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), sort_order=900
    )


class TimestampMixin(CreatedAtMixin):
    """When the row was written and last changed."""

    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now(), sort_order=901
    )


class SoftDeleteMixin:
    """Rows are hidden, not removed; ``deleted_at`` records when."""

    deleted_at: Mapped[datetime | None] = mapped_column(default=None, sort_order=902)


class TenantScopedMixin:
    """Marks a tenant-owned table: ``tenant_id`` leads its keys and indexes.

    Tables with this mixin are filtered automatically by the ORM session and, on PostgreSQL,
    protected by Row Level Security (``saas_core.db.postgres``).
    """

    __tenant_scoped__ = True

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(
            BigIntFK,
            ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
            sort_order=-80,
        )
