"""Privacy, audit, platform and idempotency tables: the seed review's fixes, on both databases."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

import saas_core.models  # noqa: F401 - registers every table
from saas_core.api.models import IdempotencyKey, IdempotencyState
from saas_core.audit.models import (
    ActorType,
    AuditLog,
    IncidentStatus,
    SecurityEvent,
    SecurityEventType,
    SecurityIncident,
    Severity,
)
from saas_core.db.base import metadata
from saas_core.identity.models import AuthSession, User
from saas_core.platform.models import ImpersonationEndReason, ImpersonationSession
from saas_core.privacy.models import (
    ConsentSource,
    DataCategory,
    ErasureStrategy,
    LawfulBasis,
    PersonalDataEntry,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestStatus,
    UserConsent,
)
from saas_core.privacy.registry import DEFAULT_REGISTRY
from saas_core.tenancy.models import Tenant
from tests.support.databases import TestDatabase

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PARTITIONED = ("platform_audit_logs", "security_events")


@contextmanager
def session(db: TestDatabase) -> Iterator[Session]:
    """A session on the schema owner's engine; on PostgreSQL every transaction runs in the
    explicit platform scope, as platform routes and workers do (these tables are not all
    tenant-bound)."""
    with Session(db.engine, expire_on_commit=False) as s:
        if db.is_postgres:

            @sa.event.listens_for(s, "after_begin")
            def _platform_scope(_s: Session, _t: SessionTransaction, conn: sa.Connection) -> None:
                conn.execute(sa.text("SELECT set_config('app.platform_scope', 'on', true)"))

        yield s


@contextmanager
def platform_connection(db: TestDatabase) -> Iterator[sa.Connection]:
    """A raw connection (for SQL that bypasses the ORM's defaults and enum checks), in the
    platform scope on PostgreSQL; rolled back at the end."""
    with db.engine.connect() as conn:
        if db.is_postgres:
            conn.execute(sa.text("SELECT set_config('app.platform_scope', 'on', true)"))
        yield conn
        conn.rollback()


def make_user(s: Session, email: str) -> User:
    user = User(email=email)
    s.add(user)
    s.flush()
    return user


def sha256_hex(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def hard_delete_user(db: TestDatabase, user_id: int) -> None:
    """DELETE the users row itself (not a soft delete), as an erasure job would."""
    with session(db) as s, s.begin():
        s.execute(sa.delete(User).where(User.id == user_id))


def bad_enum_error(db: TestDatabase) -> type[Exception]:
    """An unknown enum value: a CHECK violation on SQLite, a bad enum literal on PostgreSQL."""
    return DataError if db.is_postgres else IntegrityError


def subject_request(subject: User | None, **overrides: Any) -> SubjectRequest:
    values: dict[str, Any] = {
        "user_id": subject.id if subject else None,
        "subject_email_hash": sha256_hex(subject.email if subject else "gone@example.com"),
        "kind": SubjectRequestKind.ACCESS,
        "requested_at": T0,
        "due_at": T0 + timedelta(days=30),
    }
    values.update(overrides)
    return SubjectRequest(**values)


def consent(user: User, **overrides: Any) -> UserConsent:
    values: dict[str, Any] = {
        "user_id": user.id,
        "purpose": "marketing_email",
        "granted": True,
        "granted_at": T0,
        "proof_hash": sha256_hex("text v1", str(user.id), T0.isoformat()),
    }
    values.update(overrides)
    return UserConsent(**values)


def expect_integrity_error(s: Session, row: object) -> None:
    s.add(row)
    with pytest.raises(IntegrityError):
        s.flush()
    s.rollback()


# --- fix 1: processed_by / assigned_to are nullable, ON DELETE SET NULL -----------------------


def test_deleting_processor_leaves_subject_request_with_processed_by_null(
    db: TestDatabase,
) -> None:
    with session(db) as s, s.begin():
        subject = make_user(s, "subject@example.com")
        processor = make_user(s, "dpo@example.com")
        request = subject_request(
            subject,
            status=SubjectRequestStatus.IN_PROGRESS,
            processed_by=processor.id,
            processed_at=T0 + timedelta(hours=1),
        )
        s.add(request)
        s.flush()
        request_id, subject_id, processor_id = request.id, subject.id, processor.id

    hard_delete_user(db, processor_id)

    with session(db) as s:
        row = s.get_one(SubjectRequest, request_id)
        assert row.processed_by is None
        assert row.user_id == subject_id
        assert row.status is SubjectRequestStatus.IN_PROGRESS


def test_erasing_the_subject_keeps_the_request_as_evidence(db: TestDatabase) -> None:
    with session(db) as s, s.begin():
        subject = make_user(s, "subject@example.com")
        request = subject_request(subject, kind=SubjectRequestKind.DELETION)
        s.add(request)
        s.flush()
        request_id, subject_id = request.id, subject.id
        email_hash = request.subject_email_hash

    hard_delete_user(db, subject_id)

    with session(db) as s:
        row = s.get_one(SubjectRequest, request_id)
        assert row.user_id is None
        assert row.subject_email_hash == email_hash


def test_deleting_assignee_leaves_incident_with_assigned_to_null(db: TestDatabase) -> None:
    with session(db) as s, s.begin():
        analyst = make_user(s, "analyst@example.com")
        reporter = make_user(s, "reporter@example.com")
        incident = SecurityIncident(
            title="Credential stuffing",
            detected_at=T0,
            assigned_to=analyst.id,
            reported_by=reporter.id,
        )
        s.add(incident)
        s.flush()
        incident_id, analyst_id, reporter_id = incident.id, analyst.id, reporter.id

    hard_delete_user(db, analyst_id)

    with session(db) as s:
        row = s.get_one(SecurityIncident, incident_id)
        assert row.assigned_to is None
        assert row.reported_by == reporter_id


@pytest.mark.parametrize(
    ("table", "column"),
    [("privacy_subject_requests", "processed_by"), ("security_incidents", "assigned_to")],
)
def test_fix1_columns_are_nullable_with_set_null(db: TestDatabase, table: str, column: str) -> None:
    inspector = sa.inspect(db.engine)
    (col,) = [c for c in inspector.get_columns(table) if c["name"] == column]
    assert col["nullable"] is True
    (fk,) = [f for f in inspector.get_foreign_keys(table) if f["constrained_columns"] == [column]]
    assert fk["referred_table"] == "users"
    assert fk["options"].get("ondelete", "").upper() == "SET NULL"


# --- fix 2: consents -------------------------------------------------------------------------


def test_consent_has_one_decision_timestamp_and_versioning_columns(db: TestDatabase) -> None:
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("privacy_user_consents")}
    assert "created_at" not in columns
    assert {"granted_at", "revoked_at", "version", "proof_hash", "granted"} <= columns
    assert "tenant_id" not in columns  # consents belong to the person, not a workspace


def test_consent_change_is_a_new_row_and_history_is_kept(db: TestDatabase) -> None:
    t1 = T0 + timedelta(days=40)
    with session(db) as s, s.begin():
        user = make_user(s, "person@example.com")
        first = consent(user, source=ConsentSource.WEB, ip="203.0.113.7")
        s.add(first)
        s.flush()
        # The user withdraws: the current row is superseded, the withdrawal is a new row.
        first.revoked_at = t1
        s.add(consent(user, granted=False, granted_at=t1, version=2, proof_hash="b" * 64))
        s.flush()
        user_id = user.id

    with session(db) as s:
        rows = s.scalars(
            sa.select(UserConsent)
            .where(UserConsent.user_id == user_id, UserConsent.purpose == "marketing_email")
            .order_by(UserConsent.granted_at)
        ).all()
        assert [(r.granted, r.version, r.revoked_at) for r in rows] == [
            (True, 1, t1),
            (False, 2, None),
        ]
        assert rows[0].source is ConsentSource.WEB


def test_consent_allows_one_current_decision_per_purpose(db: TestDatabase) -> None:
    with session(db) as s:
        user = make_user(s, "person@example.com")
        s.add(consent(user))
        s.flush()
        # A second live row for the same purpose (the old one not superseded) is rejected...
        expect_integrity_error(s, consent(user, granted_at=T0 + timedelta(days=1)))
        # ...while another purpose is independent.
        user = make_user(s, "person@example.com")
        s.add_all([consent(user), consent(user, purpose="product_analytics")])
        s.flush()


@pytest.mark.parametrize(
    "overrides",
    [
        {"version": 0},
        {"proof_hash": "not-a-sha256"},
        {"purpose": ""},
        {"revoked_at": T0 - timedelta(seconds=1)},
    ],
    ids=["version_0", "proof_hash_not_hex64", "empty_purpose", "revoked_before_granted"],
)
def test_consent_bad_rows_rejected(db: TestDatabase, overrides: dict[str, Any]) -> None:
    with session(db) as s:
        user = make_user(s, "person@example.com")
        expect_integrity_error(s, consent(user, **overrides))


# --- fixes 3 and 4: incidents and subject requests use enums; detected_at vs created_at ------


def _raw_incident_sql(status: str | None) -> sa.TextClause:
    columns = (
        "public_id, title, severity, detected_at, personal_data_breach, created_at, updated_at"
    )
    values = ":public_id, 'raw', 'low', :t, false, :t, :t"
    if status is not None:
        columns += ", status"
        values += f", '{status}'"
    return sa.text(f"INSERT INTO security_incidents ({columns}) VALUES ({values})")


def _raw_params(db: TestDatabase) -> dict[str, Any]:
    # Bound through plain text SQL, so give each database the shape its column type expects.
    public_id = uuid.uuid4()
    naive = T0.replace(tzinfo=None)
    return {
        "public_id": public_id if db.is_postgres else public_id.hex,
        "t": T0 if db.is_postgres else naive,
    }


def test_incident_status_rejects_unknown_value(db: TestDatabase) -> None:
    with platform_connection(db) as conn, pytest.raises(bad_enum_error(db)):
        conn.execute(_raw_incident_sql("bogus"), _raw_params(db))


def test_incident_status_defaults_to_open(db: TestDatabase) -> None:
    with platform_connection(db) as conn:  # the database default, for writers that skip the ORM
        conn.execute(_raw_incident_sql(None), _raw_params(db))
        assert conn.execute(sa.text("SELECT status FROM security_incidents")).scalar() == "open"
    with session(db) as s, s.begin():
        incident = SecurityIncident(title="Phishing report", detected_at=T0)
        s.add(incident)
        s.flush()
        assert incident.status is IncidentStatus.OPEN


def test_incident_detected_at_is_distinct_from_created_at(db: TestDatabase) -> None:
    detected = T0 - timedelta(days=3)
    logged = T0
    with session(db) as s, s.begin():
        incident = SecurityIncident(
            title="Leaked backup", detected_at=detected, created_at=logged, updated_at=logged
        )
        s.add(incident)
        s.flush()
        incident_id = incident.id
    with session(db) as s:
        row = s.get_one(SecurityIncident, incident_id)
        assert row.detected_at == detected
        assert row.created_at == logged
        assert row.detected_at != row.created_at


def test_incident_gdpr_breach_notification_fields_round_trip(db: TestDatabase) -> None:
    due = T0 + timedelta(hours=72)
    with session(db) as s, s.begin():
        incident = SecurityIncident(
            title="Exposed customer list",
            severity=Severity.HIGH,
            status=IncidentStatus.INVESTIGATING,
            detected_at=T0,
            personal_data_breach=True,
            authority_notification_due_at=due,
            authority_notified_at=T0 + timedelta(hours=80),
            notification_delay_reason="Scope confirmed only after log analysis",
            authority_reference="DPA-2026-0042",
            affected_subjects_count=120,
        )
        s.add(incident)
        s.flush()
        incident_id = incident.id
    with session(db) as s:
        row = s.get_one(SecurityIncident, incident_id)
        assert row.authority_notification_due_at == due
        assert row.severity is Severity.HIGH


@pytest.mark.parametrize(
    "overrides",
    [
        {"resolved_at": T0 - timedelta(minutes=1)},
        {"closed_at": T0 - timedelta(minutes=1)},
        {"status": IncidentStatus.CLOSED},
        {"status": IncidentStatus.RESOLVED},
        {"affected_subjects_count": -1},
        {"personal_data_breach": True},
    ],
    ids=[
        "resolved_before_detected",
        "closed_before_detected",
        "closed_without_closed_at",
        "resolved_without_resolved_at",
        "negative_affected_subjects",
        "breach_without_72h_deadline",
    ],
)
def test_incident_bad_rows_rejected(db: TestDatabase, overrides: dict[str, Any]) -> None:
    with session(db) as s:
        expect_integrity_error(s, SecurityIncident(title="x", detected_at=T0, **overrides))


def test_subject_request_status_rejects_unknown_value(db: TestDatabase) -> None:
    t: Any = T0 if db.is_postgres else T0.replace(tzinfo=None)
    public_id: Any = uuid.uuid4() if db.is_postgres else uuid.uuid4().hex
    with platform_connection(db) as conn, pytest.raises(bad_enum_error(db)):
        conn.execute(
            sa.text(
                "INSERT INTO privacy_subject_requests (public_id, subject_email_hash, kind,"
                " status, requested_at, due_at, created_at, updated_at)"
                " VALUES (:p, :h, 'access', 'bogus', :t, :t, :t, :t)"
            ),
            {"p": public_id, "h": "a" * 64, "t": t},
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"due_at": T0 - timedelta(days=1)},
        {"status": SubjectRequestStatus.REJECTED},
        {"export_ciphertext": b"\x00sealed"},
        {"subject_email_hash": "short"},
    ],
    ids=["due_before_request", "rejected_without_reason", "export_without_key_id", "bad_hash"],
)
def test_subject_request_bad_rows_rejected(db: TestDatabase, overrides: dict[str, Any]) -> None:
    with session(db) as s:
        subject = make_user(s, "subject@example.com")
        expect_integrity_error(s, subject_request(subject, **overrides))


def test_subject_request_export_round_trips(db: TestDatabase) -> None:
    manifest = {"format": "json", "tables": ["users", "privacy_user_consents"], "bytes": 2048}
    with session(db) as s, s.begin():
        subject = make_user(s, "subject@example.com")
        request = subject_request(
            subject,
            kind=SubjectRequestKind.PORTABILITY,
            status=SubjectRequestStatus.COMPLETED,
            completed_at=T0 + timedelta(days=2),
            export_data=manifest,
            export_ciphertext=b"\x01\x02sealed",
            export_key_id="k2026-01",
        )
        s.add(request)
        s.flush()
        request_id = request.id
    with session(db) as s:
        row = s.get_one(SubjectRequest, request_id)
        assert row.export_data == manifest
        assert row.export_ciphertext == b"\x01\x02sealed"
        assert row.status is SubjectRequestStatus.COMPLETED


# --- fix 11: personal data registry ----------------------------------------------------------


def registry_entry(**overrides: Any) -> PersonalDataEntry:
    values: dict[str, Any] = {
        "table_name": "users",
        "column_name": "email",
        "data_category": DataCategory.CONTACT,
        "purpose": "Sign-in",
        "lawful_basis": LawfulBasis.CONTRACT,
        "erasure_strategy": ErasureStrategy.DELETE,
        "retention_days": 30,
        "timestamp_column": "created_at",
    }
    values.update(overrides)
    return PersonalDataEntry(**values)


@pytest.mark.parametrize(
    "overrides",
    [
        {"retention_days": 0},
        {"retention_days": -5},
        {"erasure_strategy": ErasureStrategy.RETAIN_LEGAL},
        {"erasure_strategy": ErasureStrategy.RETAIN_LEGAL, "legal_hold_reason": ""},
        {"timestamp_column": None},
    ],
    ids=[
        "retention_zero",
        "retention_negative",
        "retain_legal_without_reason",
        "retain_legal_empty_reason",
        "retention_without_timestamp_column",
    ],
)
def test_registry_bad_rows_rejected(db: TestDatabase, overrides: dict[str, Any]) -> None:
    with session(db) as s:
        expect_integrity_error(s, registry_entry(**overrides))


def test_registry_accepts_retain_legal_with_reason_and_no_time_limit(db: TestDatabase) -> None:
    with session(db) as s, s.begin():
        s.add(
            registry_entry(
                erasure_strategy=ErasureStrategy.RETAIN_LEGAL,
                legal_hold_reason="Tax law: 10 years",
                retention_days=None,
                timestamp_column=None,
            )
        )


def test_registry_is_unique_per_column(db: TestDatabase) -> None:
    with session(db) as s:
        s.add(registry_entry())
        s.flush()
        expect_integrity_error(s, registry_entry(purpose="again"))


def test_default_registry_fits_the_table_and_names_real_columns(db: TestDatabase) -> None:
    with session(db) as s, s.begin():
        s.add_all(PersonalDataEntry(**entry.as_values()) for entry in DEFAULT_REGISTRY)
    with session(db) as s:
        count = s.scalar(sa.select(sa.func.count()).select_from(PersonalDataEntry))
        assert count == len(DEFAULT_REGISTRY)

    for entry in DEFAULT_REGISTRY:
        assert entry.table_name in metadata.tables, entry.table_name
        table = metadata.tables[entry.table_name]
        for column in (entry.column_name, entry.timestamp_column, entry.subject_column):
            assert column is None or column in table.c, f"{entry.table_name}.{column}"


# --- audit log and security events: append-only, partitioned on PostgreSQL -------------------


@pytest.fixture
def partitions(db: TestDatabase) -> Iterator[None]:
    """On PostgreSQL, give the partitioned tables a DEFAULT partition for the test's rows (if they
    have none), and remove it afterwards so the shared schema is left as it was."""
    created: list[str] = []
    if db.is_postgres:
        with db.engine.begin() as conn:
            for table in PARTITIONED:
                has_default = conn.execute(
                    sa.text(
                        "SELECT partdefid <> 0 FROM pg_partitioned_table"
                        " WHERE partrelid = CAST(:t AS regclass)"
                    ),
                    {"t": table},
                ).scalar_one()
                if not has_default:
                    conn.exec_driver_sql(
                        f"CREATE TABLE {table}_test_default PARTITION OF {table} DEFAULT"
                    )
                    created.append(table)
    yield
    if created:
        with db.engine.begin() as conn:
            for table in created:
                conn.exec_driver_sql(f"DROP TABLE {table}_test_default")


def test_append_only_tables_have_no_foreign_keys_and_no_updated_at() -> None:
    for name in PARTITIONED:
        table = metadata.tables[name]
        assert not table.foreign_keys, name
        assert "updated_at" not in table.c, name
        assert [c.name for c in table.primary_key.columns] == ["id", "occurred_at"]
        assert table.dialect_options["postgresql"]["partition_by"] == "RANGE (occurred_at)"


@pytest.mark.postgres_only
def test_audit_tables_are_partitioned_on_postgres(db: TestDatabase) -> None:
    with db.engine.connect() as conn:
        strategies: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT c.relname, p.partstrat FROM pg_partitioned_table p"
                    " JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname IN :names"
                ).bindparams(sa.bindparam("names", expanding=True)),
                {"names": list(PARTITIONED)},
            ).all()
        )
    assert strategies == dict.fromkeys(PARTITIONED, "r")


@pytest.mark.usefixtures("partitions")
def test_audit_log_and_security_event_round_trip(db: TestDatabase) -> None:
    with session(db) as s, s.begin():
        actor = make_user(s, "admin@example.com")
        log = AuditLog(
            occurred_at=T0,
            actor_type=ActorType.USER,
            actor_user_id=actor.id,
            actor_public_id=actor.public_id,
            action="project.create",
            target_type="project",
            ip="2001:db8::1",
            metadata_={"name_changed": True},
        )
        event = SecurityEvent(
            occurred_at=T0,
            user_id=actor.id,
            event_type=SecurityEventType.LOGIN_FAILED,
            severity=Severity.LOW,
            metadata_={"reason": "bad_password"},
        )
        s.add_all([log, event])
        s.flush()
        log_key, event_key = (log.id, log.occurred_at), (event.id, event.occurred_at)
        actor_id = actor.id

    # Erasing the actor does not touch the trail: no FK, no cascade, only the id remains.
    hard_delete_user(db, actor_id)

    with session(db) as s:
        got_log = s.get_one(AuditLog, log_key)
        assert got_log.actor_user_id == actor_id
        assert got_log.metadata_ == {"name_changed": True}
        assert got_log.outcome.value == "success"
        got_event = s.get_one(SecurityEvent, event_key)
        assert got_event.event_type == "login_failed"
        assert got_event.metadata_ == {"reason": "bad_password"}


# --- impersonation -----------------------------------------------------------------------


def impersonation(operator: User, target: User, **overrides: Any) -> ImpersonationSession:
    values: dict[str, Any] = {
        "impersonator_user_id": operator.id,
        "target_user_id": target.id,
        "reason": "Ticket 4812: reproduce billing page error",
        "started_at": T0,
        "expires_at": T0 + timedelta(minutes=30),
    }
    values.update(overrides)
    return ImpersonationSession(**values)


@pytest.mark.parametrize(
    "overrides",
    [
        {"reason": ""},
        {"expires_at": T0},
        {"ended_at": T0 + timedelta(minutes=5)},
        {"end_reason": ImpersonationEndReason.EXITED},
        "self",
    ],
    ids=["empty_reason", "expires_at_start", "ended_without_reason", "reason_without_end", "self"],
)
def test_impersonation_bad_rows_rejected(db: TestDatabase, overrides: Any) -> None:
    with session(db) as s:
        operator = make_user(s, "operator@example.com")
        target = make_user(s, "customer@example.com")
        if overrides == "self":
            expect_integrity_error(s, impersonation(operator, operator))
        else:
            expect_integrity_error(s, impersonation(operator, target, **overrides))


def test_impersonation_record_outlives_its_auth_session(db: TestDatabase) -> None:
    with session(db) as s, s.begin():
        operator = make_user(s, "operator@example.com")
        target = make_user(s, "customer@example.com")
        tenant = Tenant(slug="acme", name="Acme")
        auth = AuthSession(
            user_id=target.id,
            impersonator_user_id=operator.id,
            token_hash="c" * 64,
            expires_at=T0 + timedelta(hours=12),
        )
        s.add_all([tenant, auth])
        s.flush()
        row = impersonation(
            operator,
            target,
            acting_tenant_id=tenant.id,
            auth_session_id=auth.id,
            ended_at=T0 + timedelta(minutes=10),
            end_reason=ImpersonationEndReason.EXITED,
        )
        s.add(row)
        s.flush()
        row_id, auth_id, tenant_id = row.id, auth.id, tenant.id

    with session(db) as s, s.begin():  # the session is purged by its retention
        s.execute(sa.delete(AuthSession).where(AuthSession.id == auth_id))

    with session(db) as s:
        got = s.get_one(ImpersonationSession, row_id)
        assert got.auth_session_id is None
        assert got.end_reason is ImpersonationEndReason.EXITED
        assert got.acting_tenant_id == tenant_id


# --- idempotency keys ----------------------------------------------------------------------


def idempotency_key(caller: str, key: str, **overrides: Any) -> IdempotencyKey:
    values: dict[str, Any] = {
        "caller_key": caller,
        "key": key,
        "method": "POST",
        "path": "/api/v1/projects",
        "request_hash": sha256_hex("POST", "/api/v1/projects", "{}"),
        "created_at": T0,
        "locked_until": T0 + timedelta(seconds=30),
        "expires_at": T0 + timedelta(hours=24),
    }
    values.update(overrides)
    return IdempotencyKey(**values)


def test_idempotency_key_is_unique_per_caller(db: TestDatabase) -> None:
    with session(db) as s:
        s.add(idempotency_key("user:alice", "k-1"))
        s.add(idempotency_key("api_key:robot", "k-1"))  # the same key for another caller is fine
        s.flush()
        expect_integrity_error(s, idempotency_key("user:alice", "k-1"))


def test_idempotency_completed_response_round_trips(db: TestDatabase) -> None:
    with session(db) as s, s.begin():
        row = idempotency_key(
            "user:alice",
            "k-2",
            state=IdempotencyState.COMPLETED,
            response_status=201,
            response_headers={"content-type": "application/json"},
            response_body=b'{"id": "p1"}',
            completed_at=T0 + timedelta(seconds=1),
        )
        s.add(row)
        s.flush()
        row_id = row.id
    with session(db) as s:
        got = s.get_one(IdempotencyKey, row_id)
        assert got.state is IdempotencyState.COMPLETED
        assert got.response_body == b'{"id": "p1"}'
        assert got.response_headers == {"content-type": "application/json"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"state": IdempotencyState.COMPLETED},
        {"locked_until": None},
        {"response_status": 42},
        {"request_hash": "abc"},
        {"expires_at": T0},
    ],
    ids=[
        "completed_without_response",
        "in_progress_without_lease",
        "bad_status",
        "bad_hash",
        "expires_at_created",
    ],
)
def test_idempotency_bad_rows_rejected(db: TestDatabase, overrides: dict[str, Any]) -> None:
    with session(db) as s:
        expect_integrity_error(s, idempotency_key("user:alice", "k-3", **overrides))
