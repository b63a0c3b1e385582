"""``/projects``: the active tenant's projects over HTTP.

The tenant is always the caller's active tenant (from the server-side session, never from the
request); a project of any other tenant, or a deleted one, answers 404 ``project.not_found``.
Reads need ``projects:read``, writes ``projects:write``. ``DELETE`` is a soft delete.
"""

from __future__ import annotations

from saas_core.api.contract import Call, RouteTable, permission
from saas_core.api.pagination import Page
from saas_core.projects.schemas import ProjectCreate, ProjectOut, ProjectQuery, ProjectUpdate

routes = RouteTable()

_TAGS = ("projects",)
_SCOPE = (
    "Acts in the caller's active tenant; a project of another tenant, or a deleted one, is a "
    "404 `project.not_found`."
)


@routes.route(
    "GET",
    "/projects",
    access=permission("projects:read"),
    query_model=ProjectQuery,
    response_model=Page[ProjectOut],
    tags=_TAGS,
    summary="List the active tenant's projects (paginated)",
    description=(
        "Live projects of the active tenant, oldest first, optionally of one `status`. "
        "Cursor pagination: `limit` (1..100, default 50) and `cursor` (the previous page's "
        "`next_cursor`); the response is `{items, next_cursor}`, `next_cursor` null on the last "
        "page."
    ),
)
def list_projects(call: Call) -> Page[ProjectOut]:
    """A page of the active tenant's live projects."""
    query = call.query_as(ProjectQuery)
    return call.core.projects.list_projects(call.session, call.ctx, query)


@routes.route(
    "POST",
    "/projects",
    access=permission("projects:write"),
    request_model=ProjectCreate,
    response_model=ProjectOut,
    status_code=201,
    audit_action="project.create",
    idempotent=True,
    tags=_TAGS,
    summary="Create a project in the active tenant",
    description="Accepts an `Idempotency-Key`: a retry with the same key replays the answer.",
)
def create_project(call: Call) -> ProjectOut:
    """Create a project; the audit record names it."""
    project = call.core.projects.create_project(call.session, call.ctx, call.body_as(ProjectCreate))
    call.audit("project", project.id)
    return project


@routes.route(
    "GET",
    "/projects/{projectId}",
    access=permission("projects:read"),
    response_model=ProjectOut,
    tags=_TAGS,
    summary="Read a project",
    description=_SCOPE,
)
def get_project(call: Call) -> ProjectOut:
    """One live project of the active tenant."""
    return call.core.projects.get_project(call.session, call.ctx, call.path_id("projectId"))


@routes.route(
    "PATCH",
    "/projects/{projectId}",
    access=permission("projects:write"),
    request_model=ProjectUpdate,
    response_model=ProjectOut,
    audit_action="project.update",
    tags=_TAGS,
    summary="Change a project",
    description=(
        "Omitted fields stay as they are; `description: null` clears it; `status` archives or "
        f"restores the project. {_SCOPE}"
    ),
)
def update_project(call: Call) -> ProjectOut:
    """Apply the given changes to a live project."""
    return call.core.projects.update_project(
        call.session, call.ctx, call.path_id("projectId"), call.body_as(ProjectUpdate)
    )


@routes.route(
    "DELETE",
    "/projects/{projectId}",
    access=permission("projects:write"),
    audit_action="project.delete",
    tags=_TAGS,
    summary="Delete a project (soft delete)",
    description=(
        "The project disappears from reads and lists; the row is kept with `deleted_at` set. "
        f"{_SCOPE}"
    ),
)
def delete_project(call: Call) -> None:
    """Soft-delete a live project."""
    call.core.projects.delete_project(call.session, call.ctx, call.path_id("projectId"))
