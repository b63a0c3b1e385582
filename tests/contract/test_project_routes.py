"""``/projects`` through FastAPI, Flask and Django, on SQLite and PostgreSQL (RLS in force).

acme's owner ada writes, its viewer vic reads, its billing manager bill may do neither, and
globex's owner eve is the other tenant: acme's projects do not exist for her.
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


def create(served: Served, name: str, as_: str = "ada") -> dict[str, object]:
    """Create a project once (the Idempotency-Key makes Flask and Django replay it)."""
    result = served.same(
        "POST",
        "/projects",
        as_,
        headers={"Idempotency-Key": f"create-{name}"},
        json_body={"name": name, "description": f"about {name}"},
    )
    assert result.status == 201, result.body
    body: dict[str, object] = result.json()
    return body


def test_create_a_project(served: Served) -> None:
    body = {"name": "Apollo", "metadata": {"color": "blue"}}
    assert served.same("POST", "/projects", json_body=body).status == 401
    problem(served.same("POST", "/projects", "vic", json_body=body), 403, "iam.forbidden")
    problem(served.same("POST", "/projects", "bill", json_body=body), 403, "iam.forbidden")
    served.add("lonely")  # signed in, but in no tenant
    problem(served.same("POST", "/projects", "lonely", json_body=body), 409, "tenant.required")
    invalid = served.same("POST", "/projects", "ada", json_body={"name": "", "owner": "x"})
    assert error_locations(invalid) == [["body", "name"], ["body", "owner"]]
    assert served.new_audit() == []

    result = served.same(
        "POST", "/projects", "ada", headers={"Idempotency-Key": "apollo"}, json_body=body
    )
    assert result.status == 201
    created = result.json()
    assert created["name"] == "Apollo"
    assert created["metadata"] == {"color": "blue"}
    assert created["status"] == "active"
    assert created["description"] is None
    assert set(created) == {
        "id",
        "name",
        "description",
        "status",
        "metadata",
        "created_at",
        "updated_at",
    }
    project_id = uuid.UUID(created["id"])
    ada = served.actors["ada"].user_id
    # Flask and Django replayed the first answer: one project, one audit record.
    assert served.new_audit() == [
        AuditRow("project.create", "project", project_id, served.acme_id, ada)
    ]
    listed = served.same("GET", "/projects", "ada").json()
    assert [item["id"] for item in listed["items"]] == [str(project_id)]


def test_list_projects_pages_and_filters(served: Served) -> None:
    ids = [create(served, name)["id"] for name in ("one", "two", "three")]
    create(served, "elsewhere", as_="eve")
    served.tick()
    served.same("PATCH", f"/projects/{ids[1]}", "ada", json_body={"status": "archived"})
    served.new_audit()

    first = served.same("GET", "/projects", "vic", query={"limit": 2})
    assert first.status == 200
    page = first.json()
    assert [item["id"] for item in page["items"]] == ids[:2]
    assert page["next_cursor"]
    second = served.same(
        "GET", "/projects", "vic", query={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert [item["id"] for item in second.json()["items"]] == ids[2:]
    assert second.json()["next_cursor"] is None

    archived = served.same("GET", "/projects", "vic", query={"status": "archived"}).json()
    assert [item["id"] for item in archived["items"]] == [ids[1]]
    theirs = served.same("GET", "/projects", "eve").json()
    assert [item["name"] for item in theirs["items"]] == ["elsewhere"]

    assert served.same("GET", "/projects").status == 401
    problem(served.same("GET", "/projects", "bill"), 403, "iam.forbidden")
    bad = served.same("GET", "/projects", "vic", query={"limit": 0, "status": "gone"})
    assert error_locations(bad) == [["query", "limit"], ["query", "status"]]
    assert error_locations(served.same("GET", "/projects", "vic", query={"cursor": "bm9wZQ"})) == [
        ["query", "cursor"]
    ]
    assert served.new_audit() == []  # reads are not audited


def test_read_a_project(served: Served) -> None:
    project = create(served, "apollo")
    other = create(served, "hidden", as_="eve")
    served.new_audit()

    result = served.same("GET", f"/projects/{project['id']}", "vic")
    assert result.status == 200
    assert result.json() == project
    assert served.same("GET", f"/projects/{project['id']}").status == 401
    problem(served.same("GET", f"/projects/{project['id']}", "bill"), 403, "iam.forbidden")
    # Another tenant's project, an unknown id and a malformed one are all "not found".
    problem(served.same("GET", f"/projects/{other['id']}", "ada"), 404, "project.not_found")
    problem(served.same("GET", f"/projects/{project['id']}", "eve"), 404, "project.not_found")
    problem(served.same("GET", f"/projects/{uuid.uuid4()}", "ada"), 404, "project.not_found")
    problem(served.same("GET", "/projects/not-an-id", "ada"), 404, "not_found")
    assert served.new_audit() == []


def test_update_a_project(served: Served) -> None:
    project = create(served, "apollo")
    path = f"/projects/{project['id']}"
    served.new_audit()
    served.tick()

    change = {"name": "Apollo 11", "description": None, "status": "archived"}
    assert served.same("PATCH", path, json_body=change).status == 401
    problem(served.same("PATCH", path, "vic", json_body=change), 403, "iam.forbidden")
    problem(served.same("PATCH", path, "eve", json_body=change), 404, "project.not_found")
    invalid = served.same("PATCH", path, "ada", json_body={"name": "", "status": "lost"})
    assert error_locations(invalid) == [["body", "name"], ["body", "status"]]
    assert served.new_audit() == []

    result = served.same("PATCH", path, "ada", json_body=change)
    assert result.status == 200
    updated = result.json()
    assert (updated["name"], updated["description"], updated["status"]) == (
        "Apollo 11",
        None,
        "archived",
    )
    # One record per request: each adapter sent its own (identical) PATCH.
    assert [row.action for row in served.new_audit()] == ["project.update"] * 3
    served.tick()
    untouched = served.same("PATCH", path, "ada", json_body={"metadata": {"k": 1}}).json()
    assert (untouched["name"], untouched["metadata"]) == ("Apollo 11", {"k": 1})
    rows = served.new_audit()
    assert {(r.action, r.target_type, r.target_id) for r in rows} == {
        ("project.update", "project", uuid.UUID(str(project["id"])))
    }


def test_delete_a_project(served: Served) -> None:
    project = create(served, "apollo")
    keep = create(served, "gemini")
    path = f"/projects/{project['id']}"
    served.new_audit()

    assert served.same("DELETE", path).status == 401
    problem(served.same("DELETE", path, "vic"), 403, "iam.forbidden")
    problem(served.same("DELETE", path, "eve"), 404, "project.not_found")
    assert served.new_audit() == []

    # The first adapter deletes it; for the next two it is gone.
    assert served.statuses("DELETE", path, "ada") == [204, 404, 404]
    assert served.new_audit() == [
        AuditRow(
            "project.delete",
            "project",
            uuid.UUID(str(project["id"])),
            served.acme_id,
            served.actors["ada"].user_id,
        )
    ]
    problem(served.same("GET", path, "ada"), 404, "project.not_found")
    listed = served.same("GET", "/projects", "ada").json()
    assert [item["id"] for item in listed["items"]] == [keep["id"]]
