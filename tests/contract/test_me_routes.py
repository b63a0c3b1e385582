"""``/me`` through FastAPI, Flask and Django, on SQLite and PostgreSQL (RLS in force).

Requests whose effect changes the next answer (deleting the account, changing the password or
the address) go to each adapter with its own user; the rest go through all three at once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from saas_core.audit.models import AuditLog
from saas_core.context import RequestContext
from saas_core.identity.models import User
from saas_core.tenancy.models import Tenant
from tests.contract.harness import ADAPTERS
from tests.contract.identity_world import (
    API,
    PASSWORD,
    AuditRow,
    Identity,
    error_locations,
    problem,
    serve_identity,
)
from tests.support.databases import TestDatabase, read_everything

NEW_PASSWORD = "a brand new passphrase"
USER_FIELDS = {
    "id",
    "email",
    "email_verified",
    "display_name",
    "locale",
    "timezone",
    "created_at",
    "updated_at",
}


@pytest.fixture
def ident(db: TestDatabase) -> Iterator[Identity]:
    yield from serve_identity(db)


def test_get_me(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    token = ident.token(ada)
    problem(ident.same("GET", "/me"), 401, "auth.unauthenticated")
    problem(ident.same("GET", "/me", "not-a-token"), 401, "auth.session_invalid")
    result = ident.same("GET", "/me", token)
    assert result.status == 200
    body = result.json()
    assert set(body) == USER_FIELDS  # public fields only: no internal id, no password hash
    assert (body["id"], body["email"], body["email_verified"]) == (
        str(ada.public_id),
        ada.email,
        True,
    )
    assert ident.new_audit() == []


def test_update_me(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    token = ident.token(ada)
    change = {"display_name": "Ada", "locale": "pt-BR", "timezone": "Europe/Lisbon"}
    problem(ident.same("PATCH", "/me", json_body=change), 401, "auth.unauthenticated")
    invalid = ident.same(
        "PATCH", "/me", token, json_body={"locale": "!!", "timezone": "Mars/Olympus", "x": 1}
    )
    assert error_locations(invalid) == [["body", "locale"], ["body", "timezone"], ["body", "x"]]
    # A directory of the zone database is no zone; no control characters in a name.
    odd = ident.same(
        "PATCH", "/me", token, json_body={"display_name": "a\x07b", "timezone": "America"}
    )
    assert error_locations(odd) == [["body", "display_name"], ["body", "timezone"]]
    assert ident.new_audit() == []

    ident.world.clock.advance(seconds=5)  # see below
    updated = ident.same("PATCH", "/me", token, json_body=change)
    assert updated.status == 200
    assert {k: updated.json()[k] for k in change} == change
    assert updated.json()["updated_at"] == "2026-01-01T00:00:05Z"
    # Each change at a new instant: a write within the same tick of the fake clock would leave
    # updated_at unchanged, and the column's on-update default would stamp the wall clock.
    ident.world.clock.advance(seconds=5)
    cleared = ident.same("PATCH", "/me", token, json_body={"locale": None})
    assert {k: cleared.json()[k] for k in change} == {**change, "locale": None}
    assert ident.same("GET", "/me", token).body == cleared.body
    assert ident.new_audit() == [AuditRow("me.update", ada.id, "user", ada.public_id)] * 6


def test_delete_me(ident: Identity) -> None:
    people = ident.people("dana")
    tokens = [[ident.token(person) for _ in range(2)] for person in people]
    erased: list[uuid.UUID] = []

    def hook(session: Any, user: User, ctx: RequestContext) -> None:
        erased.append(user.public_id)

    ident.core.identity.deletion_hooks.append(hook)
    first = tokens[0][0]
    problem(ident.same("DELETE", "/me", json_body={}), 401, "auth.unauthenticated")
    assert error_locations(ident.same("DELETE", "/me", first)) == [["body"]]
    wrong = ident.same("DELETE", "/me", first, json_body={"password": "not my password"})
    problem(wrong, 403, "auth.reauthentication_failed")
    for index in (0, 1):  # no password for an account that has one: failures 4 and 5
        empty = ident.one(index, "DELETE", "/me", first, json_body={})
        problem(empty, 403, "auth.reauthentication_failed")
    # Each failure was committed and counted: the fifth locked the account.
    locked = ident.same("DELETE", "/me", first, json_body={"password": PASSWORD})
    problem(locked, 429, "auth.locked")
    events = ident.security_events(people[0].id)
    assert Counter(event for event, _ in events) == {"login_failed": 8, "lockout": 1}
    assert all(meta["reauthentication"] for event, meta in events if event == "login_failed")
    assert ident.new_audit() == []
    assert erased == []

    results = ident.per_adapter(
        "DELETE", "/me", lambda i: {"token": tokens[i][0], "json_body": {"password": PASSWORD}}
    )
    # dana-fastapi is still locked out; the other two are deleted.
    assert [r.status for r in results] == [429, 204, 204]
    for person, pair in zip(people[1:], tokens[1:], strict=True):
        for token in pair:  # every session is revoked
            problem(ident.same("GET", "/me", token), 401, "auth.session_invalid")
        body = {"email": person.email, "password": PASSWORD}
        assert ident.one(0, "POST", "/auth/register", json_body=body).status == 201
    assert erased == [p.public_id for p in people[1:]]
    deletions = [a for a in ident.new_audit() if a.action == "me.delete"]
    assert deletions == [AuditRow("me.delete", p.id, "user", p.public_id) for p in people[1:]]

    passwordless = ident.person("sso@example.com", password=None)
    token = ident.token(passwordless)
    assert ident.one(2, "DELETE", "/me", token, json_body={}).status == 204
    problem(ident.same("GET", "/me", token), 401, "auth.session_invalid")


def test_change_my_password(ident: Identity) -> None:
    people = ident.people("pat")
    current = [ident.token(person) for person in people]
    others = [ident.token(person) for person in people]
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    problem(ident.same("POST", "/me/password", json_body=body), 401, "auth.unauthenticated")
    missing = ident.same("POST", "/me/password", current[0], json_body={"new_password": "x"})
    assert error_locations(missing) == [["body", "current_password"]]
    weak = {"current_password": PASSWORD, "new_password": "short"}
    problem(
        ident.same("POST", "/me/password", current[0], json_body=weak), 422, "auth.weak_password"
    )
    wrong = {"current_password": "not it at all", "new_password": NEW_PASSWORD}
    refused = ident.same("POST", "/me/password", current[1], json_body=wrong)
    problem(refused, 403, "auth.reauthentication_failed")
    assert ident.new_audit() == []

    results = ident.per_adapter(
        "POST", "/me/password", lambda i: {"token": current[i], "json_body": body}
    )
    assert [r.status for r in results] == [204] * 3
    for index, person in enumerate(people):
        assert ident.same("GET", "/me", current[index]).status == 200  # this session stays
        problem(ident.same("GET", "/me", others[index]), 401, "auth.session_invalid")
        login = {"email": person.email, "password": NEW_PASSWORD}
        assert ident.one(index, "POST", "/auth/login", json_body=login).status == 200
    changes = [a for a in ident.new_audit() if a.action == "me.password_change"]
    assert changes == [AuditRow("me.password_change", p.id, "user", p.public_id) for p in people]


def test_change_my_email(ident: Identity) -> None:
    people = ident.people("emil")
    tokens = [ident.token(person) for person in people]
    outbox = ident.world.outbox
    taken = ident.person("taken@example.com")
    ask = "/me/email"
    for request, status, code in (
        (
            {"new_email": "fresh@example.com", "password": "wrong one!"},
            403,
            "auth.reauthentication_failed",
        ),
        ({"new_email": taken.email, "password": PASSWORD}, 409, "user.email_taken"),
        ({"new_email": people[0].email, "password": PASSWORD}, 422, "invalid_input"),
    ):
        problem(ident.same("POST", ask, tokens[0], json_body=request), status, code)
    assert error_locations(
        ident.same("POST", ask, tokens[0], json_body={"new_email": "a@b.c"})
    ) == [["body", "password"]]
    assert ident.new_audit() == []

    new = [f"renamed-{name}@example.com" for name in ADAPTERS]
    results = ident.per_adapter(
        "POST",
        ask,
        lambda i: {"token": tokens[i], "json_body": {"new_email": new[i], "password": PASSWORD}},
    )
    assert [(r.status, r.json()) for r in results] == [(202, {"status": "accepted"})] * 3
    mailed = [outbox.last(to=address, kind="change_email").token for address in new]
    assert all(outbox.last(to=p.email, kind="email_change_notice") for p in people)

    confirm = "/me/email/confirm"
    problem(
        ident.same("POST", confirm, json_body={"token": mailed[0]}), 401, "auth.unauthenticated"
    )
    stolen = ident.same("POST", confirm, tokens[1], json_body={"token": mailed[0]})
    problem(stolen, 422, "auth.invalid_token")  # someone else's token; still valid for its owner
    results = ident.per_adapter(
        "POST", confirm, lambda i: {"token": tokens[i], "json_body": {"token": mailed[i]}}
    )
    for address, result in zip(new, results, strict=True):
        assert result.status == 200, result.body
        assert (result.json()["email"], result.json()["email_verified"]) == (address, True)
    assert ident.new_audit() == [
        *(AuditRow("me.email_change_request", p.id, "user", p.public_id) for p in people),
        *(AuditRow("me.email_change", p.id, "user", p.public_id) for p in people),
    ]


def test_my_email_preferences(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    token = ident.token(ada)
    path = "/me/preferences/email"
    problem(ident.same("GET", path), 401, "auth.unauthenticated")
    defaults = {
        "product_updates": True,
        "security_alerts": True,
        "billing": True,
        "marketing": False,
    }
    assert ident.same("GET", path, token).json() == defaults
    invalid = ident.same("PATCH", path, token, json_body={"security_alerts": False, "sms": True})
    assert error_locations(invalid) == [["body", "security_alerts"], ["body", "sms"]]
    assert ident.new_audit() == []

    changed = ident.same("PATCH", path, token, json_body={"marketing": True, "billing": False})
    expected = {**defaults, "marketing": True, "billing": False}
    assert changed.json() == expected
    same_again = ident.same("PATCH", path, token, json_body={"security_alerts": True})
    assert same_again.json() == expected
    assert ident.same("GET", path, token).json() == expected
    audit = ident.new_audit()
    assert audit == [AuditRow("me.preferences_update", ada.id, "user", ada.public_id)] * 6


def test_switch_my_active_tenant(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    acme_id = ident.world.tenant(ident.actor(ada), "acme")
    ident.world.tenant(ident.actor(ident.person("eve@example.com")), "globex")
    with ident.world.unit() as session:
        ids = {
            row.slug: row.public_id
            for row in session.execute(select(Tenant.slug, Tenant.public_id))
        }
    token = ident.token(ada)  # a session without a tenant
    path = "/me/active-tenant"
    body = {"tenant_id": str(ids["acme"])}
    problem(ident.same("PUT", path, json_body=body), 401, "auth.unauthenticated")
    assert error_locations(ident.same("PUT", path, token, json_body={"tenant_id": "acme"})) == [
        ["body", "tenant_id"]
    ]
    for other in (ids["globex"], uuid.uuid4()):  # not a member, or no such tenant
        missing = ident.same("PUT", path, token, json_body={"tenant_id": str(other)})
        problem(missing, 404, "tenant.not_found")
    assert ident.session_row(token).active_tenant_id is None
    assert ident.new_audit() == []

    switched = ident.same("PUT", path, token, json_body=body)
    assert switched.status == 200
    assert (switched.json()["id"], switched.json()["slug"]) == (str(ids["acme"]), "acme")
    assert ident.session_row(token).active_tenant_id == acme_id
    # The next request acts in acme: a tenant route answers.
    assert (
        ident.adapters.same(
            "GET", f"{API}/tenants/{ids['acme']}", headers={"Authorization": f"Bearer {token}"}
        ).status
        == 200
    )
    audit = ident.new_audit()
    assert [(a.action, a.actor_user_id, a.target_type, a.target_id) for a in audit] == [
        ("me.active_tenant_switch", ada.id, "tenant", ids["acme"])
    ] * 3
    # Account actions are personal: their audit rows belong to no tenant, even with one active,
    # so acme's administrators never read a member's profile or session activity.
    updated = ident.adapters.same(
        "PATCH",
        f"{API}/me",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "personal"},
        json_body={"display_name": "Ada L."},
    )
    assert updated.status == 200
    rows = read_everything(
        ident.db,
        select(AuditLog.tenant_id).where(
            AuditLog.action.in_(["me.update", "me.active_tenant_switch"])
        ),
    )
    tenants = [row.tenant_id for row in rows]
    assert len(tenants) >= 4  # three switches and at least one update
    assert set(tenants) == {None}
