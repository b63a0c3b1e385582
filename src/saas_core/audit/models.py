"""Tables of the audit domain: the platform audit log, security events and security incidents.

The audit log and the security events are append-only and range-partitioned by month on
PostgreSQL. They hold no foreign keys (a cascade would be an UPDATE or DELETE, which the
append-only trigger rejects) and no copies of personal data beyond the network address: people
are referenced by id, so erasing a user never rewrites, or breaks, the audit trail.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from saas_core.clock import utcnow
from saas_core.db.base import Base
from saas_core.db.mixins import IdMixin, PublicIdMixin, TimestampMixin
from saas_core.db.types import enum_type
from saas_core.ids import uuid7

#: PostgreSQL partitioning of the high-volume tables (child partitions: ``saas_core.db.postgres``).
_PARTITION_BY_MONTH = {"postgresql_partition_by": "RANGE (occurred_at)"}


class ActorType(enum.StrEnum):
    """Who performed an audited action."""

    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"
    PROVIDER = "provider"  # a payment provider, through its webhook


class AuditOutcome(enum.StrEnum):
    """How an audited action ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class Severity(enum.StrEnum):
    """Severity of a security event or incident."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class SecurityEventType(enum.StrEnum):
    """Security event types saas-core itself records.

    The column is a plain string so host apps may record their own types; these are the known ones.
    """

    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOCKOUT = "lockout"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name, not a secret
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105 - an event name
    PASSWORD_RESET = "password_reset"  # noqa: S105 - an event name, not a secret
    EMAIL_VERIFIED = "email_verified"
    EMAIL_CHANGE_REQUESTED = "email_change_requested"
    EMAIL_CHANGED = "email_changed"
    ACCOUNT_DELETED = "account_deleted"
    SESSION_REVOKED = "session_revoked"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    ROLE_CHANGED = "role_changed"
    IMPERSONATION_STARTED = "impersonation_started"
    IMPERSONATION_ENDED = "impersonation_ended"
    BREAK_GLASS_USED = "break_glass_used"
    WEBHOOK_SIGNATURE_INVALID = "webhook_signature_invalid"
    ACCOUNT_DISABLED = "account_disabled"


class IncidentStatus(enum.StrEnum):
    """Workflow of a security incident (seed review fix 3: an enum, not free text)."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    CLOSED = "closed"


