"""``/auth`` through FastAPI, Flask and Django, on SQLite and PostgreSQL (RLS in force).

Sign-in, logout, rotation and single-use tokens change what the next request sees, so those go
to each adapter with its own user or session; everything else goes through all three at once
and must come back byte-identical.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from saas_core.tenancy.models import Tenant
from tests.contract.harness import ADAPTERS
from tests.contract.identity_world import (
    API,
    CSRF_COOKIE,
    CSRF_HEADER,
    PASSWORD,
    SESSION_COOKIE,
    AuditRow,
    Identity,
    cookie_parts,
    error_locations,
    problem,
    serve_identity,
)
from tests.support.databases import TestDatabase

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def ident(db: TestDatabase) -> Iterator[Identity]:
    yield from serve_identity(db)


@contextmanager
def served(db: TestDatabase, **settings: Any) -> Iterator[Identity]:
    """A second set-up with other settings."""
    yield from serve_identity(db, **settings)


def login_body(email: str, password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"email": email, "password": password, **extra}


def test_register(ident: Identity) -> None:
    results = ident.per_adapter(
        "POST",
        "/auth/register",
        lambda i: {
            "json_body": {
                "email": f" New-{ADAPTERS[i]}@Example.COM",
                "password": NEW_PASSWORD,
                "display_name": "Newcomer",
            }
        },
    )
    created = []
    for name, result in zip(ADAPTERS, results, strict=True):
        assert result.status == 201, result.body
        body = result.json()
        assert set(body) == {
            "id",
            "email",
            "email_verified",
            "display_name",
            "locale",
            "timezone",
            "created_at",
            "updated_at",
        }
        assert body["email"] == f"new-{name}@example.com"
        assert (body["email_verified"], body["display_name"]) == (False, "Newcomer")
        assert ident.world.outbox.last(to=body["email"], kind="verify_email").token
        created.append(uuid.UUID(body["id"]))
    audit = ident.new_audit()
    assert [(a.action, a.target_type, a.target_id) for a in audit] == [
        ("auth.register", "user", public_id) for public_id in created
    ]
    assert all(a.actor_user_id is not None for a in audit)  # the new user signs themselves up

    taken = {"email": "NEW-flask@example.com", "password": NEW_PASSWORD}
    problem(ident.same("POST", "/auth/register", json_body=taken), 409, "user.email_taken")
    weak = {"email": "weak@example.com", "password": "short"}
    problem(ident.same("POST", "/auth/register", json_body=weak), 422, "auth.weak_password")
    bad = {"email": "not an address", "password": NEW_PASSWORD}
    problem(ident.same("POST", "/auth/register", json_body=bad), 422, "invalid_input")
    invalid = ident.same("POST", "/auth/register", json_body={"email": "", "admin": True})
    assert error_locations(invalid) == [["body", "email"], ["body", "password"], ["body", "admin"]]
    assert ident.new_audit() == []


def test_registration_can_be_switched_off(db: TestDatabase) -> None:
    with served(db, registration_enabled=False) as ident:
        body = {"email": "late@example.com", "password": NEW_PASSWORD}
        closed = ident.same("POST", "/auth/register", json_body=body)
        problem(closed, 403, "auth.registration_closed")
        assert ident.world.outbox.messages == []
        assert ident.new_audit() == []


def test_login_with_a_bearer_token_then_logout(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    invalid = ident.same(
        "POST", "/auth/login", json_body={"email": ada.email, "transport": "carrier pigeon"}
    )
    assert error_locations(invalid) == [["body", "password"], ["body", "transport"]]
    wrong = ident.same("POST", "/auth/login", json_body=login_body("ADA@example.com", "nope"))
    problem(wrong, 401, "auth.invalid_credentials")
    unknown = ident.same("POST", "/auth/login", json_body=login_body("who@example.com", "nope"))
    assert unknown.body == wrong.body  # nothing tells an unknown account from a wrong password

    results = ident.adapters.each("POST", API + "/auth/login", json_body=login_body(ada.email))
    tokens = []
    for index, result in enumerate(results):
        assert result.status == 200, result.body
        body = result.json()
        assert set(body) == {"token", "token_type", "expires_at", "session_id", "tenant_id"}
        assert (body["token_type"], body["tenant_id"], result.set_cookies) == ("bearer", None, [])
        row = ident.session_row(body["token"])
        assert uuid.UUID(body["session_id"]) == row.public_id
        assert row.expires_at == ident.world.clock.now() + timedelta(hours=12)
        assert ident.one(index, "GET", "/me", body["token"]).json()["email"] == ada.email
        tokens.append(body["token"])
    assert len(set(tokens)) == 3
    logins = ident.new_audit()
    assert [(a.action, a.actor_user_id, a.target_type) for a in logins] == [
        ("auth.login", ada.id, "session")
    ] * 3

    problem(ident.same("POST", "/auth/logout"), 401, "auth.unauthenticated")
    results = ident.per_adapter("POST", "/auth/logout", lambda i: {"token": tokens[i]})
    assert [(r.status, r.set_cookies) for r in results] == [(204, [])] * 3
    for token in tokens:
        problem(ident.same("GET", "/me", token), 401, "auth.session_invalid")
        problem(ident.same("POST", "/auth/logout", token), 401, "auth.session_invalid")
    assert ident.new_audit() == [
        AuditRow("auth.logout", ada.id, "session", login.target_id) for login in logins
    ]
    events = Counter(event for event, _ in ident.security_events(ada.id))
    assert events == {"login_failed": 3, "login_succeeded": 3, "logout": 3}


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(ident: Identity) -> None:
    bob = ident.person("bob@example.com")
    for attempt in range(5):
        body = login_body(bob.email, f"wrong guess {attempt}")
        result = ident.one(attempt % 3, "POST", "/auth/login", json_body=body)
        problem(result, 401, "auth.invalid_credentials")
    locked = ident.same("POST", "/auth/login", json_body=login_body(bob.email))
    problem(locked, 429, "auth.locked")
    assert locked.headers["retry-after"] == str(15 * 60)
    # Each failure was committed despite the error: the counter, the lockout and the events.
    events = ident.security_events()
    assert Counter(event for event, _ in events) == {"login_failed": 8, "lockout": 1}
    reasons = Counter(meta["reason"] for event, meta in events if event == "login_failed")
    assert reasons == {"wrong_password": 5, "locked": 3}
    assert ident.new_audit() == []  # failures are in security_events, not in the audit log

    ident.world.clock.advance(timedelta(minutes=15, seconds=1))
    assert ident.one(2, "POST", "/auth/login", json_body=login_body(bob.email)).status == 200


def test_login_opens_the_tenant_used_last_else_the_first_by_name(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    zeta = ident.world.tenant(ident.actor(ada), "zeta")  # active in that session
    ident.world.tenant(ident.actor(ada), "alpha", activate=False)
    newbie = ident.person("newbie@example.com")
    newbie_actor = ident.actor(newbie)
    ident.world.tenant(newbie_actor, "omega", activate=False)
    beta = ident.world.tenant(newbie_actor, "beta", activate=False)
    with ident.world.unit() as session:
        public = {
            row.id: row.public_id for row in session.execute(select(Tenant.id, Tenant.public_id))
        }

    for person, expected in ((ada, zeta), (newbie, beta)):
        result = ident.one(1, "POST", "/auth/login", json_body=login_body(person.email))
        body = result.json()
        assert body["tenant_id"] == str(public[expected])
        assert ident.session_row(body["token"]).active_tenant_id == expected
        assert ident.one(1, "GET", "/auth/sessions", body["token"]).status == 200


def test_cookie_login_csrf_refresh_and_logout(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    body = login_body(ada.email, transport="cookie")
    results = ident.adapters.each("POST", API + "/auth/login", json_body=body)
    jars = []
    for result in results:
        assert result.status == 200, result.body
        assert (result.json()["token"], result.json()["token_type"]) == (None, "cookie")
        name, session_value, attributes = cookie_parts(result.cookie(SESSION_COOKIE))
        assert {"secure", "httponly"} <= set(attributes)
        assert (attributes["path"], attributes["samesite"].lower()) == ("/", "lax")
        assert attributes["max-age"] == str(12 * 3600)
        assert "domain" not in attributes
        _, csrf_value, csrf_attributes = cookie_parts(result.cookie(CSRF_COOKIE))
        assert "httponly" not in csrf_attributes  # page scripts read it to fill the header
        assert "secure" in csrf_attributes
        assert (csrf_attributes["path"], csrf_attributes["samesite"].lower()) == ("/", "lax")
        assert session_value
        assert csrf_value not in ("", session_value)
        ident.session_row(session_value)  # the cookie is the session token
        jars.append({SESSION_COOKIE: session_value, CSRF_COOKIE: csrf_value})
    ident.new_audit()

    jar = jars[0]
    session_only = {SESSION_COOKIE: jar[SESSION_COOKIE]}
    assert ident.same("GET", "/me", cookies=session_only).json()["email"] == ada.email
    patch = {"display_name": "Ada L."}
    for cookies, headers in (
        (jar, {}),  # no header
        (jar, {CSRF_HEADER: "forged"}),  # a header that does not match the cookie
        (session_only, {CSRF_HEADER: jar[CSRF_COOKIE]}),  # a header without the cookie
    ):
        refused = ident.same("PATCH", "/me", cookies=cookies, headers=headers, json_body=patch)
        problem(refused, 403, "auth.csrf_failed")
    assert ident.new_audit() == []
    done = ident.same(
        "PATCH", "/me", cookies=jar, headers={CSRF_HEADER: jar[CSRF_COOKIE]}, json_body=patch
    )
    assert done.status == 200
    assert done.json()["display_name"] == "Ada L."
    assert [a.action for a in ident.new_audit()] == ["me.update"] * 3

    def with_csrf(i: int) -> dict[str, Any]:
        return {"cookies": jars[i], "headers": {CSRF_HEADER: jars[i][CSRF_COOKIE]}}

    no_header = ident.per_adapter("POST", "/auth/refresh", lambda i: {"cookies": jars[i]})
    assert [r.json()["code"] for r in no_header] == ["auth.csrf_failed"] * 3
    for index, result in enumerate(ident.per_adapter("POST", "/auth/refresh", with_csrf)):
        assert result.status == 200, result.body
        assert (result.json()["token"], result.json()["token_type"]) == (None, "cookie")
        assert len(result.set_cookies) == 1  # the CSRF cookie the page holds stays valid
        _, fresh, attributes = cookie_parts(result.cookie(SESSION_COOKIE))
        assert {"secure", "httponly"} <= set(attributes)
        old = jars[index][SESSION_COOKIE]
        stale = ident.one(index, "GET", "/me", cookies={SESSION_COOKIE: old})
        problem(stale, 401, "auth.session_invalid")
        jars[index] = {**jars[index], SESSION_COOKIE: fresh}
        assert ident.one(index, "GET", "/me", cookies={SESSION_COOKIE: fresh}).status == 200
    assert [a.action for a in ident.new_audit()] == ["auth.refresh"] * 3

    for index, result in enumerate(ident.per_adapter("POST", "/auth/logout", with_csrf)):
        assert result.status == 204
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            assert cookie_parts(result.cookie(name))[2]["max-age"] == "0"
        gone = ident.one(index, "GET", "/me", cookies={SESSION_COOKIE: jars[index][SESSION_COOKIE]})
        problem(gone, 401, "auth.session_invalid")
    assert [a.action for a in ident.new_audit()] == ["auth.logout"] * 3


def test_cookies_over_plain_http_drop_secure_and_the_host_prefix(db: TestDatabase) -> None:
    with served(db, cookie_secure=False) as ident:
        ada = ident.person("ada@example.com")
        body = login_body(ada.email, transport="cookie")
        for result in ident.adapters.each("POST", API + "/auth/login", json_body=body):
            for name, http_only in (("session", True), ("csrftoken", False)):
                attributes = cookie_parts(result.cookie(name))[2]
                assert "secure" not in attributes
                assert ("httponly" in attributes) is http_only


def test_refresh_rotates_a_bearer_token(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    tokens = [ident.token(ada) for _ in ADAPTERS]
    problem(ident.same("POST", "/auth/refresh"), 401, "auth.unauthenticated")
    results = ident.per_adapter("POST", "/auth/refresh", lambda i: {"token": tokens[i]})
    sessions = []
    for index, result in enumerate(results):
        assert result.status == 200, result.body
        body = result.json()
        assert body["token_type"] == "bearer"
        old = ident.session_row(tokens[index])
        new = ident.session_row(body["token"])
        assert (new.rotated_from_id, new.expires_at) == (old.id, old.expires_at)
        assert body["session_id"] == str(new.public_id)
        problem(ident.same("GET", "/me", tokens[index]), 401, "auth.session_invalid")
        assert ident.same("GET", "/me", body["token"]).status == 200
        sessions.append(new.public_id)
    assert ident.new_audit() == [AuditRow("auth.refresh", ada.id, "session", s) for s in sessions]


def test_verify_email_and_resend(ident: Identity) -> None:
    people = ident.people("vera", verified=False)
    tokens = [ident.token(person) for person in people]
    problem(ident.same("POST", "/auth/verify-email/resend"), 401, "auth.unauthenticated")
    results = ident.per_adapter("POST", "/auth/verify-email/resend", lambda i: {"token": tokens[i]})
    assert [(r.status, r.json()) for r in results] == [(202, {"status": "accepted"})] * 3
    mailed = [ident.world.outbox.last(to=p.email, kind="verify_email").token for p in people]

    short = ident.same("POST", "/auth/verify-email", json_body={"token": "abc"})
    assert error_locations(short) == [["body", "token"]]
    unknown = ident.same("POST", "/auth/verify-email", json_body={"token": "x" * 43})
    problem(unknown, 422, "auth.invalid_token")
    results = ident.per_adapter(
        "POST", "/auth/verify-email", lambda i: {"json_body": {"token": mailed[i]}}
    )
    assert [r.status for r in results] == [204] * 3
    again = ident.same("POST", "/auth/verify-email", json_body={"token": mailed[0]})
    problem(again, 422, "auth.invalid_token")  # single use
    for person, token in zip(people, tokens, strict=True):
        assert ident.same("GET", "/me", token).json()["email_verified"] is True
        problem(ident.same("POST", "/auth/verify-email/resend", token), 409, "conflict")
    assert ident.new_audit() == [
        *(AuditRow("auth.verify_email_resend", p.id, "user", p.public_id) for p in people),
        *(AuditRow("auth.verify_email", p.id, "user", p.public_id) for p in people),
    ]


def test_password_reset(ident: Identity) -> None:
    people = ident.people("rita")
    old_tokens = [ident.token(person) for person in people]
    outbox = ident.world.outbox
    outbox.clear()
    known = ident.per_adapter(
        "POST", "/auth/reset-password", lambda i: {"json_body": {"email": people[i].email}}
    )
    assert [(r.status, r.json()) for r in known] == [(202, {"status": "accepted"})] * 3
    for email in ("nobody@example.com", "not even an address"):
        unknown = ident.same("POST", "/auth/reset-password", json_body={"email": email})
        assert (unknown.status, unknown.body) == (202, known[0].body)  # no account enumeration
    assert sorted(m.to for m in outbox.messages) == sorted(p.email for p in people)
    invalid = ident.same("POST", "/auth/reset-password", json_body={"email": ""})
    assert error_locations(invalid) == [["body", "email"]]
    assert [a.action for a in ident.new_audit()] == ["auth.password_reset_request"] * 9

    mailed = [outbox.last(to=p.email, kind="reset_password").token for p in people]
    weak = ident.same(
        "POST", "/auth/reset-password/confirm", json_body={"token": mailed[0], "new_password": "x"}
    )
    problem(weak, 422, "auth.weak_password")  # rolled back: the token still works below
    results = ident.per_adapter(
        "POST",
        "/auth/reset-password/confirm",
        lambda i: {"json_body": {"token": mailed[i], "new_password": NEW_PASSWORD}},
    )
    assert [r.status for r in results] == [204] * 3
    for index, person in enumerate(people):
        problem(ident.same("GET", "/me", old_tokens[index]), 401, "auth.session_invalid")
        signed_in = ident.one(
            index, "POST", "/auth/login", json_body=login_body(person.email, NEW_PASSWORD)
        )
        assert signed_in.status == 200
    reused = ident.same(
        "POST",
        "/auth/reset-password/confirm",
        json_body={"token": mailed[0], "new_password": NEW_PASSWORD},
    )
    problem(reused, 422, "auth.invalid_token")
    resets = [a for a in ident.new_audit() if a.action == "auth.password_reset"]
    assert resets == [AuditRow("auth.password_reset", p.id, "user", p.public_id) for p in people]


def test_list_my_sessions(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    tokens = [ident.token(ada) for _ in range(3)]
    ident.token(ident.person("eve@example.com"))  # someone else's session is never listed
    ident.world.clock.advance(seconds=1)
    revoked = ident.token(ada)
    assert ident.one(0, "POST", "/auth/logout", revoked).status == 204
    ident.new_audit()

    problem(ident.same("GET", "/auth/sessions"), 401, "auth.unauthenticated")
    first = ident.same("GET", "/auth/sessions", tokens[1], query={"limit": 2})
    assert first.status == 200
    page = first.json()
    assert page["next_cursor"] is not None
    second = ident.same(
        "GET", "/auth/sessions", tokens[1], query={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert second.json()["next_cursor"] is None
    items = page["items"] + second.json()["items"]
    expected = sorted(ident.session_row(t).public_id for t in tokens)
    assert sorted(uuid.UUID(item["id"]) for item in items) == expected
    current = [item["id"] for item in items if item["current"]]
    assert current == [str(ident.session_row(tokens[1]).public_id)]
    assert set(items[0]) == {
        "id",
        "current",
        "created_at",
        "authenticated_at",
        "last_seen_at",
        "expires_at",
        "ip",
        "user_agent",
    }
    too_many = ident.same("GET", "/auth/sessions", tokens[1], query={"limit": 101})
    assert error_locations(too_many) == [["query", "limit"]]
    assert ident.new_audit() == []  # reads are not audited


def test_revoke_my_sessions(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    mine = ident.token(ada)
    extra = [ident.token(ada) for _ in ADAPTERS]
    eves = ident.token(ident.person("eve@example.com"))
    eves_session = ident.session_row(eves).public_id

    problem(ident.same("DELETE", f"/auth/sessions/{eves_session}"), 401, "auth.unauthenticated")
    for other in (eves_session, uuid.uuid4()):  # another user's session does not exist for ada
        problem(ident.same("DELETE", f"/auth/sessions/{other}", mine), 404, "not_found")
    problem(ident.same("DELETE", "/auth/sessions/not-a-uuid", mine), 404, "not_found")
    assert ident.same("GET", "/me", eves).status == 200

    targets = [ident.session_row(t).public_id for t in extra]
    results = [ident.one(i, "DELETE", f"/auth/sessions/{t}", mine) for i, t in enumerate(targets)]
    assert [r.status for r in results] == [204] * 3
    for token in extra:
        problem(ident.same("GET", "/me", token), 401, "auth.session_invalid")
    assert ident.same("GET", "/me", mine).status == 200
    assert ident.new_audit() == [AuditRow("session.revoke", ada.id, "session", t) for t in targets]

    owners = ident.people("otto")
    kept = [ident.token(person) for person in owners]
    others = [[ident.token(person) for _ in range(2)] for person in owners]
    results = ident.per_adapter(
        "POST", "/auth/sessions/revoke-others", lambda i: {"token": kept[i]}
    )
    for index, result in enumerate(results):
        assert result.status == 200, result.body
        revoked_ids = sorted(ident.session_row(t).public_id for t in others[index])
        assert result.json() == {"revoked": [str(r) for r in revoked_ids]}
        for token in others[index]:
            problem(ident.same("GET", "/me", token), 401, "auth.session_invalid")
        assert ident.same("GET", "/me", kept[index]).status == 200
    assert [(a.action, a.actor_user_id) for a in ident.new_audit()] == [
        ("session.revoke", person.id) for person in owners
    ]


def test_api_keys_cannot_use_the_personal_routes(ident: Identity) -> None:
    ada = ident.person("ada@example.com")
    actor = ident.actor(ada)
    with ident.world.unit() as session:
        ctx = ident.world.context(session, actor)
        key = ident.core.identity.api_keys.create(session, ctx, name="ci", permissions=[]).key
    for method, path in (("GET", "/auth/sessions"), ("POST", "/auth/logout"), ("GET", "/me")):
        problem(ident.same(method, path, key), 403, "iam.forbidden")
