"""Tables of the privacy domain: consents, data subject requests, the personal-data registry.

GDPR records are about people, not workspaces: consents carry no ``tenant_id`` at all, and a
subject request names a tenant only when it concerns that tenant's data alone.
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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.clock import utcnow
from saas_core.db.base import Base
from saas_core.db.mixins import IdMixin, PublicIdMixin, TimestampMixin
from saas_core.db.types import enum_type

# --- consents ------------------------------------------------------------------------------------


class ConsentSource(enum.StrEnum):
    """Where a consent decision was captured."""

    WEB = "web"
    API = "api"
    IMPORT = "import"


class UserConsent(IdMixin, Base):
    """One consent decision of a user for one purpose (GDPR Art. 7: demonstrable consent).

    A decision is never edited: a change of mind, or agreement to a newer text, is a **new row**,
    so the history of what the user agreed to and when is kept (seed review fix 2). When a new
    decision supersedes the current one, the service stamps the old row's ``revoked_at`` with the
    new row's ``granted_at`` (this table is not append-only; that stamp is its only UPDATE). So:

    * the current decision for ``(user_id, purpose)`` is the row whose ``revoked_at`` is NULL, and
      a partial unique index allows at most one such row;
    * ``granted`` says what was decided: True is consent given, False an explicit refusal or a
      withdrawal (a withdrawal is a new ``granted=False`` row, not a delete);
    * ``granted_at`` is the one timestamp of the decision: there is no separate ``created_at``.

    ``proof_hash`` is the SHA-256 hex digest of the consent text shown, the user and
    ``granted_at``, so the exact wording agreed to can be proven later.
    Consents belong to the person across all workspaces, hence no ``tenant_id``.
    """

    __tablename__ = "privacy_user_consents"
    __table_args__ = (
        Index(None, "user_id", "purpose", "granted_at"),
        Index(
            "uq_privacy_user_consents_current",
            "user_id",
            "purpose",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("length(proof_hash) = 64", name="proof_hash_sha256_hex"),
        CheckConstraint("length(purpose) > 0", name="purpose_not_empty"),
        CheckConstraint(
            "revoked_at IS NULL OR revoked_at >= granted_at", name="revoked_after_grant"
        ),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    #: A stable key such as ``"marketing_email"`` or ``"product_analytics"``.
    purpose: Mapped[str] = mapped_column(String(100))
    #: Version of the policy or consent text the decision applies to.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    granted: Mapped[bool] = mapped_column()
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    proof_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[ConsentSource] = mapped_column(
        enum_type(ConsentSource, "consent_source"), default=ConsentSource.WEB
    )
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)


# --- data subject requests ----------------------------------------------------------------------


class SubjectRequestKind(enum.StrEnum):
    """The data subject right exercised (GDPR Art. 15-21)."""

    ACCESS = "access"
    DELETION = "deletion"
    RECTIFICATION = "rectification"
    PORTABILITY = "portability"
    RESTRICTION = "restriction"
    OBJECTION = "objection"


class SubjectRequestStatus(enum.StrEnum):
    """Workflow of a subject request."""

    RECEIVED = "received"
    VERIFYING = "verifying"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class SubjectRequest(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A data subject request (access, erasure, rectification...) and its processing record.

    ``user_id`` is SET NULL when the account is erased, so the request survives as evidence that
    it was handled; ``subject_email_hash`` (a keyed hash of the normalised address, computed by the
    service) still ties it to the person. ``processed_by`` is nullable with ON DELETE SET NULL
    (seed review fix 1): removing a staff account never breaks or deletes the record.

    ``tenant_id`` is NULL for account-wide requests (the usual case) and set when a request
    concerns one workspace's data only. Because the column is named ``tenant_id`` the table is under
    Row Level Security on PostgreSQL: account-wide rows are written and processed under the explicit
    platform scope, and the subject reads their own requests through the ``self_read`` policy.

    ``due_at`` is the statutory deadline (one month after ``requested_at``, GDPR Art. 12(3)), set by
    the service. An access or portability export is described by ``export_data`` (its manifest) and
    stored encrypted in ``export_ciphertext`` (AES-GCM; ``export_key_id`` names the key, so keys
    can rotate).
    """

    __tablename__ = "privacy_subject_requests"
    __table_args__ = (
        Index(None, "tenant_id", "requested_at"),
        Index(None, "user_id", "requested_at"),
        Index(None, "status", "due_at"),
        Index(
            "ix_privacy_subject_requests_export_data_gin", "export_data", postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
        CheckConstraint("due_at >= requested_at", name="due_after_request"),
        CheckConstraint(
            "completed_at IS NULL OR completed_at >= requested_at", name="completed_after_request"
        ),
        CheckConstraint(
            "status <> 'rejected' OR rejection_reason IS NOT NULL", name="rejection_has_reason"
        ),
        CheckConstraint(
            "(export_ciphertext IS NULL AND export_key_id IS NULL)"
            " OR (export_ciphertext IS NOT NULL AND export_key_id IS NOT NULL)",
            name="export_has_key_id",
        ),
        CheckConstraint("length(subject_email_hash) = 64", name="subject_email_hash_hex"),
        {"info": {"rls": {"self_read": "user_id"}}},
    )

    tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), default=None
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    subject_email_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[SubjectRequestKind] = mapped_column(
        enum_type(SubjectRequestKind, "subject_request_kind")
    )
    status: Mapped[SubjectRequestStatus] = mapped_column(
        enum_type(SubjectRequestStatus, "subject_request_status"),
        default=SubjectRequestStatus.RECEIVED,
        server_default=SubjectRequestStatus.RECEIVED.value,
    )
    #: What the subject asked for, in their words (e.g. which data to rectify).
    subject_statement: Mapped[str | None] = mapped_column(Text, default=None)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime] = mapped_column()
    processed_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    rejection_reason: Mapped[str | None] = mapped_column(Text, default=None)
    export_data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    export_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    export_key_id: Mapped[str | None] = mapped_column(String(64), default=None)
    #: After this instant the export is deleted and must be requested again.
    export_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)


