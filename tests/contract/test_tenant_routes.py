"""``/tenants``, members, invitations and ``/invitations/accept`` through FastAPI, Flask and
Django, on SQLite and PostgreSQL (Row Level Security in force).

acme: owner ada, viewer vic, member mo, billing manager bill (all active in acme). globex: owner
eve. ``{tenantId}`` must be the caller's active tenant: globex's id is a 404 for acme's people.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.contract.tenancy_world import (
    AuditRow,
    Served,
    error_locations,
    problem,
    serve_world,
)
from tests.support.databases import TestDatabase


@pytest.fixture
def served(db: TestDatabase) -> Iterator[Served]:
    yield from serve_world(db)


def invite(served: Served, email: str, role: str = "member", as_: str = "ada") -> dict[str, str]:
    """Invite ``email`` into the caller's active tenant once (Flask and Django replay it)."""
    tenant = served.globex if as_ == "eve" else served.acme
    result = served.same(
        "POST",
        f"/tenants/{tenant}/members",
        as_,
        headers={"Idempotency-Key": f"invite-{email}"},
        json_body={"email": email, "role": role},
    )
    assert result.status == 201, result.body
    body: dict[str, str] = result.json()
    return body


def test_create_and_list_tenants(served: Served) -> None:
    body = {"name": "Initech", "slug": "initech"}
    assert served.same("POST", "/tenants", json_body=body).status == 401
    invalid = served.same("POST", "/tenants", "ada", json_body={"name": "", "slug": "Not A Slug"})
    assert error_locations(invalid) == [["body", "name"], ["body", "slug"]]
    taken = {"name": "Other Acme", "slug": "acme"}
    problem(served.same("POST", "/tenants", "ada", json_body=taken), 409, "tenant.slug_taken")
    assert served.new_audit() == []

    created = served.same(
        "POST", "/tenants", "ada", headers={"Idempotency-Key": "initech"}, json_body=body
    )
    assert created.status == 201
    tenant = created.json()
    assert (tenant["name"], tenant["slug"], tenant["status"]) == ("Initech", "initech", "active")
    ada = served.actors["ada"].user_id
    # One tenant, one record (Flask and Django replayed). Creating a tenant is a personal
    # action: the record belongs to no tenant, so acme's admins never see it.
    assert served.new_audit() == [
        AuditRow("tenant.create", "tenant", uuid.UUID(tenant["id"]), None, ada)
    ]
    # Anyone signed in may create one, even without a tenant of their own.
    served.add("newcomer")
    newcomer = {"name": "New", "slug": "new-co"}
    assert served.statuses("POST", "/tenants", "newcomer", json_body=newcomer) == [201, 409, 409]
    assert [r.tenant_id for r in served.new_audit()] == [None]

    page = served.same("GET", "/tenants", "ada", query={"limit": 1})
    assert page.status == 200
    items = page.json()["items"]
    assert [(t["slug"], t["role"], t["member_type"], t["active"]) for t in items] == [
        ("acme", "owner", "member", True)
    ]
    cursor = page.json()["next_cursor"]
    assert cursor
    rest = served.same("GET", "/tenants", "ada", query={"limit": 1, "cursor": cursor}).json()
    assert [(t["slug"], t["role"], t["active"]) for t in rest["items"]] == [
        ("initech", "owner", False)
    ]
    assert rest["next_cursor"] is None
    viewer = served.same("GET", "/tenants", "vic").json()["items"]
    assert [(t["slug"], t["role"]) for t in viewer] == [("acme", "viewer")]

    assert served.same("GET", "/tenants").status == 401
    bad = served.same("GET", "/tenants", "ada", query={"limit": 101, "cursor": "%%"})
    assert error_locations(bad) == [["query", "limit"], ["query", "cursor"]]
    assert served.new_audit() == []


