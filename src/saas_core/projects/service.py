"""The projects service: tenant-scoped CRUD, the example domain every later feature builds on.

Every method acts in ``ctx.tenant`` (:class:`~saas_core.errors.TenantRequired` without one) and
binds the session to it. A project of another tenant, or a deleted one, is
:class:`~saas_core.errors.ProjectNotFound` (404, never 403). Permissions (``projects:read``,
``projects:write``) are checked by the routes that call these methods. ``delete`` is a soft
delete: the row stays with ``deleted_at`` set and disappears from reads and lists.

Lists page by ``(created_at, public_id)`` with the cursor of :mod:`saas_core.api.pagination`.
A list is one statement, built and compiled once per filter combination and run on the DBAPI
cursor (:class:`~saas_core.db.direct.DirectStatement`), that selects only the columns the API
shows and filters by tenant explicitly (the automatic ORM filter applies to ORM statements only;
on PostgreSQL Row Level Security applies as to any statement): loading ORM entities just to copy
them into response models would cost more than the query itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from saas_core.api.pagination import Page, encode_cursor
from saas_core.clock import Clock
from saas_core.context import RequestContext, TenantRef
from saas_core.db.direct import DirectStatement
from saas_core.db.tenant import bind_context
from saas_core.errors import ProjectNotFound, TenantRequired
from saas_core.projects.models import Project
from saas_core.projects.schemas import ProjectCreate, ProjectOut, ProjectQuery, ProjectUpdate

_projects = Project.__table__
_Page = Page[ProjectOut]


def _list_statement(*, status: bool, after: bool) -> Select[Any]:
    """A page of live projects of ``:tenant_id``, oldest first, ``:limit`` rows.

    The columns are :class:`ProjectOut`'s fields, in :data:`_FIELDS` order.
    """
    c = _projects.c
    statement = select(
        c.public_id.label("id"),
        c.name,
        c.description,
        c.status,
        c.metadata,
        c.created_at,
        c.updated_at,
    ).where(c.tenant_id == bindparam("tenant_id"), c.deleted_at.is_(None))
    if status:
        statement = statement.where(c.status == bindparam("status"))
    if after:
        at = bindparam("after_at", type_=c.created_at.type)
        statement = statement.where(
            or_(c.created_at > at, and_(c.created_at == at, c.public_id > bindparam("after_id")))
        )
    return statement.order_by(c.created_at, c.public_id).limit(bindparam("limit"))


_FIELDS = ("id", "name", "description", "status", "metadata", "created_at", "updated_at")

#: By (status filter, cursor): built and compiled once. ``status`` comes back as the database's
#: text, which the response model validates into the enum anyway.
_LIST = {
    (status, after): DirectStatement(
        _list_statement(status=status, after=after), untyped={"status"}
    )
    for status in (False, True)
    for after in (False, True)
}


class ProjectsService:
    """Projects of the active tenant (stateless between calls)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def create_project(
        self, session: Session, ctx: RequestContext, data: ProjectCreate
    ) -> ProjectOut:
        """Create a project in the active tenant."""
        tenant = _tenant(session, ctx)
        now = self.clock.now()
        project = Project(
            tenant_id=tenant.id,
            name=data.name.strip(),
            description=data.description,
            metadata_=dict(data.metadata),
            created_by_id=ctx.user.id if ctx.user is not None else None,
            created_at=now,
            updated_at=now,
        )
        session.add(project)
        session.flush()
        return ProjectOut.from_row(project)

    def get_project(
        self, session: Session, ctx: RequestContext, project_id: uuid.UUID
    ) -> ProjectOut:
        """One live project of the active tenant."""
        return ProjectOut.from_row(self._find(session, ctx, project_id))

    def list_projects(
        self, session: Session, ctx: RequestContext, query: ProjectQuery | None = None
    ) -> Page[ProjectOut]:
        """A page of the active tenant's live projects, oldest first."""
        tenant = _tenant(session, ctx)
        query = query or ProjectQuery()
        after = query.after()
        params: dict[str, Any] = {"tenant_id": tenant.id, "limit": query.limit + 1}
        if query.status is not None:
            params["status"] = query.status
        if after is not None:
            params["after_at"], params["after_id"] = after
        statement = _LIST[query.status is not None, after is not None]
        rows = statement.all(session.connection(), params)
        shown = rows[: query.limit]
        cursor = None
        if len(rows) > query.limit and shown:
            last = dict(zip(_FIELDS, shown[-1], strict=True))
            cursor = encode_cursor(last["created_at"], last["id"])
        items = [dict(zip(_FIELDS, row, strict=True)) for row in shown]
        return _Page.model_validate({"items": items, "next_cursor": cursor})

    def update_project(
        self, session: Session, ctx: RequestContext, project_id: uuid.UUID, data: ProjectUpdate
    ) -> ProjectOut:
        """Change a live project of the active tenant."""
        project = self._find(session, ctx, project_id)
        now = self.clock.now()
        if data.name is not None:
            project.name = data.name.strip()
        if "description" in data.model_fields_set:
            project.description = data.description
        if data.metadata is not None:
            project.metadata_ = dict(data.metadata)
        if data.status is not None and data.status is not project.status:
            project.status = data.status
            project.archived_at = now if data.status == "archived" else None
        project.updated_at = now
        session.flush()
        return ProjectOut.from_row(project)

    def delete_project(self, session: Session, ctx: RequestContext, project_id: uuid.UUID) -> None:
        """Soft-delete a live project of the active tenant."""
        project = self._find(session, ctx, project_id)
        now = self.clock.now()
        project.deleted_at = now
        project.updated_at = now
        session.flush()

    def _find(self, session: Session, ctx: RequestContext, project_id: uuid.UUID) -> Project:
        tenant = _tenant(session, ctx)
        project = session.scalar(
            select(Project).where(
                Project.tenant_id == tenant.id,
                Project.public_id == project_id,
                Project.deleted_at.is_(None),
            )
        )
        if project is None:
            raise ProjectNotFound()
        return project


def _tenant(session: Session, ctx: RequestContext) -> TenantRef:
    if ctx.tenant is None:
        raise TenantRequired()
    bind_context(session, ctx)
    return ctx.tenant
