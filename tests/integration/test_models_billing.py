"""Billing tables: the seed review's CHECKs (fix 5), the invoice-subscription link (fix 6), the
webhook inbox's once-only key and its GIN index (fix 9), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import saas_core.models  # noqa: F401 - registers every table
from saas_core.billing.models import (
    BillingCustomer,
    BillingInvoice,
    BillingInvoiceLine,
    BillingOneTimePayment,
    BillingPaymentEvent,
    BillingPlan,
    BillingPlanPrice,
    BillingTenantSubscription,
    InvoiceLineKind,
    PaymentProvider,
    PriceUsageType,
    SubscriptionStatus,
)
from saas_core.db.base import metadata
from saas_core.tenancy.models import Tenant
from tests.support.databases import TestDatabase

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


class World:
    """A tenant with a plan, a price and a subscription, committed."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tenant = Tenant(slug="acme", name="Acme")
        self.plan = BillingPlan(key="pro", name="Pro")
        self.price = BillingPlanPrice(plan=self.plan, currency="EUR", unit_amount=2900)
        session.add_all([self.tenant, self.plan, self.price])
        session.flush()
        self.subscription = BillingTenantSubscription(
            tenant_id=self.tenant.id,
            plan_id=self.plan.id,
            price_id=self.price.id,
            provider=PaymentProvider.STRIPE,
            provider_subscription_id="sub_1",
            status=SubscriptionStatus.ACTIVE,
            current_period_start=JAN,
            current_period_end=FEB,
        )
        session.add(self.subscription)
        session.commit()

    def invoice(self, **overrides: Any) -> BillingInvoice:
        """An invoice of the subscription's January period whose total adds up."""
        values: dict[str, Any] = {
            "tenant_id": self.tenant.id,
            "subscription_id": self.subscription.id,
            "period_start": JAN,
            "period_end": FEB,
            "currency": "EUR",
            "provider": PaymentProvider.STRIPE,
            "subscription_amount": 2900,
            "usage_amount": 150,
            "proration_amount": 0,
            "refund_amount": 50,
            "total_amount": 3000,
        }
        values.update(overrides)
        return BillingInvoice(**values)


@pytest.fixture
def world(db: TestDatabase) -> Iterator[World]:
    """A committed tenant, plan, price and subscription on the test database."""
    session = Session(db.engine, expire_on_commit=False)
    try:
        yield World(session)
    finally:
        session.close()


def violation_text(session: Session, constraint: str) -> str:
    """What the database's error message says when ``constraint`` is violated.

    PostgreSQL names every constraint; SQLite names CHECK constraints but reports a UNIQUE
    violation by its columns (``table.a, table.b``).
    """
    if session.get_bind().dialect.name != "sqlite":
        return constraint
    for table in metadata.tables.values():
        for candidate in table.constraints:
            if isinstance(candidate, sa.UniqueConstraint) and candidate.name == constraint:
                return ", ".join(f"{table.name}.{column.name}" for column in candidate.columns)
    return constraint


def assert_rejected(session: Session, row: object, constraint: str) -> None:
    """Flushing ``row`` fails with an IntegrityError raised by ``constraint`` (its full name,
    or a name fragment for CHECKs)."""
    expected = violation_text(session, constraint)
    session.add(row)
    with pytest.raises(IntegrityError) as caught:
        session.flush()
    session.rollback()
    assert expected in str(caught.value.orig)


def assert_accepted(session: Session, row: object) -> None:
    """Flushing and committing ``row`` succeeds."""
    session.add(row)
    session.commit()


