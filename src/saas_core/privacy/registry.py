"""saas-core's own personal data, as plain data for the ``personal_data_registry`` table.

:data:`DEFAULT_REGISTRY` lists every column of saas-core's tables that holds personal data, with
why it is kept, for how long and what erasure does to it. A migration or the CLI syncs it into
:class:`~saas_core.privacy.models.PersonalDataEntry` rows; host apps add entries for their own
tables the same way. This module does no I/O.

How the retention and erasure jobs read an entry:

* when ``retention_days`` have passed since ``timestamp_column``, ``delete`` and ``retain_legal``
  entries lose their row, and ``pseudonymise`` entries have the value overwritten (the row stays);
* on a subject's erasure request (rows found through ``subject_column``), ``delete`` removes the
  rows, ``pseudonymise`` overwrites the value and ``retain_legal`` keeps it until retention ends.

Append-only tables (audit log, security events) lose rows only by dropping whole monthly
partitions past retention: the one audited deletion path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saas_core.privacy.models import DataCategory, ErasureStrategy, LawfulBasis


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One column that holds personal data (mirrors a ``personal_data_registry`` row)."""

    table_name: str
    column_name: str
    data_category: DataCategory
    purpose: str
    lawful_basis: LawfulBasis
    erasure_strategy: ErasureStrategy
    retention_days: int | None = None
    timestamp_column: str | None = None
    subject_column: str | None = None
    legal_hold_reason: str | None = None
    description: str | None = None

    def as_values(self) -> dict[str, Any]:
        """The entry as column values for an insert or upsert."""
        return asdict(self)


_SECURITY_TRAIL = (
    "The security audit trail is append-only and must stay complete for investigations;"
    " rows leave only when their monthly partition passes retention."
)
_PROOF_OF_CONSENT = (
    "Proof of consent (GDPR Art. 7(1)) must outlive the account for the limitation period."
)
_ACCOUNTABILITY = (
    "Evidence that a data subject request was handled (GDPR Art. 5(2) accountability)."
)

_D = DataCategory
_B = LawfulBasis
_E = ErasureStrategy

