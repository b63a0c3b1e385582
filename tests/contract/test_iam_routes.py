"""``/iam`` through FastAPI, Flask and Django on SQLite and PostgreSQL (the app role: RLS on).

Every request goes through all three adapters (``Adapters.same`` asserts identical status and
bytes). Creations carry an ``Idempotency-Key`` so the second and third adapters replay the first
answer; PATCH and DELETE are idempotent by nature, so each adapter's request runs (and is
audited) once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

import saas_core_django
from saas_core.audit.models import AuditLog, SecurityEvent
from saas_core.config import Settings
from saas_core.core import Core
from saas_core.db.tenant import platform_scope
from saas_core.iam.catalog import PERMISSIONS, PLATFORM_PERMISSIONS, ROLES
from saas_core.iam.models import Role, RoleAssignment
from saas_core.iam.schemas import AssignmentCreate
from saas_core.iam.service import IamService
from tests.contract.harness import Adapters, Result
from tests.support.databases import TestDatabase
from tests.support.tenancy import Actor, World, app_engine, join, make_world

ROLES_URL = "/api/v1/iam/roles"
ASSIGNMENTS_URL = "/api/v1/iam/assignments"
PERMISSIONS_URL = "/api/v1/iam/permissions"
TENANT_BUILT_INS = ["owner", "admin", "billing", "member", "viewer"]


@dataclass
class Iam:
    """Two tenants, their people, a platform operator, and the three adapters."""

    db: TestDatabase
    world: World
    adapters: Adapters
    owner: Actor  # owner of acme
    admin: Actor  # admin of acme
    viewer: Actor  # viewer of acme
    rival: Actor  # owner of globex
    ops: Actor  # platform_admin through a platform assignment, no tenant

    def send(self, method: str, path: str, actor: Actor | None = None, **options: Any) -> Result:
        headers = dict(options.pop("headers", {}))
        if actor is not None:
            headers["Authorization"] = f"Bearer {actor.token}"
        return self.adapters.same(method, path, headers=headers, **options)

    def create(self, path: str, actor: Actor, body: Any) -> Result:
        """A POST sent once per adapter under one Idempotency-Key (one real creation)."""
        key = {"Idempotency-Key": uuid.uuid4().hex}
        return self.send("POST", path, actor, headers=key, json_body=body)

    def grant_platform_role(self, actor: Actor, role_key: str, **terms: Any) -> None:
        """A platform assignment written straight to the database (test set-up)."""
        with self.world.unit() as session, platform_scope(session, reason="test set-up"):
            role = session.scalar(
                select(Role).where(Role.key == role_key, Role.tenant_id.is_(None))
            )
            assert role is not None
            session.add(RoleAssignment(user_id=actor.user_id, role_id=role.id, **terms))
            session.flush()  # inside the platform scope (the row belongs to no tenant)

    def platform_permissions(self, actor: Actor) -> frozenset[str]:
        return self.world.ctx(actor).platform_permissions

    def audit(self) -> list[tuple[str, int | None, str | None, uuid.UUID | None]]:
        """Every audit row: (action, tenant id, target type, target id), oldest first."""
        with self.db.engine.connect() as conn, conn.begin():
            if self.db.is_postgres:
                conn.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
            rows = conn.execute(
                select(
                    AuditLog.action,
                    AuditLog.tenant_id,
                    AuditLog.target_type,
                    AuditLog.target_public_id,
                ).order_by(AuditLog.occurred_at, AuditLog.id)
            ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def security_events(self, event_type: str) -> list[dict[str, Any]]:
        with self.db.engine.connect() as conn, conn.begin():
            if self.db.is_postgres:
                conn.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
            rows = conn.execute(
                select(SecurityEvent.tenant_id, SecurityEvent.metadata_).where(
                    SecurityEvent.event_type == event_type
                )
            ).all()
        return [{"tenant_id": tenant_id, **metadata} for tenant_id, metadata in rows]


@pytest.fixture
def iam(db: TestDatabase) -> Iterator[Iam]:
    world = make_world(db)
    owner = world.user("owner@acme.test")
    acme = world.tenant(owner, "acme")
    admin = join(world, owner, acme, "admin@acme.test", "admin")
    viewer = join(world, owner, acme, "viewer@acme.test", "viewer")
    rival = world.user("owner@globex.test")
    world.tenant(rival, "globex")
    ops = world.user("ops@platform.test")
    settings = Settings(database_url=db.url.render_as_string(False))
    core = Core(settings, engine=app_engine(db), clock=world.clock, email_sender=world.outbox)
    state = Iam(db, world, Adapters(core), owner, admin, viewer, rival, ops)
    state.grant_platform_role(ops, "platform_admin")
    try:
        yield state
    finally:
        saas_core_django.configure(None)


def _problem(result: Result, status: int, code: str) -> dict[str, Any]:
    assert result.status == status, result.body
    body: dict[str, Any] = result.json()
    assert body["code"] == code, body
    return body


def _locs(result: Result) -> list[list[Any]]:
    return [error["loc"] for error in result.json()["errors"]]


def test_permission_catalog(iam: Iam) -> None:
    _problem(iam.send("GET", PERMISSIONS_URL), 401, "auth.unauthenticated")
    # Any signed-in caller, with or without a tenant or any permission.
    for actor in (iam.viewer, iam.ops):
        listed = iam.send("GET", PERMISSIONS_URL, actor)
        assert listed.status == 200
        assert listed.json() == {
            "items": [
                {"key": p.key, "description": p.description, "scope": p.scope.value}
                for p in PERMISSIONS
            ]
        }
    platform = iam.send("GET", PERMISSIONS_URL, iam.viewer, query={"scope": "platform"})
    assert {p["key"] for p in platform.json()["items"]} == PLATFORM_PERMISSIONS
    bad = iam.send("GET", PERMISSIONS_URL, iam.viewer, query={"scope": "galaxy"})
    assert _locs(bad) == [["query", "scope"]]
    assert iam.audit() == []


def test_list_roles(iam: Iam) -> None:
    mine = iam.create(ROLES_URL, iam.owner, {"key": "auditor", "name": "Auditor"}).json()
    theirs = iam.create(ROLES_URL, iam.rival, {"key": "auditor", "name": "Their auditor"}).json()
    audit_before = iam.audit()

    listed = iam.send("GET", ROLES_URL, iam.admin)
    assert listed.status == 200
    body = listed.json()
    assert body["next_cursor"] is None
    keys = [role["key"] for role in body["items"]]
    assert sorted(keys) == sorted([*TENANT_BUILT_INS, "auditor"])
    ids = {role["id"] for role in body["items"]}
    assert mine["id"] in ids
    assert theirs["id"] not in ids
    owner_role = next(role for role in body["items"] if role["key"] == "owner")
    assert owner_role["system"] is True
    assert "tenant:delete" in owner_role["permissions"]

    # The platform operator (no tenant) sees the built-in roles, platform ones included.
    platform = iam.send("GET", ROLES_URL, iam.ops, query={"limit": 100}).json()
    assert sorted(role["key"] for role in platform["items"]) == sorted(r.key for r in ROLES)

    # Cursor pagination walks every role once.
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 4}
    while True:
        page = iam.send("GET", ROLES_URL, iam.owner, query=query).json()
        seen += [role["id"] for role in page["items"]]
        if page["next_cursor"] is None:
            break
        query = {"limit": 4, "cursor": page["next_cursor"]}
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)

    assert _locs(iam.send("GET", ROLES_URL, iam.owner, query={"limit": 0})) == [["query", "limit"]]
    _problem(iam.send("GET", ROLES_URL, iam.viewer), 403, "iam.forbidden")  # no roles:read
    _problem(iam.send("GET", ROLES_URL), 401, "auth.unauthenticated")
    assert iam.audit() == audit_before  # reads are not audited


def test_create_role(iam: Iam) -> None:
    body = {"key": "builder", "name": "Builder", "permissions": ["projects:write", "tenant:read"]}
    created = iam.create(ROLES_URL, iam.owner, body)
    assert created.status == 201, created.body
    role = created.json()
    assert role["key"] == "builder"
    assert role["scope"] == "tenant"
    assert role["system"] is False
    assert role["permissions"] == ["projects:write", "tenant:read"]
    acme_id = iam.world.ctx(iam.owner).tenant.id  # type: ignore[union-attr]
    # One creation, one audit row, in the tenant, naming the new role.
    assert iam.audit() == [("role.create", acme_id, "role", uuid.UUID(role["id"]))]

    bad = {"key": "x1", "name": "X", "permissions": ["projects:read", "projects:wirte"]}
    unknown = iam.send("POST", ROLES_URL, iam.owner, json_body=bad)
    _problem(unknown, 422, "iam.unknown_permission")
    assert _locs(unknown) == [["body", "permissions", 1]]
    platform_perm = {"key": "x1", "name": "X", "permissions": ["platform:impersonate"]}
    _problem(
        iam.send("POST", ROLES_URL, iam.owner, json_body=platform_perm),
        422,
        "iam.unknown_permission",
    )
    invalid = iam.send("POST", ROLES_URL, iam.owner, json_body={"key": "Bad Key", "extra": 1})
    _problem(invalid, 422, "request.validation")
    assert sorted(_locs(invalid)) == [["body", "extra"], ["body", "key"], ["body", "name"]]

    taken = {"key": "builder", "name": "Again"}
    _problem(iam.send("POST", ROLES_URL, iam.owner, json_body=taken), 409, "iam.role_key_taken")
    built_in = {"key": "owner", "name": "Owner 2"}
    _problem(iam.send("POST", ROLES_URL, iam.owner, json_body=built_in), 409, "iam.role_key_taken")
    # Nobody hands out what they do not hold: admins lack billing:manage.
    escalate = {"key": "payer", "name": "Payer", "permissions": ["billing:manage"]}
    _problem(iam.send("POST", ROLES_URL, iam.admin, json_body=escalate), 403, "iam.forbidden")
    _problem(iam.send("POST", ROLES_URL, iam.viewer, json_body=taken), 403, "iam.forbidden")
    _problem(iam.send("POST", ROLES_URL, json_body=taken), 401, "auth.unauthenticated")
    _problem(iam.send("POST", ROLES_URL, iam.ops, json_body=taken), 409, "tenant.required")
    assert len(iam.audit()) == 1  # refused requests leave no audit row


def test_update_role(iam: Iam) -> None:
    role = iam.create(ROLES_URL, iam.owner, {"key": "builder", "name": "Builder"}).json()
    theirs = iam.create(ROLES_URL, iam.rival, {"key": "spy", "name": "Spy"}).json()
    audit_before = iam.audit()
    url = f"{ROLES_URL}/{role['id']}"

    patch = {"name": "Builders", "permissions": ["projects:read", "projects:write"]}
    updated = iam.send("PATCH", url, iam.admin, json_body=patch)
    assert updated.status == 200, updated.body
    assert updated.json()["name"] == "Builders"
    assert updated.json()["permissions"] == ["projects:read", "projects:write"]
    acme_id = iam.world.ctx(iam.owner).tenant.id  # type: ignore[union-attr]
    # PATCH runs once per adapter: three audit rows naming the role from the path.
    assert (
        iam.audit()[len(audit_before) :]
        == [("role.update", acme_id, "role", uuid.UUID(role["id"]))] * 3
    )

    roles = iam.send("GET", ROLES_URL, iam.owner).json()["items"]
    owner_role = next(r for r in roles if r["key"] == "owner")
    immutable = iam.send("PATCH", f"{ROLES_URL}/{owner_role['id']}", iam.owner, json_body={})
    _problem(immutable, 403, "iam.system_role_immutable")
    other = iam.send("PATCH", f"{ROLES_URL}/{theirs['id']}", iam.owner, json_body={"name": "Mine"})
    _problem(other, 404, "iam.role_not_found")
    _problem(
        iam.send("PATCH", f"{ROLES_URL}/{uuid.uuid4()}", iam.owner, json_body={}),
        404,
        "iam.role_not_found",
    )
    _problem(
        iam.send("PATCH", f"{ROLES_URL}/not-a-uuid", iam.owner, json_body={}), 404, "not_found"
    )
    unknown = iam.send("PATCH", url, iam.owner, json_body={"permissions": ["nope"]})
    assert _locs(_problem_result(unknown, 422)) == [["body", "permissions", 0]]
    invalid = iam.send("PATCH", url, iam.owner, json_body={"name": ""})
    assert _locs(_problem_result(invalid, 422)) == [["body", "name"]]
    escalate = iam.send("PATCH", url, iam.admin, json_body={"permissions": ["credits:adjust"]})
    _problem(escalate, 403, "iam.forbidden")
    _problem(iam.send("PATCH", url, iam.viewer, json_body={}), 403, "iam.forbidden")
    _problem(iam.send("PATCH", url, json_body={}), 401, "auth.unauthenticated")
    assert len(iam.audit()) == len(audit_before) + 3


def _problem_result(result: Result, status: int) -> Result:
    assert result.status == status, result.body
    return result


def test_a_role_change_reaches_its_holders_on_their_next_request(iam: Iam) -> None:
    body = {"key": "builder", "name": "Builder", "permissions": ["projects:read", "projects:write"]}
    role = iam.create(ROLES_URL, iam.owner, body).json()
    acme_id = iam.world.ctx(iam.owner).tenant.id  # type: ignore[union-attr]
    builder = join(iam.world, iam.owner, acme_id, "builder@acme.test", "builder")
    project = {"name": "Bridge"}
    assert iam.create("/api/v1/projects", builder, project).status == 201

    patch = {"permissions": ["projects:read"]}
    assert iam.send("PATCH", f"{ROLES_URL}/{role['id']}", iam.owner, json_body=patch).status == 200
    # No cache outlives a request: the very next one runs with the new permission set.
    _problem(iam.create("/api/v1/projects", builder, project), 403, "iam.forbidden")
    assert iam.send("GET", "/api/v1/projects", builder).status == 200


def test_create_assignment(iam: Iam) -> None:
    platform_roles = iam.send("GET", ROLES_URL, iam.ops, query={"limit": 100}).json()["items"]
    role_ids = {role["key"]: role["id"] for role in platform_roles}
    target = iam.admin
    target_id = str(iam.world.ctx(target).user.public_id)  # type: ignore[union-attr]
    body = {"user_id": target_id, "role_id": role_ids["support"]}

    granted = iam.create(ASSIGNMENTS_URL, iam.ops, body)
    assert granted.status == 201, granted.body
    assignment = granted.json()
    assert assignment["role_key"] == "support"
    assert assignment["scope"] == "platform"
    assert assignment["user_id"] == target_id
    assert assignment["break_glass"] is False
    assert assignment["revoked_at"] is None
    assert "platform:tenants:read" in iam.platform_permissions(target)
    # One grant (the other adapters replayed it), one audit row with no tenant.
    assert iam.audit() == [("assignment.create", None, "assignment", uuid.UUID(assignment["id"]))]

    later = (iam.world.clock.now() + timedelta(hours=1)).isoformat()
    too_late = (iam.world.clock.now() + timedelta(hours=5)).isoformat()
    past = (iam.world.clock.now() - timedelta(seconds=1)).isoformat()
    glass = {"user_id": target_id, "role_id": role_ids["break_glass"]}
    missing = iam.send("POST", ASSIGNMENTS_URL, iam.ops, json_body=glass)
    _problem(missing, 422, "iam.break_glass_terms")
    assert _locs(missing) == [["body", "reason"], ["body", "expires_at"]]
    no_expiry = iam.send("POST", ASSIGNMENTS_URL, iam.ops, json_body={**glass, "reason": "INC-1"})
    assert _locs(_problem_result(no_expiry, 422)) == [["body", "expires_at"]]
    long = iam.send(
        "POST",
        ASSIGNMENTS_URL,
        iam.ops,
        json_body={**glass, "reason": "INC-1", "expires_at": too_late},
    )
    assert _locs(_problem_result(long, 422)) == [["body", "expires_at"]]
    expired = iam.send("POST", ASSIGNMENTS_URL, iam.ops, json_body={**body, "expires_at": past})
    _problem(expired, 422, "request.validation")
    naive = iam.send(
        "POST", ASSIGNMENTS_URL, iam.ops, json_body={**body, "expires_at": "2026-01-01T10:00:00"}
    )
    assert _locs(_problem_result(naive, 422)) == [["body", "expires_at"]]
    tenant_role = {"user_id": target_id, "role_id": role_ids["viewer"]}
    tenant_role_result = iam.send("POST", ASSIGNMENTS_URL, iam.ops, json_body=tenant_role)
    assert _locs(_problem_result(tenant_role_result, 422)) == [["body", "role_id"]]
    nobody = {"user_id": str(uuid.uuid4()), "role_id": role_ids["support"]}
    _problem(iam.send("POST", ASSIGNMENTS_URL, iam.ops, json_body=nobody), 404, "user.not_found")
    no_role = {"user_id": target_id, "role_id": str(uuid.uuid4())}
    _problem(
        iam.send("POST", ASSIGNMENTS_URL, iam.ops, json_body=no_role), 404, "iam.role_not_found"
    )
    _problem(
        iam.send("POST", ASSIGNMENTS_URL, iam.ops, json_body={"user_id": 1}),
        422,
        "request.validation",
    )
    # A tenant owner holds no platform permission.
    _problem(iam.send("POST", ASSIGNMENTS_URL, iam.owner, json_body=body), 403, "iam.forbidden")
    _problem(iam.send("POST", ASSIGNMENTS_URL, json_body=body), 401, "auth.unauthenticated")
    assert len(iam.audit()) == 1

    terms = {**glass, "reason": "INC-1: database on fire", "expires_at": later}
    emergency = iam.create(ASSIGNMENTS_URL, iam.ops, terms)
    assert emergency.status == 201, emergency.body
    assert emergency.json()["break_glass"] is True
    assert emergency.json()["reason"] == "INC-1: database on fire"
    assert "platform:impersonate" in iam.platform_permissions(target)
    [event] = iam.security_events("break_glass_granted")
    assert event["assignment_id"] == emergency.json()["id"]
    assert event["tenant_id"] is None
    assert [row[0] for row in iam.audit()] == ["assignment.create"] * 2


def test_revoke_assignment(iam: Iam) -> None:
    platform_roles = iam.send("GET", ROLES_URL, iam.ops, query={"limit": 100}).json()["items"]
    support = next(role["id"] for role in platform_roles if role["key"] == "support")
    target_id = str(iam.world.ctx(iam.viewer).user.public_id)  # type: ignore[union-attr]
    granted = iam.create(ASSIGNMENTS_URL, iam.ops, {"user_id": target_id, "role_id": support})
    assignment_id = granted.json()["id"]
    url = f"{ASSIGNMENTS_URL}/{assignment_id}"
    assert iam.platform_permissions(iam.viewer)

    _problem(iam.send("DELETE", url, iam.owner), 403, "iam.forbidden")
    _problem(iam.send("DELETE", url), 401, "auth.unauthenticated")
    _problem(
        iam.send("DELETE", f"{ASSIGNMENTS_URL}/{uuid.uuid4()}", iam.ops),
        404,
        "iam.assignment_not_found",
    )
    revoked = iam.send("DELETE", url, iam.ops)
    assert revoked.status == 204
    assert revoked.body == b""
    assert iam.platform_permissions(iam.viewer) == frozenset()  # gone on the next request
    # Revoking again changes nothing and still answers 204 (each adapter sent one DELETE).
    assert [row[0] for row in iam.audit()] == ["assignment.create"] + ["assignment.revoke"] * 3
    assert iam.audit()[-1] == ("assignment.revoke", None, "assignment", uuid.UUID(assignment_id))
    assert len(iam.security_events("iam_assignment_revoked")) == 1


def test_platform_routes_act_outside_the_operators_tenant(iam: Iam) -> None:
    # An extra tenant grant in acme (IAM's service, as acme's owner): tenant business.
    with iam.world.unit() as session:
        ctx = iam.world.context(session, iam.owner)
        viewer = iam.world.context(session, iam.viewer).user
        member_role = session.scalar(select(Role.public_id).where(Role.key == "member"))
        assert viewer is not None
        assert member_role is not None
        data = AssignmentCreate(user_id=viewer.public_id, role_id=member_role)
        extra = IamService(iam.world.settings, iam.world.clock).create_assignment(
            session, ctx, data
        )
    # acme's owner becomes a platform admin too; their active tenant stays acme.
    iam.grant_platform_role(iam.owner, "platform_admin")
    assert iam.world.ctx(iam.owner).tenant is not None
    url = f"{ASSIGNMENTS_URL}/{extra.id}"
    _problem(iam.send("DELETE", url, iam.owner), 404, "iam.assignment_not_found")

    roles = iam.send("GET", ROLES_URL, iam.owner, query={"limit": 100}).json()["items"]
    support = next(role["id"] for role in roles if role["key"] == "support")
    granted = iam.create(
        ASSIGNMENTS_URL, iam.owner, {"user_id": str(viewer.public_id), "role_id": support}
    )
    assert granted.status == 201, granted.body
    # A platform act is never filed under the operator's own tenant.
    target = uuid.UUID(granted.json()["id"])
    assert iam.audit() == [("assignment.create", None, "assignment", target)]


def test_break_glass_use_is_recorded_once_per_platform_request(iam: Iam) -> None:
    clock = iam.world.clock
    iam.grant_platform_role(
        iam.rival,
        "break_glass",
        is_break_glass=True,
        reason="INC-7",
        expires_at=clock.now() + timedelta(minutes=5),
    )
    missing = f"{ASSIGNMENTS_URL}/{uuid.uuid4()}"
    # The request fails (404) and rolls back, yet each adapter's request left its record.
    _problem(iam.send("DELETE", missing, iam.rival), 404, "iam.assignment_not_found")
    used = iam.security_events("break_glass_used")
    assert len(used) == 3
    assert {event["permission"] for event in used} == {"platform:iam:manage"}
    assert {event["action"] for event in used} == {"assignment.revoke"}
    assert {event["tenant_id"] for event in used} == {None}  # not filed under the rival's tenant

    # Tenant routes and routes open to any caller are not platform requests.
    assert iam.send("GET", ROLES_URL, iam.rival).status == 200
    assert iam.send("GET", PERMISSIONS_URL, iam.rival).status == 200
    # Nor is a platform request without break-glass.
    _problem(iam.send("DELETE", missing, iam.ops), 404, "iam.assignment_not_found")
    assert len(iam.security_events("break_glass_used")) == 3

    clock.advance(minutes=5)  # the grant expires: no break-glass, no platform permission
    _problem(iam.send("DELETE", missing, iam.rival), 403, "iam.forbidden")
    assert len(iam.security_events("break_glass_used")) == 3