# Each bad row keeps every other invariant true, so only the non-negativity check can fire.
NEGATIVE_AMOUNT_ROWS: dict[str, tuple[Callable[[World], object], str]] = {
    "price.unit_amount": (
        lambda w: BillingPlanPrice(plan_id=w.plan.id, currency="EUR", unit_amount=-1),
        "ck_billing_plan_prices_positive_amounts",
    ),
    "price.overage_unit_amount": (
        lambda w: BillingPlanPrice(
            plan_id=w.plan.id, currency="EUR", unit_amount=0, overage_unit_amount=-1
        ),
        "ck_billing_plan_prices_positive_amounts",
    ),
    "invoice.subscription_amount": (
        lambda w: w.invoice(subscription_amount=-1, usage_amount=3051),
        "ck_billing_invoices_positive_amounts",
    ),
    "invoice.usage_amount": (
        lambda w: w.invoice(usage_amount=-5, total_amount=2845),
        "ck_billing_invoices_positive_amounts",
    ),
    "invoice.proration_amount": (
        lambda w: w.invoice(proration_amount=-100, total_amount=2900),
        "ck_billing_invoices_positive_amounts",
    ),
    "invoice.refund_amount": (
        lambda w: w.invoice(refund_amount=-50, total_amount=3100),
        "ck_billing_invoices_positive_amounts",
    ),
    "invoice.total_amount": (
        lambda w: w.invoice(subscription_amount=0, usage_amount=0, total_amount=-50),
        "ck_billing_invoices_positive_amounts",
    ),
    "invoice.amount_paid": (
        lambda w: w.invoice(amount_paid=-1),
        "ck_billing_invoices_positive_amounts",
    ),
    "invoice.amount_due": (
        lambda w: w.invoice(amount_due=-1),
        "ck_billing_invoices_positive_amounts",
    ),
    "one_time_payment.amount": (
        lambda w: BillingOneTimePayment(
            tenant_id=w.tenant.id, amount=-1, currency="EUR", provider=PaymentProvider.POLAR
        ),
        "ck_billing_one_time_payments_positive_amounts",
    ),
    "one_time_payment.refunded_amount": (
        lambda w: BillingOneTimePayment(
            tenant_id=w.tenant.id,
            amount=100,
            refunded_amount=-1,
            currency="EUR",
            provider=PaymentProvider.POLAR,
        ),
        "ck_billing_one_time_payments_positive_amounts",
    ),
    "subscription.subscription_seat": (
        lambda w: BillingTenantSubscription(
            tenant_id=w.tenant.id,
            plan_id=w.plan.id,
            price_id=w.price.id,
            provider=PaymentProvider.MANUAL,
            subscription_seat=-1,
        ),
        "ck_billing_tenant_subscriptions_seat_non_negative",
    ),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE_AMOUNT_ROWS))
def test_negative_amount_is_rejected(world: World, case: str) -> None:
    build, constraint = NEGATIVE_AMOUNT_ROWS[case]
    assert_rejected(world.session, build(world), constraint)


@pytest.mark.parametrize("column", ["quantity", "unit_amount", "amount"])
def test_negative_invoice_line_amount_is_rejected(world: World, column: str) -> None:
    invoice = world.invoice()
    world.session.add(invoice)
    world.session.commit()
    values: dict[str, Any] = {"quantity": 1, "unit_amount": 100, "amount": 100}
    values[column] = -1
    line = BillingInvoiceLine(
        tenant_id=world.tenant.id,
        invoice_id=invoice.id,
        kind=InvoiceLineKind.USAGE,
        description="API calls",
        **values,
    )
    assert_rejected(world.session, line, "ck_billing_invoice_lines_positive_amounts")


def test_invoice_whose_total_does_not_add_up_is_rejected(world: World) -> None:
    # 2900 + 150 + 0 - 50 = 3000, not 3050 (a refund that was added instead of subtracted).
    assert_rejected(world.session, world.invoice(total_amount=3100), "total_calc")


def test_invoice_whose_total_adds_up_is_accepted(world: World) -> None:
    invoice = world.invoice(proration_amount=25, total_amount=3025, number="INV-0001")
    assert_accepted(world.session, invoice)
    line = BillingInvoiceLine(
        tenant_id=world.tenant.id,
        invoice_id=invoice.id,
        kind=InvoiceLineKind.REFUND,
        description="Unused time",
        quantity=1,
        unit_amount=50,
        amount=50,
    )
    assert_accepted(world.session, line)
    world.session.expire_all()
    stored = world.session.get_one(BillingInvoice, invoice.id)
    assert stored.total_amount == 3025
    assert [ln.kind for ln in stored.lines] == [InvoiceLineKind.REFUND]


def test_refund_larger_than_the_payment_is_rejected(world: World) -> None:
    payment = BillingOneTimePayment(
        tenant_id=world.tenant.id,
        amount=100,
        refunded_amount=101,
        currency="EUR",
        provider=PaymentProvider.DODO,
    )
    assert_rejected(world.session, payment, "refund_within_amount")


@pytest.mark.parametrize("currency", ["EU", "eur", "E1"])
def test_currency_must_be_an_iso_4217_code(world: World, currency: str) -> None:
    assert_rejected(world.session, world.invoice(currency=currency), "currency_iso4217")


def test_subscription_period_must_end_after_it_starts(world: World) -> None:
    subscription = BillingTenantSubscription(
        tenant_id=world.tenant.id,
        plan_id=world.plan.id,
        price_id=world.price.id,
        provider=PaymentProvider.MANUAL,
        current_period_start=FEB,
        current_period_end=JAN,
    )
    assert_rejected(world.session, subscription, "period_order")


def test_metered_price_needs_a_meter(world: World) -> None:
    price = BillingPlanPrice(
        plan_id=world.plan.id, currency="EUR", unit_amount=0, usage_type=PriceUsageType.METERED
    )
    assert_rejected(world.session, price, "metered_meter")