def test_read_and_update_the_active_tenant(served: Served) -> None:
    acme, globex = f"/tenants/{served.acme}", f"/tenants/{served.globex}"
    read = served.same("GET", acme, "vic")
    assert read.status == 200
    assert (read.json()["id"], read.json()["slug"]) == (str(served.acme), "acme")
    assert served.same("GET", acme).status == 401
    # Another tenant, an unknown id, a malformed id: all "not found", never "forbidden".
    problem(served.same("GET", globex, "ada"), 404, "tenant.not_found")
    problem(served.same("GET", acme, "eve"), 404, "tenant.not_found")
    problem(served.same("GET", f"/tenants/{uuid.uuid4()}", "ada"), 404, "tenant.not_found")
    problem(served.same("GET", "/tenants/acme", "ada"), 404, "not_found")

    served.tick()
    change = {"name": "Acme Corp", "metadata": {"plan": "pro"}}
    assert served.same("PATCH", acme, json_body=change).status == 401
    problem(served.same("PATCH", acme, "vic", json_body=change), 403, "iam.forbidden")
    problem(served.same("PATCH", acme, "mo", json_body=change), 403, "iam.forbidden")
    problem(served.same("PATCH", globex, "ada", json_body=change), 404, "tenant.not_found")
    invalid = served.same("PATCH", acme, "ada", json_body={"slug": "-x-", "id": "1"})
    assert error_locations(invalid) == [["body", "slug"], ["body", "id"]]
    slug = served.same("PATCH", acme, "ada", json_body={"slug": "globex"})
    problem(slug, 409, "tenant.slug_taken")
    assert served.new_audit() == []

    updated = served.same("PATCH", acme, "ada", json_body=change)
    assert updated.status == 200
    assert (updated.json()["name"], updated.json()["metadata"]) == ("Acme Corp", {"plan": "pro"})
    rows = served.new_audit()
    assert len(rows) == 3  # one per adapter's request
    assert {(r.action, r.target_type, r.target_id, r.tenant_id) for r in rows} == {
        ("tenant.update", "tenant", served.acme, served.acme_id)
    }
    assert served.same("GET", acme, "vic").json()["name"] == "Acme Corp"
    assert served.new_audit() == []


def test_archive_the_active_tenant(served: Served) -> None:
    acme = f"/tenants/{served.acme}"
    assert served.same("DELETE", acme).status == 401
    problem(served.same("DELETE", acme, "mo"), 403, "iam.forbidden")
    # Admins run the tenant but cannot delete it.
    served.tick()
    vic = f"/tenants/{served.acme}/members/{served.user_id('vic')}"
    assert served.same("PATCH", vic, "ada", json_body={"role": "admin"}).status == 200
    problem(served.same("DELETE", acme, "vic"), 403, "iam.forbidden")
    problem(served.same("DELETE", f"/tenants/{served.globex}", "ada"), 404, "tenant.not_found")
    served.new_audit()

    # The first adapter archives it; from then on acme is nobody's active tenant.
    assert served.statuses("DELETE", acme, "ada") == [204, 409, 409]
    assert served.new_audit() == [
        AuditRow(
            "tenant.archive", "tenant", served.acme, served.acme_id, served.actors["ada"].user_id
        )
    ]
    assert served.same("GET", "/tenants", "ada").json()["items"] == []
    problem(served.same("GET", "/projects", "vic"), 409, "tenant.required")
    # globex is untouched.
    assert served.same("GET", f"/tenants/{served.globex}", "eve").json()["status"] == "active"


def test_platform_operators_suspend_and_reactivate(served: Served) -> None:
    served.add("ops")
    served.grant_platform_role("ops", "platform_admin")
    suspend = f"/tenants/{served.acme}/suspend"
    assert served.same("POST", suspend).status == 401
    problem(served.same("POST", suspend, "ada"), 403, "iam.forbidden")
    problem(served.same("POST", f"/tenants/{uuid.uuid4()}/suspend", "ops"), 404, "tenant.not_found")
    assert served.new_audit() == []

    result = served.same("POST", suspend, "ops")
    assert (result.status, result.json()["status"]) == (200, "suspended")
    rows = served.new_audit()
    # A platform action: no tenant of the operator's on the record.
    assert {(r.action, r.target_id, r.tenant_id) for r in rows} == {
        ("tenant.suspend", served.acme, None)
    }
    problem(served.same("GET", "/projects", "ada"), 409, "tenant.required")
    problem(served.same("GET", f"/tenants/{served.acme}", "ada"), 404, "tenant.not_found")
    assert served.same("GET", f"/tenants/{served.acme}", "ops").json()["status"] == "suspended"

    back = served.same("POST", f"/tenants/{served.acme}/reactivate", "ops")
    assert (back.status, back.json()["status"]) == (200, "active")
    assert {r.action for r in served.new_audit()} == {"tenant.reactivate"}
    assert served.same("GET", "/projects", "ada").status == 200


