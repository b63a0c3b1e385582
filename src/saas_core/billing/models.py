"""Tables of billing: the plan catalog, provider customers, subscriptions, invoices, payments and
the webhook inbox.

Money is integer minor units (``BigInteger``) next to an ISO 4217 ``currency``; every amount is
non-negative (seed review fix 5). Provider ids (Stripe, Polar, Dodo) are unique per provider, so a
webhook can find its row before any tenant is known; those lookups run under the explicit,
audited platform scope. ``last_event_at`` on provider-synchronised rows records the provider time
of the last event applied, so an older event arriving late is ignored and arrival order does not
change the final state.
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
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from saas_core.clock import utcnow
from saas_core.db.base import Base
from saas_core.db.mixins import (
    CreatedAtMixin,
    IdMixin,
    PublicIdMixin,
    TenantScopedMixin,
    TimestampMixin,
)
from saas_core.db.types import BigIntFK, enum_type

#: CHECK text for a ``currency`` column: three upper-case letters (ISO 4217 alphabetic code).
CURRENCY_CHECK = "length(currency) = 3 AND currency = upper(currency)"


class PaymentProvider(enum.StrEnum):
    """Who collects the money. ``manual`` is for invoices settled outside any provider."""

    STRIPE = "stripe"
    POLAR = "polar"
    DODO = "dodo"
    MANUAL = "manual"


#: One type object shared by every billing table, so PostgreSQL gets one ``payment_provider`` enum.
PAYMENT_PROVIDER = enum_type(PaymentProvider, "payment_provider")


class BillingInterval(enum.StrEnum):
    """How often a price recurs; ``one_time`` never does."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    ONE_TIME = "one_time"


class PriceUsageType(enum.StrEnum):
    """``licensed`` charges a fixed amount per seat; ``metered`` charges for a meter's usage."""

    LICENSED = "licensed"
    METERED = "metered"


class SubscriptionStatus(enum.StrEnum):
    """Subscription lifecycle, the union of what Stripe, Polar and Dodo report."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    UNPAID = "unpaid"
    PAUSED = "paused"


class InvoiceStatus(enum.StrEnum):
    """Invoice lifecycle."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class InvoiceLineKind(enum.StrEnum):
    """What an invoice line bills; it also says which invoice total the line adds to."""

    SUBSCRIPTION = "subscription"
    USAGE = "usage"
    PRORATION = "proration"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class PaymentStatus(enum.StrEnum):
    """Lifecycle of a one-time payment."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    CANCELED = "canceled"


class BillingPlan(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A plan of the public catalog. No ``tenant_id``: plans are listed before sign-in.

    ``features`` holds entitlements (flags and limits) the application checks; ``seat_limit``
    ``NULL`` means unlimited seats.
    """

    __tablename__ = "billing_plans"
    __table_args__ = (
        CheckConstraint("trial_days >= 0", name="trial_days_non_negative"),
        CheckConstraint("seat_limit IS NULL OR seat_limit >= 0", name="seat_limit_non_negative"),
    )

    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_public: Mapped[bool] = mapped_column(default=True)
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    seat_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    prices: Mapped[list[BillingPlanPrice]] = relationship(
        back_populates="plan", passive_deletes=True
    )


class BillingPlanPrice(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """One way to pay for a plan: an amount, a currency and an interval.

    A ``metered`` price names its meter: ``included_units`` per period are covered by
    ``unit_amount``, each unit beyond costs ``overage_unit_amount``. The provider's own id for the
    price is kept per provider (one column each, so webhooks can look it up by a unique index).
    """

    __tablename__ = "billing_plan_prices"
    __table_args__ = (
        Index(None, "plan_id"),
        CheckConstraint(
            "unit_amount >= 0 AND included_units >= 0"
            " AND (overage_unit_amount IS NULL OR overage_unit_amount >= 0)",
            name="positive_amounts",
        ),
        CheckConstraint("interval_count >= 1", name="interval_count_positive"),
        CheckConstraint("usage_type <> 'metered' OR meter_id IS NOT NULL", name="metered_meter"),
        CheckConstraint(CURRENCY_CHECK, name="currency_iso4217"),
    )

    plan_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("billing_plans.id", ondelete="CASCADE")
    )
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    billing_interval: Mapped[BillingInterval] = mapped_column(
        enum_type(BillingInterval, "billing_interval"), default=BillingInterval.MONTH
    )
    interval_count: Mapped[int] = mapped_column(Integer, default=1)
    usage_type: Mapped[PriceUsageType] = mapped_column(
        enum_type(PriceUsageType, "price_usage_type"), default=PriceUsageType.LICENSED
    )
    meter_id: Mapped[int | None] = mapped_column(
        BigIntFK, ForeignKey("usage_meters.id", ondelete="RESTRICT"), default=None
    )
    included_units: Mapped[int] = mapped_column(BigInteger, default=0)
    overage_unit_amount: Mapped[int | None] = mapped_column(BigInteger, default=None)
    stripe_price_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    polar_product_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    dodo_product_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    is_active: Mapped[bool] = mapped_column(default=True)

    plan: Mapped[BillingPlan] = relationship(back_populates="prices")


