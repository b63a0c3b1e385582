"""Tables of usage metering: meters, raw usage events, aggregates and overage fees.

Writes go to the append-only ``usage_metered_usage`` (one row per reported event); reads go to
``usage_aggregates`` (rolled up per hour/day/month), and a period's usage beyond a plan's allowance
becomes a ``usage_overage_fees`` row that an invoice later picks up.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.billing.models import CURRENCY_CHECK
from saas_core.clock import utcnow
from saas_core.db.base import Base
from saas_core.db.mixins import (
    IdMixin,
    PublicIdMixin,
    TenantScopedMixin,
    TimestampMixin,
)
from saas_core.db.types import BigIntFK, enum_type
from saas_core.ids import uuid7


class UsageAggregation(enum.StrEnum):
    """How a meter folds its events into one number per period."""

    SUM = "sum"
    COUNT = "count"
    MAX = "max"
    LAST = "last"


class UsageGranularity(enum.StrEnum):
    """The width of a ``usage_aggregates`` bucket."""

    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


class OverageFeeStatus(enum.StrEnum):
    """Whether an overage fee has been billed."""

    PENDING = "pending"
    INVOICED = "invoiced"
    WAIVED = "waived"


class UsageMeter(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A measurable quantity (API calls, GB stored, seats...): a platform-wide catalog entry.

    Meters have no ``tenant_id``: they are readable before any tenant is bound. They are retired
    with ``is_active = false`` rather than deleted, since usage, prices and invoice lines refer to
    them.
    """

    __tablename__ = "usage_meters"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    aggregation: Mapped[UsageAggregation] = mapped_column(
        enum_type(UsageAggregation, "usage_aggregation"), default=UsageAggregation.SUM
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)


class MeteredUsage(Base):
    """One reported usage event. Append-only, and range-partitioned by month on PostgreSQL.

    The key is ``(id, occurred_at)``: ``id`` is a UUIDv7 made in Python, and PostgreSQL requires
    the partition key in every unique constraint of a partitioned table.

    ``tenant_id`` and ``meter_id`` are deliberately plain columns without foreign keys: every
    insert would otherwise take a ``FOR KEY SHARE`` lock on the tenant's and the meter's row,
    turning one hot meter into a lock hotspot on the busiest table of the schema, and a cascading
    FK would be an UPDATE/DELETE that the append-only trigger rejects. The usage service checks
    both ids before it writes; Row Level Security still applies through ``tenant_id``.

    Idempotency trade-off: ``(tenant_id, meter_id, idempotency_key, occurred_at)`` is unique,
    because a partitioned table cannot enforce uniqueness without its partition key. A retry is
    therefore recognised only when it repeats the original ``occurred_at`` (clients send the
    event's own time, not the time of the retry); rows without a key are never deduplicated.
    """

    __tablename__ = "usage_metered_usage"
    __tenant_scoped__ = True
    __table_args__ = (
        PrimaryKeyConstraint("id", "occurred_at"),
        UniqueConstraint(
            "tenant_id",
            "meter_id",
            "idempotency_key",
            "occurred_at",
            # The derived name would exceed PostgreSQL's 63-character identifier limit.
            name="uq_usage_metered_usage_idempotency_key",
        ),
        Index(None, "tenant_id", "meter_id", "occurred_at"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid7)
    occurred_at: Mapped[datetime] = mapped_column()
    tenant_id: Mapped[int] = mapped_column(BigIntFK)
    meter_id: Mapped[int] = mapped_column(BigIntFK)
    quantity: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str | None] = mapped_column(String(64), default=None)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class UsageAggregate(TenantScopedMixin, IdMixin, TimestampMixin, Base):
    """A meter's usage for one tenant over one hour, day or month (the read side of metering).

    ``quantity`` is folded with the meter's aggregation; ``event_count`` counts the raw events.
    Rows are upserted on ``(tenant_id, meter_id, granularity, period_start)``.
    """

    __tablename__ = "usage_aggregates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "meter_id", "granularity", "period_start"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("event_count >= 0", name="event_count_non_negative"),
        CheckConstraint("period_end > period_start", name="period_order"),
    )

    meter_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("usage_meters.id", ondelete="RESTRICT")
    )
    granularity: Mapped[UsageGranularity] = mapped_column(
        enum_type(UsageGranularity, "usage_granularity")
    )
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageOverageFee(TenantScopedMixin, IdMixin, PublicIdMixin, TimestampMixin, Base):
    """Usage beyond a plan's allowance in one billing period, priced and waiting for an invoice.

    ``included_units`` is the period's allowance and ``units_used`` the billable units above it,
    so ``total_amount = units_used * unit_price`` holds exactly (the seed review's check, fix 5).
    The unique key on ``(tenant_id, subscription_id, meter_id, period_start)`` stops a period from
    being charged twice.
    """

    __tablename__ = "usage_overage_fees"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "subscription_id",
            "meter_id",
            "period_start",
            # The derived name would exceed PostgreSQL's 63-character identifier limit.
            name="uq_usage_overage_fees_subscription_meter_period",
        ),
        Index(None, "tenant_id", "status"),
        Index(None, "subscription_id"),
        Index(None, "invoice_id"),
        CheckConstraint(
            "included_units >= 0 AND units_used >= 0 AND unit_price >= 0 AND total_amount >= 0",
            name="positive_amounts",
        ),
        CheckConstraint("total_amount = units_used * unit_price", name="total_calc"),
        CheckConstraint("period_end > period_start", name="period_order"),
        CheckConstraint(CURRENCY_CHECK, name="currency_iso4217"),
    )

    meter_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("usage_meters.id", ondelete="RESTRICT")
    )
    subscription_id: Mapped[int | None] = mapped_column(
        BigIntFK,
        # The derived name would exceed PostgreSQL's 63-character identifier limit.
        ForeignKey(
            "billing_tenant_subscriptions.id",
            ondelete="SET NULL",
            name="fk_usage_overage_fees_subscription_id",
        ),
        default=None,
    )
    invoice_id: Mapped[int | None] = mapped_column(
        BigIntFK, ForeignKey("billing_invoices.id", ondelete="SET NULL"), default=None
    )
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    included_units: Mapped[int] = mapped_column(BigInteger, default=0)
    units_used: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[OverageFeeStatus] = mapped_column(
        enum_type(OverageFeeStatus, "overage_fee_status"), default=OverageFeeStatus.PENDING
    )


__all__ = [
    "MeteredUsage",
    "OverageFeeStatus",
    "UsageAggregate",
    "UsageAggregation",
    "UsageGranularity",
    "UsageMeter",
    "UsageOverageFee",
]