def test_list_members_in_pages(served: Served) -> None:
    members = f"/tenants/{served.acme}/members"
    first = served.same("GET", members, "vic", query={"limit": 3})
    assert first.status == 200
    page = first.json()
    assert [m["email"] for m in page["items"]] == [
        "ada@example.com",
        "vic@example.com",
        "mo@example.com",
    ]
    assert [m["role"] for m in page["items"]] == ["owner", "viewer", "member"]
    assert page["items"][0]["user_id"] == str(served.user_id("ada"))
    rest = served.same("GET", members, "vic", query={"limit": 3, "cursor": page["next_cursor"]})
    assert [m["email"] for m in rest.json()["items"]] == ["bill@example.com"]
    assert rest.json()["next_cursor"] is None

    assert served.same("GET", members).status == 401
    problem(served.same("GET", members, "bill"), 403, "iam.forbidden")
    problem(served.same("GET", members, "eve"), 404, "tenant.not_found")
    theirs = served.same("GET", f"/tenants/{served.globex}/members", "eve").json()["items"]
    assert [m["email"] for m in theirs] == ["eve@example.com"]
    assert error_locations(served.same("GET", members, "ada", query={"limit": "x"})) == [
        ["query", "limit"]
    ]
    assert served.new_audit() == []


def test_invite_a_member(served: Served) -> None:
    members = f"/tenants/{served.acme}/members"
    body = {"email": "Zed@Example.com", "role": "member"}
    assert served.same("POST", members, json_body=body).status == 401
    problem(served.same("POST", members, "vic", json_body=body), 403, "iam.forbidden")
    problem(served.same("POST", members, "mo", json_body=body), 403, "iam.forbidden")
    problem(
        served.same("POST", f"/tenants/{served.globex}/members", "ada", json_body=body),
        404,
        "tenant.not_found",
    )
    invalid = served.same("POST", members, "ada", json_body={"email": "z", "role": "Owner!"})
    assert error_locations(invalid) == [["body", "email"], ["body", "role"]]
    ghost = {"email": "zed@example.com", "role": "ghost"}
    problem(served.same("POST", members, "ada", json_body=ghost), 404, "iam.role_not_found")
    existing = {"email": "mo@example.com"}
    problem(served.same("POST", members, "ada", json_body=existing), 409, "member.already_member")
    assert served.new_audit() == []
    assert served.world.outbox.messages == []

    invitation = invite(served, "Zed@Example.com")
    assert set(invitation) == {
        "id",
        "email",
        "role",
        "member_type",
        "status",
        "expires_at",
        "created_at",
    }
    assert (invitation["email"], invitation["role"], invitation["status"]) == (
        "zed@example.com",
        "member",
        "pending",
    )
    # One invitation, one email (the replays sent none), one record naming the invitation.
    assert [m.to for m in served.world.outbox.messages] == ["zed@example.com"]
    token = served.world.outbox.last().token
    assert token is not None
    assert token not in str(invitation)
    assert served.new_audit() == [
        AuditRow(
            "member.invite",
            "invitation",
            uuid.UUID(invitation["id"]),
            served.acme_id,
            served.actors["ada"].user_id,
        )
    ]


def test_change_a_members_role(served: Served) -> None:
    mo = served.user_id("mo")
    path = f"/tenants/{served.acme}/members/{mo}"
    served.tick()
    assert served.same("PATCH", path, json_body={"role": "viewer"}).status == 401
    problem(served.same("PATCH", path, "vic", json_body={"role": "viewer"}), 403, "iam.forbidden")
    problem(
        served.same("PATCH", f"/tenants/{served.globex}/members/{mo}", "ada", json_body={}),
        404,
        "tenant.not_found",
    )
    eve = served.user_id("eve")  # a member of globex only
    problem(
        served.same("PATCH", f"/tenants/{served.acme}/members/{eve}", "ada", json_body={}),
        404,
        "member.not_found",
    )
    invalid = served.same("PATCH", path, "ada", json_body={"role": "A", "member_type": "alien"})
    assert error_locations(invalid) == [["body", "role"], ["body", "member_type"]]
    ada = f"/tenants/{served.acme}/members/{served.user_id('ada')}"
    problem(served.same("PATCH", ada, "ada", json_body={"role": "admin"}), 409, "member.last_owner")
    assert served.new_audit() == []

    result = served.same("PATCH", path, "ada", json_body={"role": "viewer", "member_type": "guest"})
    assert result.status == 200
    member = result.json()
    assert (member["user_id"], member["role"], member["member_type"]) == (
        str(mo),
        "viewer",
        "guest",
    )
    rows = served.new_audit()
    assert {(r.action, r.target_type, r.target_id) for r in rows} == {("member.update", "user", mo)}
    assert len(rows) == 3
    # mo is a viewer now: the change applies from the next request on.
    problem(served.same("POST", "/projects", "mo", json_body={"name": "p"}), 403, "iam.forbidden")


