"""Credits journal and usage tables, plus the schema-wide index-name check (seed review fix 10),
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import saas_core.models  # noqa: F401 - registers every table
from saas_core.credits.models import (
    CreditAccount,
    CreditAccountCode,
    CreditPosting,
    CreditTransaction,
    CreditTransactionKind,
)
from saas_core.db.base import metadata
from saas_core.tenancy.models import Tenant
from saas_core.usage.models import (
    MeteredUsage,
    UsageAggregate,
    UsageGranularity,
    UsageMeter,
    UsageOverageFee,
)
from tests.integration.test_models_billing import assert_accepted, assert_rejected
from tests.support.databases import TestDatabase

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)

#: The tables these models own (the index-name check itself covers every table).
OWN_TABLES = sorted(
    name for name in metadata.tables if name.startswith(("billing_", "credit_", "usage_"))
)


@pytest.fixture
def session(db: TestDatabase) -> Iterator[Session]:
    """An ORM session on the test database."""
    with Session(db.engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def tenant(session: Session) -> Tenant:
    """A committed tenant."""
    tenant = Tenant(slug="acme", name="Acme")
    session.add(tenant)
    session.commit()
    return tenant


@pytest.fixture
def meter(session: Session) -> UsageMeter:
    """A committed usage meter."""
    meter = UsageMeter(key="api_calls", name="API calls", unit="call")
    session.add(meter)
    session.commit()
    return meter


# -- credits -----------------------------------------------------------------------------------


def test_credit_balance_cannot_go_negative(session: Session, tenant: Tenant) -> None:
    account = CreditAccount(tenant_id=tenant.id, code=CreditAccountCode.AVAILABLE, balance=-1)
    assert_rejected(session, account, "balance_non_negative")


def test_source_account_may_go_negative_when_allowed(session: Session, tenant: Tenant) -> None:
    source = CreditAccount(
        tenant_id=tenant.id, code=CreditAccountCode.GRANTED, balance=-100, allow_negative=True
    )
    assert_accepted(session, source)
    assert session.get_one(CreditAccount, source.id).balance == -100


def test_balance_update_below_zero_is_rejected(session: Session, tenant: Tenant) -> None:
    account = CreditAccount(tenant_id=tenant.id, code=CreditAccountCode.AVAILABLE, balance=10)
    assert_accepted(session, account)
    account.balance -= 11
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def grant(session: Session, tenant: Tenant, amount: int, reference: str) -> CreditTransaction:
    """Record a balanced grant of ``amount`` credits (source ``granted`` -> ``available``)."""
    accounts = {
        code: session.scalars(
            sa.select(CreditAccount).filter_by(tenant_id=tenant.id, code=code)
        ).one_or_none()
        or CreditAccount(
            tenant_id=tenant.id, code=code, allow_negative=code is CreditAccountCode.GRANTED
        )
        for code in (CreditAccountCode.AVAILABLE, CreditAccountCode.GRANTED)
    }
    session.add_all(accounts.values())
    session.flush()
    transaction = CreditTransaction(
        tenant_id=tenant.id, kind=CreditTransactionKind.GRANT, reference=reference
    )
    session.add(transaction)
    session.flush()
    for code, signed in (
        (CreditAccountCode.AVAILABLE, amount),
        (CreditAccountCode.GRANTED, -amount),
    ):
        accounts[code].balance += signed
        session.add(
            CreditPosting(
                tenant_id=tenant.id,
                transaction_id=transaction.id,
                account_id=accounts[code].id,
                amount=signed,
            )
        )
    session.commit()
    return transaction


def test_balanced_grant_is_recorded(session: Session, tenant: Tenant) -> None:
    transaction = grant(session, tenant, 100, "welcome-bonus")
    session.expire_all()
    stored = session.get_one(CreditTransaction, transaction.id)
    assert sorted(p.amount for p in stored.postings) == [-100, 100]
    accounts = session.scalars(sa.select(CreditAccount).filter_by(tenant_id=tenant.id))
    balances = {account.code: account.balance for account in accounts}
    assert balances == {CreditAccountCode.AVAILABLE: 100, CreditAccountCode.GRANTED: -100}


def test_zero_posting_is_rejected(session: Session, tenant: Tenant) -> None:
    transaction = grant(session, tenant, 5, "seed")
    account_id = transaction.postings[0].account_id
    posting = CreditPosting(
        tenant_id=tenant.id, transaction_id=transaction.id, account_id=account_id, amount=0
    )
    assert_rejected(session, posting, "amount_non_zero")


def test_transaction_reference_is_unique_per_tenant(session: Session, tenant: Tenant) -> None:
    grant(session, tenant, 5, "order-42")
    again = CreditTransaction(
        tenant_id=tenant.id, kind=CreditTransactionKind.GRANT, reference="order-42"
    )
    assert_rejected(session, again, "uq_credit_transactions_tenant_id_reference")


def test_posted_transaction_cannot_be_deleted(session: Session, tenant: Tenant) -> None:
    transaction = grant(session, tenant, 5, "keep-me")
    with pytest.raises(IntegrityError):
        session.execute(sa.delete(CreditTransaction).where(CreditTransaction.id == transaction.id))
    session.rollback()


# -- usage -------------------------------------------------------------------------------------


def overage(tenant: Tenant, meter: UsageMeter, **overrides: int) -> UsageOverageFee:
    """1 200 calls above the allowance at 2 minor units each: 2 400."""
    values = {"units_used": 1200, "unit_price": 2, "total_amount": 2400, "included_units": 10_000}
    values.update(overrides)
    return UsageOverageFee(
        tenant_id=tenant.id,
        meter_id=meter.id,
        period_start=JAN,
        period_end=FEB,
        currency="USD",
        **values,
    )


def test_overage_total_must_equal_units_times_price(
    session: Session, tenant: Tenant, meter: UsageMeter
) -> None:
    assert_rejected(session, overage(tenant, meter, total_amount=2401), "total_calc")
    assert_accepted(session, overage(tenant, meter))


@pytest.mark.parametrize("column", ["units_used", "unit_price", "included_units"])
def test_negative_overage_amount_is_rejected(
    session: Session, tenant: Tenant, meter: UsageMeter, column: str
) -> None:
    # units_used = -1 with price 0 (or price -1 with no units) keeps the total at 0 = product.
    values = {"units_used": 0, "unit_price": 0, "total_amount": 0, column: -1}
    assert_rejected(session, overage(tenant, meter, **values), "positive_amounts")


def test_negative_overage_total_is_rejected(
    session: Session, tenant: Tenant, meter: UsageMeter
) -> None:
    fee = overage(tenant, meter, units_used=-1, unit_price=5, total_amount=-5)
    assert_rejected(session, fee, "positive_amounts")


def test_usage_aggregate_bucket_is_unique(
    session: Session, tenant: Tenant, meter: UsageMeter
) -> None:
    def bucket(quantity: int) -> UsageAggregate:
        return UsageAggregate(
            tenant_id=tenant.id,
            meter_id=meter.id,
            granularity=UsageGranularity.DAY,
            period_start=JAN,
            period_end=JAN + timedelta(days=1),
            quantity=quantity,
            event_count=1,
        )

    assert_accepted(session, bucket(5))
    assert_rejected(
        session, bucket(7), "uq_usage_aggregates_tenant_id_meter_id_granularity_period_start"
    )
    assert_rejected(
        session,
        UsageAggregate(
            tenant_id=tenant.id,
            meter_id=meter.id,
            granularity=UsageGranularity.HOUR,
            period_start=JAN,
            period_end=JAN + timedelta(hours=1),
            quantity=-1,
        ),
        "quantity_non_negative",
    )


@pytest.fixture
def usage_session(db: TestDatabase, tenant: Tenant, meter: UsageMeter) -> Iterator[Session]:
    """A session inside one outer transaction that is rolled back at the end.

    On PostgreSQL, ``usage_metered_usage`` only accepts rows that fall into a partition; while the
    schema has none, a DEFAULT partition is created inside the transaction and vanishes with it.
    """
    with db.engine.connect() as conn:
        outer = conn.begin()
        if (
            db.is_postgres
            and not conn.execute(
                sa.text(
                    "SELECT EXISTS (SELECT 1 FROM pg_inherits"
                    " WHERE inhparent = 'usage_metered_usage'::regclass)"
                )
            ).scalar_one()
        ):
            conn.execute(
                sa.text(
                    "CREATE TABLE usage_metered_usage_test_default"
                    " PARTITION OF usage_metered_usage DEFAULT"
                )
            )
        with Session(conn, join_transaction_mode="create_savepoint") as session:
            yield session
        outer.rollback()


def test_metered_usage_is_deduplicated_by_idempotency_key(
    usage_session: Session, tenant: Tenant, meter: UsageMeter
) -> None:
    def event(key: str | None, quantity: int = 1, at: datetime = JAN) -> MeteredUsage:
        return MeteredUsage(
            tenant_id=tenant.id,
            meter_id=meter.id,
            occurred_at=at,
            quantity=quantity,
            idempotency_key=key,
        )

    assert_accepted(usage_session, event("req-1", 3))
    usage_session.add(event("req-1", 3))
    # PostgreSQL reports the partition's own index, so match the key columns, not the name.
    with pytest.raises(IntegrityError, match=r"tenant_id, .*meter_id, .*idempotency_key"):
        usage_session.flush()
    usage_session.rollback()
    # Without a key nothing is deduplicated; a later event time is another event.
    assert_accepted(usage_session, event(None))
    assert_accepted(usage_session, event(None))
    assert_accepted(usage_session, event("req-1", at=JAN + timedelta(seconds=1)))
    rows = usage_session.scalars(sa.select(MeteredUsage).order_by(MeteredUsage.id)).all()
    assert [r.quantity for r in rows] == [3, 1, 1, 1]
    assert all(r.id.version == 7 and r.occurred_at.tzinfo is not None for r in rows)


def test_negative_usage_quantity_is_rejected(
    usage_session: Session, tenant: Tenant, meter: UsageMeter
) -> None:
    row = MeteredUsage(tenant_id=tenant.id, meter_id=meter.id, occurred_at=JAN, quantity=-1)
    assert_rejected(usage_session, row, "quantity_non_negative")


@pytest.mark.postgres_only
def test_metered_usage_is_range_partitioned_by_occurred_at(db: TestDatabase) -> None:
    with db.engine.connect() as conn:
        strategy = conn.execute(
            sa.text("SELECT pg_get_partkeydef('usage_metered_usage'::regclass)")
        ).scalar_one()
    assert strategy == "RANGE (occurred_at)"


# -- fix 10: index and constraint names name their own table -----------------------------------


def test_every_index_and_constraint_name_contains_its_table() -> None:
    wrong = [
        f"{table.name}: {name}"
        for table in metadata.tables.values()
        for name in [str(ix.name) for ix in table.indexes]
        + [str(c.name) for c in table.constraints]
        if table.name not in name
    ]
    assert wrong == []


def test_own_names_fit_postgresql_identifiers() -> None:
    # Longer names would be truncated with a hash by SQLAlchemy, and no longer read as their table.
    too_long = [
        name
        for table_name in OWN_TABLES
        for name in [str(ix.name) for ix in metadata.tables[table_name].indexes]
        + [str(c.name) for c in metadata.tables[table_name].constraints]
        if len(name) > 63
    ]
    assert too_long == []


@pytest.mark.postgres_only
def test_database_index_and_constraint_names_contain_their_table(db: TestDatabase) -> None:
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, i.relname FROM pg_index x"
                " JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid"
                " WHERE c.relname = ANY(:tables)"
                " UNION ALL SELECT c.relname, k.conname FROM pg_constraint k"
                " JOIN pg_class c ON c.oid = k.conrelid WHERE c.relname = ANY(:tables)"
            ),
            {"tables": list(metadata.tables)},
        ).all()
    assert {table for table, _ in rows} >= set(OWN_TABLES)
    assert [f"{table}: {name}" for table, name in rows if table not in name] == []