#: Personal data held in saas-core's own tables.
DEFAULT_REGISTRY: tuple[RegistryEntry, ...] = (
    # users: the account row stays (records point at it); erasure overwrites what identifies.
    RegistryEntry(
        "users",
        "email",
        _D.CONTACT,
        "Sign-in and service messages",
        _B.CONTRACT,
        _E.PSEUDONYMISE,
        subject_column="id",
    ),
    RegistryEntry(
        "users",
        "display_name",
        _D.IDENTIFIER,
        "Showing who did what to teammates",
        _B.CONTRACT,
        _E.PSEUDONYMISE,
        subject_column="id",
    ),
    RegistryEntry(
        "users",
        "password_hash",
        _D.TECHNICAL,
        "Authentication",
        _B.CONTRACT,
        _E.PSEUDONYMISE,
        subject_column="id",
    ),
    RegistryEntry(
        "users",
        "last_login_at",
        _D.BEHAVIORAL,
        "Account security and dormant-account review",
        _B.LEGITIMATE_INTERESTS,
        _E.PSEUDONYMISE,
        subject_column="id",
    ),
    # sessions
    RegistryEntry(
        "auth_sessions",
        "ip",
        _D.TECHNICAL,
        "Session security and the user's device list",
        _B.LEGITIMATE_INTERESTS,
        _E.DELETE,
        retention_days=90,
        timestamp_column="created_at",
        subject_column="user_id",
    ),
    RegistryEntry(
        "auth_sessions",
        "user_agent",
        _D.TECHNICAL,
        "Session security and the user's device list",
        _B.LEGITIMATE_INTERESTS,
        _E.DELETE,
        retention_days=90,
        timestamp_column="created_at",
        subject_column="user_id",
    ),
    # privacy
    RegistryEntry(
        "privacy_user_consents",
        "ip",
        _D.TECHNICAL,
        "Proof of consent",
        _B.LEGAL_OBLIGATION,
        _E.RETAIN_LEGAL,
        retention_days=3 * 365,
        timestamp_column="granted_at",
        subject_column="user_id",
        legal_hold_reason=_PROOF_OF_CONSENT,
    ),
    RegistryEntry(
        "privacy_user_consents",
        "user_agent",
        _D.TECHNICAL,
        "Proof of consent",
        _B.LEGAL_OBLIGATION,
        _E.RETAIN_LEGAL,
        retention_days=3 * 365,
        timestamp_column="granted_at",
        subject_column="user_id",
        legal_hold_reason=_PROOF_OF_CONSENT,
    ),
    RegistryEntry(
        "privacy_subject_requests",
        "subject_email_hash",
        _D.IDENTIFIER,
        "Matching a request to its subject after the account is gone",
        _B.LEGAL_OBLIGATION,
        _E.RETAIN_LEGAL,
        retention_days=3 * 365,
        timestamp_column="requested_at",
        subject_column="user_id",
        legal_hold_reason=_ACCOUNTABILITY,
    ),
    RegistryEntry(
        "privacy_subject_requests",
        "export_ciphertext",
        _D.OTHER,
        "Delivering an access or portability export",
        _B.LEGAL_OBLIGATION,
        _E.PSEUDONYMISE,
        retention_days=30,
        timestamp_column="completed_at",
        subject_column="user_id",
        description="The encrypted export itself; cleared (set NULL) when it expires.",
    ),
    # audit and security: referenced by id, only the network context is copied
    RegistryEntry(
        "platform_audit_logs",
        "ip",
        _D.TECHNICAL,
        "Security audit trail",
        _B.LEGITIMATE_INTERESTS,
        _E.RETAIN_LEGAL,
        retention_days=365,
        timestamp_column="occurred_at",
        subject_column="actor_user_id",
        legal_hold_reason=_SECURITY_TRAIL,
    ),
    RegistryEntry(
        "platform_audit_logs",
        "user_agent",
        _D.TECHNICAL,
        "Security audit trail",
        _B.LEGITIMATE_INTERESTS,
        _E.RETAIN_LEGAL,
        retention_days=365,
        timestamp_column="occurred_at",
        subject_column="actor_user_id",
        legal_hold_reason=_SECURITY_TRAIL,
    ),
    RegistryEntry(
        "security_events",
        "ip",
        _D.TECHNICAL,
        "Detecting attacks on accounts",
        _B.LEGITIMATE_INTERESTS,
        _E.RETAIN_LEGAL,
        retention_days=365,
        timestamp_column="occurred_at",
        subject_column="user_id",
        legal_hold_reason=_SECURITY_TRAIL,
    ),
    RegistryEntry(
        "security_events",
        "user_agent",
        _D.TECHNICAL,
        "Detecting attacks on accounts",
        _B.LEGITIMATE_INTERESTS,
        _E.RETAIN_LEGAL,
        retention_days=365,
        timestamp_column="occurred_at",
        subject_column="user_id",
        legal_hold_reason=_SECURITY_TRAIL,
    ),
    RegistryEntry(
        "impersonation_sessions",
        "ip",
        _D.TECHNICAL,
        "Accountability of platform operators",
        _B.LEGITIMATE_INTERESTS,
        _E.RETAIN_LEGAL,
        retention_days=2 * 365,
        timestamp_column="started_at",
        subject_column="impersonator_user_id",
        legal_hold_reason="Record of who acted as whom, kept for investigations.",
    ),
    # the HTTP layer: a stored response may echo personal data back
    RegistryEntry(
        "idempotency_keys",
        "response_body",
        _D.OTHER,
        "Replaying the first response to a retried request",
        _B.CONTRACT,
        _E.DELETE,
        retention_days=2,
        timestamp_column="created_at",
        description="Purged after expires_at (at least 24 h); not linked to a subject column.",
    ),
)