class AuditLog(Base):
    """One audited action: who did what to which object, in which tenant, with what outcome.

    Append-only and partitioned by month on PostgreSQL (seed review fix 12), so its primary key is
    ``(id, occurred_at)`` with ``id`` a UUIDv7 made in Python. ``tenant_id``, ``actor_user_id`` and
    ``impersonator_user_id`` are plain integers without foreign keys: tenants are archived rather
    than deleted, and an erased user leaves their id behind, never their email or name.
    ``actor_public_id`` is the public id of the user or API key that acted. ``tenant_id`` is NULL
    for platform-level actions; with RLS such rows are written and read under the platform scope.
    """

    __tablename__ = "platform_audit_logs"
    __table_args__ = (
        Index(None, "tenant_id", "occurred_at"),
        Index(None, "actor_user_id", "occurred_at"),
        Index(None, "target_public_id"),
        Index("ix_platform_audit_logs_metadata_gin", "metadata", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        _PARTITION_BY_MONTH,
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True, default=utcnow)
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    actor_type: Mapped[ActorType] = mapped_column(enum_type(ActorType, "audit_actor_type"))
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    actor_public_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: Set while a platform operator acts as another user (the real person behind the action).
    impersonator_user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    #: Dotted action name, e.g. ``"project.create"``, ``"tenant.member.remove"``.
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50), default=None)
    target_public_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)
    outcome: Mapped[AuditOutcome] = mapped_column(
        enum_type(AuditOutcome, "audit_outcome"), default=AuditOutcome.SUCCESS
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class SecurityEvent(Base):
    """A security-relevant event (failed login, lockout, key created, impersonation...).

    Append-only and partitioned by month on PostgreSQL, like :class:`AuditLog`, and for the same
    reasons without foreign keys. ``event_type`` is a string; :class:`SecurityEventType` lists the
    types saas-core records. Events before a tenant is known (a failed login) have ``tenant_id``
    NULL and are written under the platform scope on PostgreSQL.
    """

    __tablename__ = "security_events"
    __table_args__ = (
        Index(None, "tenant_id", "occurred_at"),
        Index(None, "user_id", "occurred_at"),
        Index(None, "event_type", "occurred_at"),
        Index("ix_security_events_metadata_gin", "metadata", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        CheckConstraint("length(event_type) > 0", name="event_type_not_empty"),
        _PARTITION_BY_MONTH,
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True, default=utcnow)
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    event_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[Severity] = mapped_column(
        enum_type(Severity, "security_severity"), default=Severity.INFO
    )
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class SecurityIncident(IdMixin, PublicIdMixin, TimestampMixin, Base):
    """A security incident under investigation, and its GDPR Art. 33 breach-notification record.

    ``detected_at`` is when the incident happened or was detected; ``created_at`` is when it was
    logged here (seed review fix 2). ``status`` is an enum defaulting to ``open`` (fix 3).
    ``assigned_to`` and ``reported_by`` are nullable and SET NULL when the user is deleted (fix 1).

    For a personal data breach the supervisory authority must be told within 72 hours of
    detection: the service sets ``authority_notification_due_at`` (``detected_at`` + 72 h); a
    notification after that deadline must give ``notification_delay_reason`` (checked by the
    service, since "late" is only known when the notification is recorded).
    ``tenant_id`` is NULL for platform-wide incidents (read under the platform scope); a tenant's
    incidents are under its Row Level Security.
    """

    __tablename__ = "security_incidents"
    __table_args__ = (
        Index(None, "tenant_id", "status", "detected_at"),
        Index(None, "status", "detected_at"),
        CheckConstraint(
            "resolved_at IS NULL OR resolved_at >= detected_at", name="resolved_after_detected"
        ),
        CheckConstraint(
            "closed_at IS NULL OR closed_at >= detected_at", name="closed_after_detected"
        ),
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed_has_closed_at"),
        CheckConstraint(
            "status <> 'resolved' OR resolved_at IS NOT NULL", name="resolved_has_resolved_at"
        ),
        CheckConstraint(
            "affected_subjects_count IS NULL OR affected_subjects_count >= 0",
            name="affected_subjects_non_negative",
        ),
        CheckConstraint(
            "affected_records_count IS NULL OR affected_records_count >= 0",
            name="affected_records_non_negative",
        ),
        CheckConstraint(
            "NOT personal_data_breach OR authority_notification_due_at IS NOT NULL",
            name="breach_has_notification_deadline",
        ),
        CheckConstraint(
            "authority_notified_at IS NULL OR authority_notified_at >= detected_at",
            name="notified_after_detected",
        ),
    )

    tenant_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), default=None
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    severity: Mapped[Severity] = mapped_column(
        enum_type(Severity, "security_severity"), default=Severity.MEDIUM
    )
    status: Mapped[IncidentStatus] = mapped_column(
        enum_type(IncidentStatus, "incident_status"),
        default=IncidentStatus.OPEN,
        server_default=IncidentStatus.OPEN.value,
    )
    detected_at: Mapped[datetime] = mapped_column()
    assigned_to: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reported_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    resolution: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # GDPR Art. 33/34 breach notification
    personal_data_breach: Mapped[bool] = mapped_column(default=False)
    authority_notification_due_at: Mapped[datetime | None] = mapped_column(default=None)
    authority_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The supervisory authority's case number.
    authority_reference: Mapped[str | None] = mapped_column(String(200), default=None)
    subjects_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    affected_subjects_count: Mapped[int | None] = mapped_column(Integer, default=None)
    affected_records_count: Mapped[int | None] = mapped_column(BigInteger, default=None)
    notification_delay_reason: Mapped[str | None] = mapped_column(Text, default=None)