def test_remove_a_member_or_leave(served: Served) -> None:
    members = f"/tenants/{served.acme}/members"
    mo, vic, ada = (served.user_id(n) for n in ("mo", "vic", "ada"))
    assert served.same("DELETE", f"{members}/{mo}").status == 401
    problem(served.same("DELETE", f"{members}/{mo}", "vic"), 403, "iam.forbidden")
    problem(
        served.same("DELETE", f"/tenants/{served.globex}/members/{mo}", "ada"),
        404,
        "tenant.not_found",
    )
    problem(served.same("DELETE", f"{members}/{ada}", "ada"), 409, "member.last_owner")
    assert served.new_audit() == []

    # ada removes mo; vic leaves by removing herself (no members:manage needed for that).
    assert served.statuses("DELETE", f"{members}/{mo}", "ada") == [204, 404, 404]
    assert served.statuses("DELETE", f"{members}/{vic}", "vic") == [204, 409, 409]
    rows = served.new_audit()
    assert [(r.action, r.target_id, r.actor_user_id) for r in rows] == [
        ("member.remove", mo, served.actors["ada"].user_id),
        ("member.remove", vic, served.actors["vic"].user_id),
    ]
    left = served.same("GET", members, "ada").json()["items"]
    assert [m["email"] for m in left] == ["ada@example.com", "bill@example.com"]
    problem(served.same("GET", "/projects", "mo"), 409, "tenant.required")


def test_list_and_revoke_invitations(served: Served) -> None:
    invitations = f"/tenants/{served.acme}/invitations"
    sent = [invite(served, f"guest{i}@example.com")["id"] for i in range(3)]
    foreign = invite(served, "spy@example.com", as_="eve")["id"]
    served.new_audit()

    first = served.same("GET", invitations, "ada", query={"limit": 2})
    assert first.status == 200
    assert [i["id"] for i in first.json()["items"]] == sent[:2]
    cursor = first.json()["next_cursor"]
    rest = served.same("GET", invitations, "ada", query={"limit": 2, "cursor": cursor}).json()
    assert [i["id"] for i in rest["items"]] == sent[2:]
    assert rest["next_cursor"] is None
    assert served.same("GET", invitations).status == 401
    problem(served.same("GET", invitations, "mo"), 403, "iam.forbidden")
    problem(served.same("GET", invitations, "eve"), 404, "tenant.not_found")
    assert error_locations(served.same("GET", invitations, "ada", query={"limit": -1})) == [
        ["query", "limit"]
    ]
    assert served.new_audit() == []

    revoke = f"{invitations}/{sent[0]}"
    assert served.same("DELETE", revoke).status == 401
    problem(served.same("DELETE", revoke, "mo"), 403, "iam.forbidden")
    problem(served.same("DELETE", f"{invitations}/{foreign}", "ada"), 404, "invitation.not_found")
    problem(
        served.same("DELETE", f"/tenants/{served.globex}/invitations/{foreign}", "ada"),
        404,
        "tenant.not_found",
    )
    assert served.new_audit() == []
    # Revoking is idempotent: every adapter answers 204, each request is recorded.
    assert served.same("DELETE", revoke, "ada").status == 204
    rows = served.new_audit()
    assert {(r.action, r.target_type, r.target_id) for r in rows} == {
        ("invitation.revoke", "invitation", uuid.UUID(sent[0]))
    }
    assert len(rows) == 3
    listed = served.same("GET", invitations, "ada").json()["items"]
    assert [i["id"] for i in listed] == sent[1:]

    # The revoked token no longer opens the door.
    served.add("guest0")
    token = next(m.token for m in served.world.outbox.messages if m.to == "guest0@example.com")
    result = served.same("POST", "/invitations/accept", "guest0", json_body={"token": token})
    problem(result, 422, "auth.invalid_token")


