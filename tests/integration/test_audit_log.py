"""The audit log writer and reader, on both databases; on PostgreSQL as the application role,
so Row Level Security is in force for every write and read."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import Session

from saas_core.api.hooks import AuditEntry
from saas_core.audit.models import ActorType, AuditLog, AuditOutcome
from saas_core.audit.schemas import AuditLogOut, AuditLogQuery
from saas_core.audit.service import (
    DENIED_METADATA_KEYS,
    DENIED_METADATA_WORDS,
    AuditService,
    DatabaseAuditSink,
    scrub_metadata,
)
from saas_core.clock import FakeClock
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.db.session import session_factory
from saas_core.db.tenant import bind_context, orm_filter_disabled
from saas_core.errors import PermissionDenied, TenantRequired
from saas_core.identity.models import ApiKey, User
from saas_core.tenancy.models import Tenant
from tests.support.databases import TestDatabase

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    alice: UserRef  # member of acme
    bob: UserRef  # member of globex
    operator: UserRef  # platform staff
    acme: TenantRef
    globex: TenantRef


def _user(s: Session, email: str) -> UserRef:
    user = User(email=email)
    s.add(user)
    s.flush()
    return UserRef(user.id, user.public_id, user.email)


def _tenant(s: Session, slug: str) -> TenantRef:
    tenant = Tenant(slug=slug, name=slug.title())
    s.add(tenant)
    s.flush()
    return TenantRef(tenant.id, tenant.public_id, tenant.slug, tenant.status.value)


@pytest.fixture
def world(db: TestDatabase) -> World:
    with Session(db.engine, expire_on_commit=False) as s, s.begin():
        return World(
            alice=_user(s, "alice@example.com"),
            bob=_user(s, "bob@example.com"),
            operator=_user(s, "ops@example.com"),
            acme=_tenant(s, "acme"),
            globex=_tenant(s, "globex"),
        )


def member(user: UserRef, tenant: TenantRef, **extra: Any) -> RequestContext:
    values: dict[str, Any] = {
        "auth_method": AuthMethod.SESSION,
        "user": user,
        "tenant": tenant,
        "permissions": frozenset({"audit:read"}),
        "client_ip": "203.0.113.7",
        "user_agent": "pytest-agent",
    }
    values.update(extra)
    return RequestContext(**values)


def operator(world: World) -> RequestContext:
    return RequestContext(
        auth_method=AuthMethod.SESSION,
        user=world.operator,
        platform_permissions=frozenset({"platform:audit:read"}),
    )


@contextmanager
def request(db: TestDatabase, ctx: RequestContext | None = None) -> Iterator[Session]:
    """One request's transaction, bound as the pipeline binds it; on PostgreSQL as the
    non-owner application role. Commits at the end."""
    engine = db.app_engine if db.is_postgres else db.engine
    with session_factory(engine)() as s, s.begin():
        if ctx is not None:
            bind_context(s, ctx)
        yield s


def read(
    db: TestDatabase, ctx: RequestContext, *, tenant_scoped: bool = True, **filters: Any
) -> list[AuditLogOut]:
    with request(db, ctx) as s:
        page = AuditService(FakeClock(T0)).list_logs(
            s, ctx, tenant_scoped=tenant_scoped, query=AuditLogQuery(**filters)
        )
    return page.items


def owner_rows(db: TestDatabase) -> list[AuditLog]:
    """Every audit row, read by the schema owner in the platform scope."""
    with Session(db.engine, expire_on_commit=False) as s, s.begin():
        if db.is_postgres:
            s.execute(sa.text("SELECT set_config('app.platform_scope', 'on', true)"))
        return list(s.scalars(sa.select(AuditLog)))


def test_record_writes_the_context_and_reads_back_public_ids_only(
    db: TestDatabase, world: World
) -> None:
    service = AuditService(FakeClock(T0))
    project = uuid.uuid4()
    ctx = member(world.alice, world.acme, impersonator=world.operator, request_id="req-42")
    with request(db, ctx) as s:
        row_id = service.record(
            s,
            ctx,
            action="project.create",
            target_type="project",
            target_public_id=project,
            metadata={"project_id": project, "plan": "pro"},
        )

    (item,) = read(db, ctx)
    assert item == AuditLogOut(
        id=row_id,
        occurred_at=T0,
        tenant_id=world.acme.public_id,
        actor_type=ActorType.USER,
        actor_id=world.alice.public_id,
        impersonator_id=world.operator.public_id,
        action="project.create",
        target_type="project",
        target_id=project,
        outcome=AuditOutcome.SUCCESS,
        request_id="req-42",
        ip="203.0.113.7",
        user_agent="pytest-agent",
        metadata={"project_id": str(project), "plan": "pro"},
    )
    (row,) = owner_rows(db)
    assert (row.tenant_id, row.actor_user_id, row.impersonator_user_id) == (
        world.acme.id,
        world.alice.id,
        world.operator.id,
    )


def test_a_tenant_reads_only_its_own_records(db: TestDatabase, world: World) -> None:
    service = AuditService(FakeClock(T0))
    alice, bob = member(world.alice, world.acme), member(world.bob, world.globex)
    for ctx, action in ((alice, "project.create"), (bob, "project.delete"), (bob, "x.y")):
        with request(db, ctx) as s:
            service.record(s, ctx, action=action)

    assert [i.action for i in read(db, alice)] == ["project.create"]
    if not db.is_postgres:
        # An unbound plain session has no ORM filter: the service's own WHERE still holds.
        with Session(db.engine) as s:
            items = service.list_logs(s, alice, tenant_scoped=True).items
        assert [i.action for i in items] == ["project.create"]
    assert sorted(i.action for i in read(db, bob)) == ["project.delete", "x.y"]
    if db.is_postgres:
        # Row Level Security alone (no ORM filter, no WHERE) still hides the other tenant.
        with request(db, alice) as s, orm_filter_disabled(s):
            tenants = s.scalars(sa.select(AuditLog.__table__.c.tenant_id)).all()
        assert tenants == [world.acme.id]


@pytest.mark.parametrize("session_class", ["tenant_session", "plain_session"])
def test_a_row_without_tenant_is_written_under_rls_and_only_platform_reads_see_it(
    db: TestDatabase, world: World, session_class: str
) -> None:
    anonymous = RequestContext(request_id="req-anon", client_ip="198.51.100.1")
    engine = db.app_engine if db.is_postgres else db.engine
    make = session_factory(engine) if session_class == "tenant_session" else Session
    with make(bind=engine) as s, s.begin():
        AuditService(FakeClock(T0)).record(
            s, anonymous, action="auth.password_reset.request", outcome="denied"
        )
        if db.is_postgres:
            # The platform scope was for that one insert only.
            scope = s.scalar(sa.text("SELECT current_setting('app.platform_scope', true)"))
            assert scope in (None, "")

    assert read(db, member(world.alice, world.acme)) == []
    (item,) = read(db, operator(world), tenant_scoped=False)
    assert (item.tenant_id, item.actor_type, item.actor_id, item.outcome) == (
        None,
        ActorType.USER,
        None,
        AuditOutcome.DENIED,
    )
    assert (item.request_id, item.ip) == ("req-anon", "198.51.100.1")


@pytest.mark.postgres_only
def test_without_the_platform_scope_rls_refuses_a_row_without_tenant(db: TestDatabase) -> None:
    row = {"id": uuid.uuid4(), "occurred_at": T0, "actor_type": "system", "action": "x"}
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        Session(db.app_engine) as s,
        s.begin(),
    ):
        s.execute(sa.insert(AuditLog).values(**row))


def test_platform_reads_see_every_tenant(db: TestDatabase, world: World) -> None:
    service = AuditService(FakeClock(T0))
    for ctx in (member(world.alice, world.acme), member(world.bob, world.globex)):
        with request(db, ctx) as s:
            service.record(s, ctx, action="tenant.update")
    items = read(db, operator(world), tenant_scoped=False)
    assert {i.tenant_id for i in items} == {world.acme.public_id, world.globex.public_id}


def test_reads_need_the_permission_and_a_tenant(db: TestDatabase, world: World) -> None:
    service = AuditService(FakeClock(T0))
    no_permission = member(world.alice, world.acme, permissions=frozenset())
    with request(db, no_permission) as s:
        with pytest.raises(PermissionDenied):
            service.list_logs(s, no_permission, tenant_scoped=True)
        # A tenant permission never opens the platform-wide log.
        with pytest.raises(PermissionDenied):
            service.list_logs(s, member(world.alice, world.acme), tenant_scoped=False)
        with pytest.raises(TenantRequired):
            service.list_logs(s, operator(world), tenant_scoped=True)


def test_metadata_keeps_references_and_drops_personal_data_and_secrets() -> None:
    ref = uuid.uuid4()
    metadata = {
        "email": "alice@example.com",
        "new_password": "hunter2",
        "userEmail": "alice@example.com",
        "accessToken": "abc",
        "client-secret": "s",
        "display_name": "Alice",
        "invitee": "carol@example.org",
        "role": "admin",
        "tokens_used": 5,
        "nested": {"api_key": "k", "count": 2, "phone_number": "+1 555"},
        "ids": [ref, "dave@example.net"],
    }
    assert scrub_metadata(metadata) == {
        "role": "admin",
        "tokens_used": 5,
        "nested": {"count": 2},
        "ids": [str(ref)],
    }


def test_recorded_metadata_is_scrubbed(db: TestDatabase, world: World) -> None:
    ctx = member(world.alice, world.acme)
    with request(db, ctx) as s:
        AuditService(FakeClock(T0)).record(
            s, ctx, action="tenant.member.invite", metadata={"email": "x@y.example", "seats": 3}
        )
    (item,) = read(db, ctx)
    assert item.metadata == {"seats": 3}


def test_pages_are_newest_first_and_stable(db: TestDatabase, world: World) -> None:
    clock = FakeClock(T0)
    service = AuditService(clock)
    ctx = member(world.alice, world.acme)
    with request(db, ctx) as s:
        for n in range(7):
            service.record(s, ctx, action=f"project.step{n}")
            if n % 3 == 2:  # runs of rows share a timestamp; the id breaks the tie
                clock.advance(seconds=1)
    expected = [i.id for i in read(db, ctx, limit=100)]
    assert len(expected) == 7

    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        with request(db, ctx) as s:
            page = service.list_logs(
                s, ctx, tenant_scoped=True, query=AuditLogQuery(limit=3, cursor=cursor)
            )
        seen += [i.id for i in page.items]
        if not seen[3:]:
            # A newer row arriving between pages does not shift the pages after the cursor.
            clock.advance(seconds=10)
            with request(db, ctx) as s:
                service.record(s, ctx, action="project.late")
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    keys = [(i.occurred_at, i.id) for i in read(db, ctx, limit=100)]
    assert keys == sorted(keys, reverse=True)


def test_filters(db: TestDatabase, world: World) -> None:
    clock = FakeClock(T0)
    service = AuditService(clock)
    alice, bob_in_acme = member(world.alice, world.acme), member(world.bob, world.acme)
    target = uuid.uuid4()
    with request(db, alice) as s:
        service.record(s, alice, action="project.create", target_public_id=target)
        clock.advance(hours=1)
        service.record(s, bob_in_acme, action="projects_x.create")
        clock.advance(hours=1)
        service.record(s, alice, action="tenant_member.add")
        service.record(s, alice, action="tenantXmember.add")

    def actions(**filters: Any) -> list[str]:
        return [i.action for i in read(db, alice, **filters)]

    assert actions(action="project.") == ["project.create"]
    assert actions(action="tenant_") == ["tenant_member.add"]  # "_" is literal, not a wildcard
    assert actions(action="tenant%") == []
    assert actions(actor_id=world.bob.public_id) == ["projects_x.create"]
    assert actions(target_id=target) == ["project.create"]
    assert sorted(actions(since=T0 + timedelta(hours=2))) == [
        "tenantXmember.add",
        "tenant_member.add",
    ]
    assert actions(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2)) == [
        "projects_x.create"
    ]
    assert actions(until=T0 + timedelta(hours=1)) == ["project.create"]


def test_the_pipeline_sink_writes_in_the_request_transaction(
    db: TestDatabase, world: World
) -> None:
    with Session(db.engine, expire_on_commit=False) as s, s.begin():
        key = ApiKey(name="ci", prefix="sk_test", secret_hash="0" * 64)
        s.add(key)
        s.flush()
        key_id, key_public_id = key.id, key.public_id
    project = uuid.uuid4()
    entry = AuditEntry(
        action="project.update",
        occurred_at=T0,
        request_id="r" * 100,  # longer than the column: cut, never a failed request
        actor=None,
        impersonator=None,
        tenant=world.acme,
        api_key_id=key_id,
        target=("project", str(project)),
        client_ip="2001:db8::1",
        user_agent="ua",
        metadata={"token": "t", "field_count": 2},
    )
    ctx = member(world.alice, world.acme)
    sink = DatabaseAuditSink()
    engine = db.app_engine if db.is_postgres else db.engine
    with session_factory(engine)() as s:
        s.begin()
        bind_context(s, ctx)
        sink.record(s, entry)
        s.rollback()  # the audited request failed: its audit row goes too
    assert owner_rows(db) == []
    with request(db, ctx) as s:
        sink.record(s, entry)

    (item,) = read(db, ctx)
    assert (item.actor_type, item.actor_id, item.target_id) == (
        ActorType.API_KEY,
        key_public_id,
        project,
    )
    assert (item.request_id, item.metadata) == ("r" * 64, {"field_count": 2})


@pytest.mark.postgres_only
def test_the_application_role_cannot_change_or_remove_audit_rows(
    db: TestDatabase, world: World
) -> None:
    ctx = member(world.alice, world.acme)
    with request(db, ctx) as s:
        row_id = AuditService(FakeClock(T0)).record(s, ctx, action="project.create")
    changed = sa.update(AuditLog).where(AuditLog.id == row_id).values(action="forged")
    removed = sa.delete(AuditLog).where(AuditLog.id == row_id)
    with pytest.raises(ProgrammingError, match="permission denied"), request(db, ctx) as s:
        s.execute(changed)
    with pytest.raises(IntegrityError, match="append-only"), request(db, ctx) as s:
        s.execute(removed)
    assert [r.action for r in owner_rows(db)] == ["project.create"]


def test_the_docs_list_the_metadata_denylist() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    words = re.search(r"one of the words (.*?) \(after", docs, re.S)
    keys = re.search(r"- the keys (.*?);", docs, re.S)
    assert words is not None
    assert keys is not None
    assert set(re.findall(r"`([^`]+)`", words.group(1))) == DENIED_METADATA_WORDS
    assert set(re.findall(r"`([^`]+)`", keys.group(1))) == DENIED_METADATA_KEYS