def test_deleting_a_subscription_keeps_its_invoices_unlinked(world: World) -> None:
    invoice = world.invoice()
    assert_accepted(world.session, invoice)
    world.session.execute(
        sa.delete(BillingTenantSubscription).where(
            BillingTenantSubscription.id == world.subscription.id
        )
    )
    world.session.commit()
    world.session.expire_all()
    stored = world.session.get_one(BillingInvoice, invoice.id)
    assert stored.subscription_id is None
    assert (stored.period_start, stored.period_end) == (JAN, FEB)


def test_plan_in_use_cannot_be_deleted(world: World) -> None:
    with pytest.raises(IntegrityError):
        world.session.execute(sa.delete(BillingPlan).where(BillingPlan.id == world.plan.id))
    world.session.rollback()


def test_provider_ids_are_unique_per_provider(world: World) -> None:
    duplicate = BillingTenantSubscription(
        tenant_id=world.tenant.id,
        plan_id=world.plan.id,
        price_id=world.price.id,
        provider=PaymentProvider.STRIPE,
        provider_subscription_id="sub_1",
    )
    assert_rejected(
        world.session, duplicate, "uq_billing_tenant_subscriptions_provider_subscription_id"
    )
    other_provider = BillingTenantSubscription(
        tenant_id=world.tenant.id,
        plan_id=world.plan.id,
        price_id=world.price.id,
        provider=PaymentProvider.POLAR,
        provider_subscription_id="sub_1",
    )
    assert_accepted(world.session, other_provider)


def test_one_customer_per_tenant_and_provider(world: World) -> None:
    assert_accepted(
        world.session,
        BillingCustomer(
            tenant_id=world.tenant.id, provider=PaymentProvider.STRIPE, provider_customer_id="c1"
        ),
    )
    second = BillingCustomer(
        tenant_id=world.tenant.id, provider=PaymentProvider.STRIPE, provider_customer_id="c2"
    )
    assert_rejected(world.session, second, "uq_billing_customers_tenant_id_provider")
    other_tenant = Tenant(slug="globex", name="Globex")
    world.session.add(other_tenant)
    world.session.flush()
    same_provider_id = BillingCustomer(
        tenant_id=other_tenant.id, provider=PaymentProvider.STRIPE, provider_customer_id="c1"
    )
    assert_rejected(
        world.session, same_provider_id, "uq_billing_customers_provider_provider_customer_id"
    )


def event(provider: PaymentProvider, event_id: str) -> BillingPaymentEvent:
    """A verified webhook event with no tenant resolved yet."""
    return BillingPaymentEvent(
        provider=provider,
        provider_event_id=event_id,
        event_type="invoice.paid",
        payload={"id": event_id, "data": {"object": {"amount_paid": 3000}}},
        signature_verified=True,
        occurred_at=JAN,
    )


def test_a_provider_event_is_recorded_once(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        assert_accepted(session, event(PaymentProvider.STRIPE, "evt_1"))
        assert_rejected(
            session,
            event(PaymentProvider.STRIPE, "evt_1"),
            "uq_billing_payment_events_provider_provider_event_id",
        )
        # The same id from another provider is another event.
        assert_accepted(session, event(PaymentProvider.POLAR, "evt_1"))
        stored = session.scalars(sa.select(BillingPaymentEvent)).all()
        assert sorted(e.provider for e in stored) == ["polar", "stripe"]
        assert all(e.tenant_id is None and e.received_at.tzinfo is not None for e in stored)


@pytest.mark.postgres_only
def test_payment_event_payload_has_a_gin_index(db: TestDatabase) -> None:
    with db.engine.connect() as conn:
        indexdef = conn.execute(
            sa.text(
                "SELECT indexdef FROM pg_indexes"
                " WHERE tablename = 'billing_payment_events'"
                " AND indexname = 'ix_billing_payment_events_payload_gin'"
            )
        ).scalar_one()
    assert "USING gin (payload)" in indexdef


@pytest.mark.postgres_only
def test_every_billing_provider_column_shares_one_native_enum(db: TestDatabase) -> None:
    with db.engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT table_name FROM information_schema.columns"
                " WHERE column_name = 'provider' AND udt_name = 'payment_provider'"
                " ORDER BY table_name"
            )
        ).scalars()
        labels = conn.execute(
            sa.text("SELECT enum_range(NULL::payment_provider)::text[]")
        ).scalar_one()
    assert list(tables) == [
        "billing_customers",
        "billing_invoices",
        "billing_one_time_payments",
        "billing_payment_events",
        "billing_tenant_subscriptions",
    ]
    assert labels == ["stripe", "polar", "dodo", "manual"]