class BillingCustomer(TenantScopedMixin, IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A tenant's customer record at one provider (at most one per provider and tenant).

    ``(provider, provider_customer_id)`` is unique without ``tenant_id`` on purpose: webhooks
    resolve the tenant from the provider's customer id.
    """

    __tablename__ = "billing_customers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider"),
        UniqueConstraint("provider", "provider_customer_id"),
    )

    provider: Mapped[PaymentProvider] = mapped_column(PAYMENT_PROVIDER)
    provider_customer_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class BillingTenantSubscription(TenantScopedMixin, IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A tenant's subscription to a plan price.

    ``subscription_seat`` is the seat quantity billed (the seed's name); the seat-sync service
    compares it with ``tenant_seat_summary``. Plans and prices cannot be deleted while
    subscriptions use them (``RESTRICT``): retire them with ``is_active = false``.
    """

    __tablename__ = "billing_tenant_subscriptions"
    __table_args__ = (
        UniqueConstraint(
            "provider",
            "provider_subscription_id",
            # The derived name would exceed PostgreSQL's 63-character identifier limit.
            name="uq_billing_tenant_subscriptions_provider_subscription_id",
        ),
        Index(None, "tenant_id", "status"),
        Index(None, "plan_id"),
        Index(None, "price_id"),
        CheckConstraint("subscription_seat >= 0", name="seat_non_negative"),
        CheckConstraint(
            "current_period_start IS NULL OR current_period_end IS NULL"
            " OR current_period_end > current_period_start",
            name="period_order",
        ),
    )

    plan_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("billing_plans.id", ondelete="RESTRICT")
    )
    price_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("billing_plan_prices.id", ondelete="RESTRICT")
    )
    provider: Mapped[PaymentProvider] = mapped_column(PAYMENT_PROVIDER)
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_type(SubscriptionStatus, "subscription_status"),
        default=SubscriptionStatus.INCOMPLETE,
    )
    subscription_seat: Mapped[int] = mapped_column(Integer, default=1)
    current_period_start: Mapped[datetime | None] = mapped_column(default=None)
    current_period_end: Mapped[datetime | None] = mapped_column(default=None)
    trial_end: Mapped[datetime | None] = mapped_column(default=None)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class BillingInvoice(TenantScopedMixin, IdMixin, PublicIdMixin, TimestampMixin, Base):
    """An invoice, linked to the subscription period it bills (seed review fix 6).

    ``total_amount = subscription_amount + usage_amount + proration_amount - refund_amount`` is a
    CHECK (fix 5). All amounts are non-negative as the seed asks, so ``proration_amount`` holds
    proration *charges* only; credit from a downgrade or an unused period is recorded in
    ``refund_amount``. Deleting the subscription keeps the invoice, with ``subscription_id`` NULL.
    """

    __tablename__ = "billing_invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("provider", "provider_invoice_id"),
        Index(None, "tenant_id", "status"),
        Index(None, "tenant_id", "created_at"),
        Index(None, "subscription_id"),
        CheckConstraint(
            "subscription_amount >= 0 AND usage_amount >= 0 AND proration_amount >= 0"
            " AND refund_amount >= 0 AND total_amount >= 0 AND amount_paid >= 0"
            " AND amount_due >= 0",
            name="positive_amounts",
        ),
        CheckConstraint(
            "total_amount = subscription_amount + usage_amount + proration_amount - refund_amount",
            name="total_calc",
        ),
        CheckConstraint(
            "period_start IS NULL OR period_end IS NULL OR period_end > period_start",
            name="period_order",
        ),
        CheckConstraint(CURRENCY_CHECK, name="currency_iso4217"),
    )

    subscription_id: Mapped[int | None] = mapped_column(
        BigIntFK,
        # The derived name would exceed PostgreSQL's 63-character identifier limit.
        ForeignKey(
            "billing_tenant_subscriptions.id",
            ondelete="SET NULL",
            name="fk_billing_invoices_subscription_id",
        ),
        default=None,
    )
    period_start: Mapped[datetime | None] = mapped_column(default=None)
    period_end: Mapped[datetime | None] = mapped_column(default=None)
    number: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[InvoiceStatus] = mapped_column(
        enum_type(InvoiceStatus, "invoice_status"), default=InvoiceStatus.DRAFT
    )
    currency: Mapped[str] = mapped_column(String(3))
    subscription_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    usage_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    proration_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[PaymentProvider] = mapped_column(PAYMENT_PROVIDER)
    provider_invoice_id: Mapped[str | None] = mapped_column(String(255), default=None)
    issued_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    voided_at: Mapped[datetime | None] = mapped_column(default=None)
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    lines: Mapped[list[BillingInvoiceLine]] = relationship(
        back_populates="invoice", passive_deletes=True, order_by="BillingInvoiceLine.id"
    )


