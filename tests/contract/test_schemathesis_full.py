"""Schemathesis drives every saas-core route through each adapter, from the adapter's own document.

For FastAPI (ASGI), Flask (WSGI) and Django (WSGI), on SQLite and PostgreSQL (the application
role, so Row Level Security is in force), the test loads ``/api/v1/openapi.json`` from the mounted
app and runs every operation with a bounded number of examples (valid and invalid data, generated
from the document), as the signed-in owner of the active tenant ``acme``, who is also a platform
administrator so that the platform operations run past their permission check. Every response
must be no server error, have a documented status (explicitly: the ``default`` problem response
stands for 5xx only, so ``status_code_conformance`` alone would accept anything), a documented
content type, the documented headers (``WWW-Authenticate`` on 401, ``Retry-After`` on 429) and a
body matching the documented schema. Failures of every operation are collected
and reported together.

How the state is kept usable without leaving any operation out:

* each example gets a session of its own (a bearer token made just before the request), so
  ``POST /auth/logout``, ``POST /auth/refresh`` (rotation), ``POST /auth/sessions/revoke-others``,
  ``DELETE /auth/sessions/{sessionId}`` and ``PUT /me/active-tenant`` cannot spoil later examples;
* path ids are generated, or ids that exist (acme, one of its projects, a member, a custom role,
  a pending invitation, a session, a platform assignment; the platform operations suspend and
  reactivate a second tenant, not acme), and every operation without a body is first called once
  with those ids and no optional input, so success paths are exercised, not only 404s;
* operations run in order of how much they destroy: reads, then writes, then deletions, then
  archiving acme, then ``DELETE /me`` (the account cannot come back; its examples run last);
* operations that need a secret the generator cannot know (the current password, an emailed
  token) still run: they must answer their documented refusal (wrong passwords count towards the
  lockout, so ``429`` is exercised too); those that ask for the current password are also called
  once with it, as a newcomer of their own (the owner is locked out by then, and the account
  deletion must not take the owner away).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

import saas_core_django
from saas_core.core import Core
from saas_core.db.tenant import platform_scope
from saas_core.iam.models import Role, RoleAssignment
from saas_core.identity.models import User
from saas_core.testing import fast_settings
from saas_core.testing.factories import DEFAULT_PASSWORD
from tests.contract.harness import Client, DjangoClient, FastApiClient, FlaskClient
from tests.support.databases import TestDatabase
from tests.support.tenancy import Actor, World, app_engine, join, make_world

API = "/api/v1"
ADAPTERS = ("fastapi", "flask", "django")
IN_CI = os.environ.get("CI") == "true"
#: Generated examples per operation; the six runs stay well under a minute at the default.
EXAMPLES = int(os.environ.get("SAAS_CORE_SCHEMATHESIS_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Bodies holding the current password, sent once per operation by a newcomer of its own.
WITH_PASSWORD: dict[str, dict[str, str]] = {
    "change_password": {
        "current_password": DEFAULT_PASSWORD,
        "new_password": "a new and long passphrase",
    },
    "request_email_change": {"new_email": "moved@example.com", "password": DEFAULT_PASSWORD},
    "delete_me": {"password": DEFAULT_PASSWORD},
}
#: Operations that must succeed at least once (the run is not all refusals).
MUST_SUCCEED = {
    "health",
    "openapi",
    "get_me",
    "get_email_preferences",
    "list_sessions",
    "list_tenants",
    "get_tenant",
    "list_members",
    "list_invitations",
    "list_projects",
    "get_project",
    "list_roles",
    "list_permissions",
    "logout",
    "refresh",
    "revoke_other_sessions",
    "suspend_tenant",
    "reactivate_tenant",
    "revoke_session",
    "remove_member",
    "revoke_invitation",
    "delete_project",
    "revoke_assignment",
    "archive_tenant",
    *WITH_PASSWORD,
}
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def destruction(method: str, path: str) -> int:
    """Run order: what an operation can take away from the examples after it."""
    if (method, path) == ("DELETE", f"{API}/me"):
        return 4  # the account
    if (method, path) == ("DELETE", f"{API}/tenants/{{tenantId}}"):
        return 3  # the tenant every other operation acts in
    return {"GET": 0, "DELETE": 2}.get(method, 1)


@dataclass
class Owner:
    """The signed-in owner of the active tenant ``acme`` and the ids that exist in it."""

    world: World
    core: Core
    user_id: int
    tenant_id: int
    ids: dict[str, str]

    def token(self) -> str:
        """A new session of the owner, acting in ``acme``."""
        with self.world.unit() as session:
            issued = self.core.identity.sessions.create(
                session, self.user_id, active_tenant_id=self.tenant_id
            )
            return issued.token

    def newcomer_token(self, name: str) -> str:
        """A session of a new user ``name`` whose password is ``DEFAULT_PASSWORD``."""
        with self.world.unit() as session:
            user = self.core.identity.create_user(
                session,
                email=f"{name.replace('_', '-')}@example.com",
                password=DEFAULT_PASSWORD,
                email_verified=True,
            )
            return self.core.identity.sessions.create(session, user.id).token


@dataclass
class Tally:
    """What the run saw, per operation."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line per operation: examples and statuses."""
        lines = []
        for name, seen in self.statuses.items():
            counts = " ".join(f"{status}x{count}" for status, count in sorted(seen.items()))
            lines.append(f"{name}: {sum(seen.values())} examples ({counts})")
        return "\n".join(lines)