def test_invitation_flow_end_to_end(served: Served) -> None:
    apollo = served.same(
        "POST", "/projects", "ada", headers={"Idempotency-Key": "p"}, json_body={"name": "Apollo"}
    ).json()
    invite(served, "zed@example.com")
    token = served.world.outbox.last(to="zed@example.com", kind="tenant_invitation").token
    assert token is not None
    served.add("zed")
    served.new_audit()

    accept = "/invitations/accept"
    problem(served.same("GET", "/projects", "zed"), 409, "tenant.required")
    assert served.same("POST", accept, json_body={"token": token}).status == 401
    assert error_locations(served.same("POST", accept, "zed", json_body={"token": "short"})) == [
        ["body", "token"]
    ]
    bogus = {"token": "x" * 43}
    problem(served.same("POST", accept, "zed", json_body=bogus), 422, "auth.invalid_token")
    # A forwarded token does not let someone else in.
    mismatch = served.same("POST", accept, "eve", json_body={"token": token})
    problem(mismatch, 403, "invitation.email_mismatch")
    assert served.new_audit() == []

    joined = served.same(
        "POST", accept, "zed", headers={"Idempotency-Key": "accept"}, json_body={"token": token}
    )
    assert joined.status == 200
    tenant = joined.json()
    assert (tenant["id"], tenant["role"], tenant["member_type"], tenant["active"]) == (
        str(served.acme),
        "member",
        "member",
        False,
    )
    assert served.new_audit() == [
        AuditRow("invitation.accept", "tenant", served.acme, None, served.actors["zed"].user_id)
    ]
    again = served.same("POST", accept, "zed", json_body={"token": token})
    problem(again, 422, "auth.invalid_token")  # single use

    # A member now, but acme is not zed's active tenant until zed switches to it.
    problem(served.same("GET", f"/tenants/{served.acme}/members", "zed"), 409, "tenant.required")
    switch(served, "zed", served.acme)
    listed = served.same("GET", "/projects", "zed")
    assert [p["id"] for p in listed.json()["items"]] == [apollo["id"]]
    mine = served.same("GET", "/tenants", "zed").json()["items"]
    assert [(t["slug"], t["role"], t["active"]) for t in mine] == [("acme", "member", True)]
    emails = [
        m["email"]
        for m in served.same("GET", f"/tenants/{served.acme}/members", "zed").json()["items"]
    ]
    assert emails[-1] == "zed@example.com"
    assert served.new_audit() == []


def switch(served: Served, name: str, tenant: uuid.UUID) -> None:
    """Make ``tenant`` the active tenant of ``name``'s session (``PUT /me/active-tenant``)."""
    body = {"tenant_id": str(tenant)}
    result = served.same("PUT", "/me/active-tenant", name, json_body=body)
    assert (result.status, result.json()["id"]) == (200, str(tenant)), result.body
    assert {row.action for row in served.new_audit()} == {"me.active_tenant_switch"}


def test_tenant_ids_in_paths_are_the_active_tenant_only(served: Served) -> None:
    # eve joins acme too, but stays active in globex: acme's routes are a 404 for her until
    # she switches, then globex's are.
    invite(served, "eve@example.com", role="viewer")
    token = served.world.outbox.last(to="eve@example.com").token
    accepted = served.statuses("POST", "/invitations/accept", "eve", json_body={"token": token})
    assert accepted == [200, 422, 422]  # single use: the second and third are spent tokens
    assert [row.action for row in served.new_audit()] == ["member.invite", "invitation.accept"]
    for path in ("", "/members"):
        problem(served.same("GET", f"/tenants/{served.acme}{path}", "eve"), 404, "tenant.not_found")
        assert served.same("GET", f"/tenants/{served.globex}{path}", "eve").status == 200
    switch(served, "eve", served.acme)
    for path in ("", "/members"):
        assert served.same("GET", f"/tenants/{served.acme}{path}", "eve").status == 200
        problem(
            served.same("GET", f"/tenants/{served.globex}{path}", "eve"), 404, "tenant.not_found"
        )
    # Only her role in the active tenant counts: a viewer in acme, though globex's owner. The
    # permission is checked first, so any id gets the same 403 (it says nothing about the id).
    change = {"name": "Hijacked"}
    for tenant in (served.acme, served.globex, uuid.uuid4()):
        problem(
            served.same("PATCH", f"/tenants/{tenant}", "eve", json_body=change),
            403,
            "iam.forbidden",
        )
    # Back in globex, where she is the owner, she can change globex and not acme.
    served.tick()
    switch(served, "eve", served.globex)
    renamed = served.same("PATCH", f"/tenants/{served.globex}", "eve", json_body=change)
    assert (renamed.status, renamed.json()["name"]) == (200, "Hijacked")
    problem(
        served.same("PATCH", f"/tenants/{served.acme}", "eve", json_body=change),
        404,
        "tenant.not_found",
    )