class BillingInvoiceLine(TenantScopedMixin, IdMixin, CreatedAtMixin, Base):
    """One line of an invoice. Amounts are non-negative; ``kind`` says whether a line adds to
    the invoice (subscription, usage, proration) or is subtracted from it (refund)."""

    __tablename__ = "billing_invoice_lines"
    __table_args__ = (
        Index(None, "invoice_id"),
        CheckConstraint(
            "quantity >= 0 AND unit_amount >= 0 AND amount >= 0", name="positive_amounts"
        ),
        CheckConstraint(
            "period_start IS NULL OR period_end IS NULL OR period_end > period_start",
            name="period_order",
        ),
    )

    invoice_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("billing_invoices.id", ondelete="CASCADE")
    )
    kind: Mapped[InvoiceLineKind] = mapped_column(enum_type(InvoiceLineKind, "invoice_line_kind"))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(BigInteger, default=1)
    unit_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    period_start: Mapped[datetime | None] = mapped_column(default=None)
    period_end: Mapped[datetime | None] = mapped_column(default=None)
    meter_id: Mapped[int | None] = mapped_column(
        BigIntFK, ForeignKey("usage_meters.id", ondelete="RESTRICT"), default=None
    )

    invoice: Mapped[BillingInvoice] = relationship(back_populates="lines")


class BillingOneTimePayment(TenantScopedMixin, IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A single charge outside any subscription (e.g. a credit pack purchase)."""

    __tablename__ = "billing_one_time_payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_payment_id"),
        Index(None, "tenant_id", "created_at"),
        CheckConstraint("amount >= 0 AND refunded_amount >= 0", name="positive_amounts"),
        CheckConstraint("refunded_amount <= amount", name="refund_within_amount"),
        CheckConstraint(CURRENCY_CHECK, name="currency_iso4217"),
    )

    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_type(PaymentStatus, "payment_status"), default=PaymentStatus.PENDING
    )
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    provider: Mapped[PaymentProvider] = mapped_column(PAYMENT_PROVIDER)
    provider_payment_id: Mapped[str | None] = mapped_column(String(255), default=None)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntFK, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class BillingPaymentEvent(IdMixin, PublicIdMixin, Base):
    """The webhook inbox: one row per provider event, append-only.

    Inserting the row is the "processed once" guard: ``(provider, provider_event_id)`` is unique,
    and the insert commits in the same transaction as the event's effects, so a concurrent or
    later redelivery fails the insert and changes nothing, while a failed processing rolls back
    both and the provider's retry starts afresh. No processing status is stored, since the table
    is append-only. ``occurred_at`` is the provider's event time, compared with ``last_event_at``
    of the target row so that arrival order does not matter.

    ``tenant_id`` is resolved after parsing and may stay NULL (events about no known tenant).
    It is a plain column, without a foreign key, and the ORM's automatic tenant filter does not
    apply (webhooks run under the explicit platform scope); Row Level Security still covers it
    on PostgreSQL because of its name.
    """

    __tablename__ = "billing_payment_events"
    __table_args__ = (
        UniqueConstraint("provider", "provider_event_id"),
        Index(None, "tenant_id", "received_at"),
        Index("ix_billing_payment_events_payload_gin", "payload", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    provider: Mapped[PaymentProvider] = mapped_column(PAYMENT_PROVIDER)
    provider_event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(128))
    tenant_id: Mapped[int | None] = mapped_column(BigIntFK, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    signature_verified: Mapped[bool] = mapped_column(default=False)
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