def served_client(adapter: str, core: Core) -> Client:
    """The harness client of ``adapter`` serving ``core`` (also used for seeding)."""
    if adapter == "fastapi":
        return FastApiClient(core)
    if adapter == "flask":
        return FlaskClient(core)
    return DjangoClient(core)


def load_schema(adapter: str, client: Client) -> tuple[Any, AbstractContextManager[Any]]:
    """The adapter's own document, loaded in-process, and the context to run requests in."""
    if isinstance(client, FastApiClient):
        return schemathesis.openapi.from_asgi(f"{API}/openapi.json", client.app), nullcontext()
    if isinstance(client, FlaskClient):
        return schemathesis.openapi.from_wsgi(f"{API}/openapi.json", client.app), nullcontext()
    from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]
    from django.test import override_settings  # type: ignore[import-untyped]

    # Schemathesis' WSGI transport sends ``Host: localhost``; the test project allows "testserver".
    hosts = override_settings(ALLOWED_HOSTS=["testserver", "localhost"])
    with hosts:
        schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", WSGIHandler())
    return schema, hosts


def seed(db: TestDatabase, adapter: str) -> tuple[Owner, Client]:
    """The owner, a member, a project, a custom role, an invitation and a spare session."""
    world = make_world(db)
    core = Core(
        fast_settings(database_url=db.url.render_as_string(False)),
        engine=app_engine(db),
        clock=world.clock,
        email_sender=world.outbox,
    )
    with world.unit() as session:
        user = core.identity.create_user(
            session, email="owner@example.com", password=DEFAULT_PASSWORD, email_verified=True
        )
        user_id = user.id
    with world.unit() as session:
        spare = core.identity.sessions.create(session, user_id).token
    actor = Actor(user_id, "owner@example.com", spare)
    tenant_id = world.tenant(actor, "acme")
    member = join(world, actor, tenant_id, "member@example.com", "member")
    with world.unit() as session:
        member_id = session.scalar(select(User.public_id).where(User.id == member.user_id))
    with world.unit() as session, platform_scope(session, reason="test set-up"):
        admin = session.scalar(
            select(Role.id).where(Role.key == "platform_admin", Role.tenant_id.is_(None))
        )
        session.add(RoleAssignment(user_id=user_id, role_id=admin, created_at=world.clock.now()))
        session.flush()  # inside the scope: the row belongs to no tenant
    client = served_client(adapter, core)
    owner = Owner(world, core, user_id, tenant_id, {"userId": str(member_id)})

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {spare}", "Content-Type": "application/json"}
        result = client.send("POST", API + path, "", headers, json.dumps(body).encode())
        assert result.status in (200, 201), (path, result.body)
        created: dict[str, Any] = result.json()
        return created

    def get(path: str) -> dict[str, Any]:
        result = client.send("GET", API + path, "", {"Authorization": f"Bearer {spare}"}, b"")
        assert result.status == 200, (path, result.body)
        found: dict[str, Any] = result.json()
        return found

    # The owner's second tenant: the one the platform operations suspend and reactivate.
    owner.ids["spareTenantId"] = post("/tenants", {"name": "Spare", "slug": "spare"})["id"]
    owner.ids["tenantId"] = next(
        t["id"] for t in get("/tenants")["items"] if t["id"] != owner.ids["spareTenantId"]
    )
    owner.ids["projectId"] = post("/projects", {"name": "Apollo"})["id"]
    role = {"key": "auditor", "name": "Auditor", "permissions": ["projects:read"]}
    owner.ids["roleId"] = post("/iam/roles", role)["id"]
    invitation = {"email": "invitee@example.com", "role": "viewer"}
    owner.ids["invitationId"] = post(f"/tenants/{owner.ids['tenantId']}/members", invitation)["id"]
    owner.ids["sessionId"] = get("/auth/sessions")["items"][0]["id"]
    with world.unit() as session:
        support = session.scalar(
            select(Role.public_id).where(Role.key == "support", Role.tenant_id.is_(None))
        )
    assignment = {"user_id": owner.ids["userId"], "role_id": str(support)}
    owner.ids["assignmentId"] = post("/iam/assignments", assignment)["id"]
    return owner, client