# --- personal data registry ---------------------------------------------------------------------


class DataCategory(enum.StrEnum):
    """What kind of personal data a column holds (drives access reviews and breach reports)."""

    IDENTIFIER = "identifier"
    CONTACT = "contact"
    FINANCIAL = "financial"
    TECHNICAL = "technical"
    BEHAVIORAL = "behavioral"
    SPECIAL = "special"  # GDPR Art. 9 special categories
    OTHER = "other"


class LawfulBasis(enum.StrEnum):
    """The GDPR Art. 6(1) basis for processing."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class ErasureStrategy(enum.StrEnum):
    """What erasure does to a column: delete the row, overwrite the value, or keep it by law."""

    DELETE = "delete"
    PSEUDONYMISE = "pseudonymise"
    RETAIN_LEGAL = "retain_legal"


class PersonalDataEntry(IdMixin, TimestampMixin, Base):
    """One column that holds personal data, why it is kept, for how long, and how it is erased.

    The record of processing (GDPR Art. 30) as data, and the plan the retention and erasure jobs
    follow (seed review fix 11). Once ``retention_days`` have passed since ``timestamp_column``
    the retention job deletes the row (``delete``, ``retain_legal``) or overwrites the value
    (``pseudonymise``); on a subject's erasure request, rows found through ``subject_column`` are
    deleted or overwritten the same way, while ``retain_legal`` keeps them until retention ends and
    must say why in ``legal_hold_reason``. The details, and saas-core's own entries, are in
    :mod:`saas_core.privacy.registry`.
    """

    __tablename__ = "personal_data_registry"
    __table_args__ = (
        UniqueConstraint("table_name", "column_name"),
        CheckConstraint("retention_days IS NULL OR retention_days > 0", name="retention_positive"),
        CheckConstraint(
            "erasure_strategy <> 'retain_legal'"
            " OR (legal_hold_reason IS NOT NULL AND length(legal_hold_reason) > 0)",
            name="retain_legal_has_reason",
        ),
        CheckConstraint(
            "retention_days IS NULL OR timestamp_column IS NOT NULL",
            name="retention_has_timestamp_column",
        ),
    )

    table_name: Mapped[str] = mapped_column(String(63))
    column_name: Mapped[str] = mapped_column(String(63))
    data_category: Mapped[DataCategory] = mapped_column(
        enum_type(DataCategory, "personal_data_category")
    )
    purpose: Mapped[str] = mapped_column(String(200))
    lawful_basis: Mapped[LawfulBasis] = mapped_column(enum_type(LawfulBasis, "lawful_basis"))
    #: NULL: kept as long as the account (or the owning row) exists.
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    #: The column retention counts from (e.g. ``created_at``, ``occurred_at``).
    timestamp_column: Mapped[str | None] = mapped_column(String(63), default=None)
    #: The column linking a row to its data subject (``id`` on users, ``user_id`` elsewhere).
    subject_column: Mapped[str | None] = mapped_column(String(63), default=None)
    erasure_strategy: Mapped[ErasureStrategy] = mapped_column(
        enum_type(ErasureStrategy, "erasure_strategy")
    )
    legal_hold_reason: Mapped[str | None] = mapped_column(Text, default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
