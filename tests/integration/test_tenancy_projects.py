"""Projects service: tenant-scoped CRUD, soft delete and cursor pagination (both databases)."""

from __future__ import annotations

import uuid

import pytest

from saas_core.context import RequestContext
from saas_core.errors import ProjectNotFound, TenantRequired, ValidationFailed
from saas_core.projects.models import ProjectStatus
from saas_core.projects.schemas import ProjectCreate, ProjectQuery, ProjectUpdate
from tests.support.databases import TestDatabase
from tests.support.tenancy import World, make_world


@pytest.fixture
def world(db: TestDatabase) -> World:
    return make_world(db)


def test_crud_and_soft_delete(world: World) -> None:
    ada = world.user("ada@example.com")
    world.tenant(ada, "acme")
    with world.unit() as session:
        ctx = world.context(session, ada)
        made = world.projects.create_project(
            session, ctx, ProjectCreate(name=" Apollo ", description="moon", metadata={"k": 1})
        )
        assert (made.name, made.description, made.metadata) == ("Apollo", "moon", {"k": 1})
        assert world.projects.get_project(session, ctx, made.id) == made
    world.clock.advance(seconds=5)
    with world.unit() as session:
        ctx = world.context(session, ada)
        changed = world.projects.update_project(
            session,
            ctx,
            made.id,
            ProjectUpdate(name="Artemis", description=None, status=ProjectStatus.ARCHIVED),
        )
        assert (changed.name, changed.description, changed.status) == (
            "Artemis",
            None,
            ProjectStatus.ARCHIVED,
        )
        assert changed.updated_at > made.updated_at
        world.projects.delete_project(session, ctx, made.id)
    with world.unit() as session:
        ctx = world.context(session, ada)
        with pytest.raises(ProjectNotFound):
            world.projects.get_project(session, ctx, made.id)
        with pytest.raises(ProjectNotFound):
            world.projects.delete_project(session, ctx, made.id)
        assert world.projects.list_projects(session, ctx).items == []
        with pytest.raises(ProjectNotFound):
            world.projects.get_project(session, ctx, uuid.uuid4())


def test_a_tenant_is_required(world: World) -> None:
    ada = world.user("ada@example.com")
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert ctx.tenant is None
        with pytest.raises(TenantRequired):
            world.projects.list_projects(session, ctx)
        with pytest.raises(TenantRequired):
            world.projects.create_project(session, RequestContext(), ProjectCreate(name="x"))


def test_list_pages_with_a_cursor(world: World) -> None:
    ada = world.user("ada@example.com")
    world.tenant(ada, "acme")
    with world.unit() as session:
        ctx = world.context(session, ada)
        for n in range(7):
            world.projects.create_project(session, ctx, ProjectCreate(name=f"p{n}"))
            if n % 2:
                world.clock.advance(seconds=1)  # some share a created_at: the id breaks ties
    seen: list[str] = []
    cursor: str | None = None
    with world.unit() as session:
        ctx = world.context(session, ada)
        while True:
            page = world.projects.list_projects(session, ctx, ProjectQuery(limit=3, cursor=cursor))
            seen.extend(p.name for p in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sorted(seen) == [f"p{n}" for n in range(7)]
        assert len(seen) == 7
        archived = world.projects.list_projects(
            session, ctx, ProjectQuery(status=ProjectStatus.ARCHIVED)
        )
        assert archived.items == []
        with pytest.raises(ValidationFailed):
            world.projects.list_projects(session, ctx, ProjectQuery(cursor="bm90LWEtY3Vyc29y"))