def documented_status(case: schemathesis.Case[Any], status: int) -> str | None:
    """Why ``status`` is undocumented for ``case``'s operation (``default`` covers 5xx only)."""
    declared = {code for code in case.operation.definition.raw["responses"] if code != "default"}
    if status < 500 and str(status) not in declared:
        return f"status {status} is not documented (documented: {', '.join(sorted(declared))})"
    return None


def run_operation(
    operation: Any, owner: Owner, tally: Tally, examples: int, context: AbstractContextManager[Any]
) -> None:
    """One call with existing ids, then ``examples`` generated ones; failures go to ``tally``."""
    name = operation.definition.raw["operationId"]
    seen = tally.statuses.setdefault(name, Counter())
    ids = owner.ids
    if name in ("suspend_tenant", "reactivate_tenant"):
        ids = {**ids, "tenantId": ids["spareTenantId"]}
    known = {p: ids[p] for p in _PARAM.findall(operation.path) if p in ids}

    def exercise(case: schemathesis.Case[Any], token: str | None = None) -> None:
        with context:
            response = case.call(headers={"Authorization": f"Bearer {token or owner.token()}"})
        seen[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        problem = documented_status(case, response.status_code)
        assert problem is None, f"{case.operation.label}: {problem}\n{response.text[:500]}"

    strategies = [
        operation.as_strategy(),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    ]
    if known:
        strategies.append(operation.as_strategy(path_parameters=known))

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=IN_CI,
        database=None,  # the closures share one name: stored examples would cross operations
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def generated(case: schemathesis.Case[Any]) -> None:
        exercise(case)

    try:
        if "requestBody" not in operation.definition.raw:
            exercise(operation.Case(path_parameters=known))
        generated()
        if name in WITH_PASSWORD:
            case = operation.Case(body=WITH_PASSWORD[name], media_type="application/json")
            exercise(case, owner.newcomer_token(name))
    # Schemathesis reports failures as a BaseExceptionGroup subclass.
    except (Exception, BaseExceptionGroup) as error:
        tally.failures.append(f"{name}: {error}")


@pytest.fixture
def django_reset() -> Iterator[None]:
    yield
    saas_core_django.configure(None)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_every_operation_conforms_to_the_adapters_document(
    db: TestDatabase, adapter: str, django_reset: None
) -> None:
    started = time.monotonic()
    owner, client = seed(db, adapter)
    schema, context = load_schema(adapter, client)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Schemathesis leaves out the operation that served the document: run it too.
    operations.append(schema[f"{API}/openapi.json"]["GET"])
    operations.sort(key=lambda op: destruction(op.method.upper(), op.path))
    tally = Tally()
    for operation in operations:
        run_operation(operation, owner, tally, EXAMPLES, context)
    report = tally.summary()
    print(
        f"\n{adapter}/{db.dialect}: {len(operations)} operations in "
        f"{time.monotonic() - started:.1f}s\n{report}"
    )
    assert not tally.failures, "\n\n".join(tally.failures)
    assert {op.definition.raw["operationId"] for op in operations} == {
        route.name for route in owner.core.routes
    }
    succeeded = {name for name, seen in tally.statuses.items() if any(s < 300 for s in seen)}
    assert succeeded >= MUST_SUCCEED, (MUST_SUCCEED - succeeded, report)
