"""Tables of credits: a double-entry journal (accounts, transactions, postings).

The seed's ``tenant_credit_ledger`` is this journal: a tenant's ledger is the postings of its
accounts, in order. Every movement of credits is one :class:`CreditTransaction` with two or more
:class:`CreditPosting` rows whose amounts sum to zero, so credits are never created or destroyed
without a counter-entry. The zero sum is enforced by the credits service, which also updates the
cached :attr:`CreditAccount.balance` of each account in the same database transaction.

Sign convention: the tenant's spendable balance lives in the ``available`` account. Credits come
from a source account (``granted``, ``purchased``) and go to a sink (``consumed``, ``expired``),
e.g. a grant of 100 posts ``available +100`` and ``granted -100``; a consumption of 10 posts
``available -10`` and ``consumed +10``. Source accounts therefore run negative and are created
with ``allow_negative``; ``available`` is not, so the database refuses an overdraft.
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
    String,
    UniqueConstraint,
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


class CreditAccountCode(enum.StrEnum):
    """The role of a credit account in the journal (see the module docstring)."""

    AVAILABLE = "available"
    GRANTED = "granted"
    PURCHASED = "purchased"
    CONSUMED = "consumed"
    EXPIRED = "expired"
    ADJUSTMENT = "adjustment"


class CreditTransactionKind(enum.StrEnum):
    """Why credits moved."""

    GRANT = "grant"
    PURCHASE = "purchase"
    CONSUME = "consume"
    EXPIRE = "expire"
    ADJUST = "adjust"
    REFUND = "refund"


class CreditAccount(TenantScopedMixin, IdMixin, PublicIdMixin, TimestampMixin, Base):
    """One account of a tenant's credit journal, per role and unit.

    ``balance`` caches the sum of the account's postings; it may only go below zero when
    ``allow_negative`` is set (source accounts), which is a CHECK.
    """

    __tablename__ = "credit_accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", "unit"),
        CheckConstraint("allow_negative OR balance >= 0", name="balance_non_negative"),
    )

    code: Mapped[CreditAccountCode] = mapped_column(
        enum_type(CreditAccountCode, "credit_account_code")
    )
    unit: Mapped[str] = mapped_column(String(32), default="credits")
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_negative: Mapped[bool] = mapped_column(default=False)


class CreditTransaction(TenantScopedMixin, IdMixin, PublicIdMixin, CreatedAtMixin, Base):
    """One balanced movement of credits: the header of its postings.

    ``reference`` is the caller's idempotency or external reference (a payment id, a usage
    period...); it is unique per tenant, so recording the same movement twice fails.
    ``expires_at`` applies to grants and purchases whose credits lapse.
    """

    __tablename__ = "credit_transactions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        Index(None, "tenant_id", "occurred_at"),
    )

    kind: Mapped[CreditTransactionKind] = mapped_column(
        enum_type(CreditTransactionKind, "credit_transaction_kind")
    )
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    reference: Mapped[str | None] = mapped_column(String(255), default=None)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntFK, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    postings: Mapped[list[CreditPosting]] = relationship(
        back_populates="transaction", order_by="CreditPosting.id"
    )


class CreditPosting(IdMixin, CreatedAtMixin, Base):
    """One signed entry of a transaction on one account. Append-only.

    Its foreign keys are ``RESTRICT`` (a cascade would UPDATE or DELETE rows of an append-only
    table): a tenant, account or transaction with postings cannot be deleted except through the
    audited retention path.
    """

    __tablename__ = "credit_postings"
    __tenant_scoped__ = True
    __table_args__ = (
        Index(None, "tenant_id", "account_id", "id"),
        Index(None, "transaction_id"),
        Index(None, "account_id"),
        CheckConstraint("amount <> 0", name="amount_non_zero"),
    )

    tenant_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("tenants.id", ondelete="RESTRICT"), sort_order=-80
    )
    transaction_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("credit_transactions.id", ondelete="RESTRICT")
    )
    account_id: Mapped[int] = mapped_column(
        BigIntFK, ForeignKey("credit_accounts.id", ondelete="RESTRICT")
    )
    amount: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[CreditTransaction] = relationship(back_populates="postings")
