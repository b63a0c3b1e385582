"""``/iam``: the permission catalog, roles and platform role assignments over HTTP.

Two audiences, kept apart by the access rule of each route:

* **tenants** manage their own custom roles: ``GET /iam/roles`` lists the built-in tenant roles and
  the active tenant's custom roles (``roles:read``); ``POST /iam/roles`` and
  ``PATCH /iam/roles/{roleId}`` create and edit custom roles of the active tenant
  (``roles:manage``). Built-in roles are immutable; another tenant's role is 404.
* **the platform** grants and revokes platform roles: ``POST /iam/assignments`` and
  ``DELETE /iam/assignments/{assignmentId}`` need the platform permission
  ``platform:iam:manage`` and act outside any tenant (explicit platform scope). Holders of
  ``platform:iam:manage`` also see the platform roles in ``GET /iam/roles``: that is where the
  role ids to grant come from.

``GET /iam/permissions`` is the catalog itself, the same for everyone: any signed-in caller.
Request bodies are checked against the catalog here so that a bad permission name or missing
break-glass terms come back as 422 problems with field paths; the service checks again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from saas_core.api.contract import AUTHENTICATED, Call, RouteTable, permission, platform
from saas_core.api.pagination import Page, PageQuery
from saas_core.db.tenant import platform_scope
from saas_core.errors import (
    BreakGlassTermsInvalid,
    RoleNotFound,
    UnknownPermission,
    UserNotFound,
    ValidationFailed,
)
from saas_core.iam.catalog import PERMISSIONS_BY_KEY, ROLES_BY_KEY
from saas_core.iam.models import IamScope
from saas_core.iam.schemas import (
    AssignmentCreate,
    AssignmentOut,
    PermissionList,
    PermissionQuery,
    RoleCreate,
    RoleOut,
    RoleUpdate,
)

routes = RouteTable()

_TAGS = ("iam",)
_IDEMPOTENT = "Accepts an `Idempotency-Key`: a retry with the same key replays the answer."


@routes.route(
    "GET",
    "/iam/permissions",
    access=AUTHENTICATED,
    query_model=PermissionQuery,
    response_model=PermissionList,
    tags=_TAGS,
    summary="The permission catalog (not paginated)",
    description=(
        "Every permission saas-core knows, in display order, optionally of one `scope`. The "
        "catalog is declared in code and is the same for every caller, so any signed-in caller "
        "may read it. It is a small, static list: the response is `{items}` without pagination."
    ),
)
def list_permissions(call: Call) -> PermissionList:
    """The catalog, from code (the source of truth)."""
    scope = call.query_as(PermissionQuery).scope
    return PermissionList(items=call.core.iam.list_permissions(scope))


@routes.route(
    "GET",
    "/iam/roles",
    access=AUTHENTICATED,
    query_model=PageQuery,
    response_model=Page[RoleOut],
    tags=_TAGS,
    summary="List the roles the caller may see (paginated)",
    description=(
        "With `roles:read` in the active tenant: the built-in tenant roles and the tenant's own "
        "custom roles (never another tenant's). With the platform permission "
        "`platform:iam:manage`: the built-in roles, platform roles included (their ids are what "
        "`POST /iam/assignments` grants). Anyone else gets 403. Oldest first. Cursor pagination: "
        "`limit` (1..100, default 50) and `cursor` (the previous page's `next_cursor`); the "
        "response is `{items, next_cursor}`, `next_cursor` null on the last page."
    ),
)
def list_roles(call: Call) -> Page[RoleOut]:
    """A page of the visible roles, ordered by ``(created_at, id)``."""
    page = call.query_as(PageQuery)
    # A tenant has a handful of roles: the service reads them all (with their permissions, in
    # two queries) and the page is cut here, keyset-style, so cursors stay stable.
    roles = sorted(call.core.iam.list_roles(call.session, call.ctx), key=_role_keyset)
    after = page.after()
    if after is not None:
        roles = [role for role in roles if _role_keyset(role) > after]
    return Page[RoleOut].build(
        roles[: page.limit + 1], page.limit, lambda role: role, key=_role_keyset
    )


@routes.route(
    "POST",
    "/iam/roles",
    access=permission("roles:manage"),
    request_model=RoleCreate,
    response_model=RoleOut,
    status_code=201,
    audit_action="role.create",
    idempotent=True,
    tags=_TAGS,
    summary="Create a custom role in the active tenant",
    description=(
        "Its `permissions` must be tenant permissions of the catalog (422 "
        "`iam.unknown_permission` otherwise, naming each bad entry) that the caller holds "
        "(403 otherwise: nobody hands out what they do not have). `key` must be new in the "
        f"tenant and not a built-in role's key (409 `iam.role_key_taken`). {_IDEMPOTENT}"
    ),
)
def create_role(call: Call) -> RoleOut:
    """Create a custom role; the audit record names it."""
    data = call.body_as(RoleCreate)
    _check_tenant_permissions(data.permissions)
    role = call.core.iam.create_role(call.session, call.ctx, data)
    call.audit("role", role.id, key=role.key)
    return role


@routes.route(
    "PATCH",
    "/iam/roles/{roleId}",
    access=permission("roles:manage"),
    request_model=RoleUpdate,
    response_model=RoleOut,
    audit_action="role.update",
    tags=_TAGS,
    summary="Edit a custom role of the active tenant",
    description=(
        "Omitted fields stay as they are; `permissions`, when given, replaces the whole set "
        "(same rules as on create). Built-in roles are immutable (403 "
        "`iam.system_role_immutable`); another tenant's role is 404 `iam.role_not_found`. "
        "Every holder of the role gets the new permissions on their next request."
    ),
)
def update_role(call: Call) -> RoleOut:
    """Apply the changes; the audit record names the role from the path."""
    data = call.body_as(RoleUpdate)
    if data.permissions is not None:
        _check_tenant_permissions(data.permissions)
    return call.core.iam.update_role(call.session, call.ctx, call.path_id("roleId"), data)


@routes.route(
    "POST",
    "/iam/assignments",
    access=platform("platform:iam:manage"),
    request_model=AssignmentCreate,
    response_model=AssignmentOut,
    status_code=201,
    audit_action="assignment.create",
    idempotent=True,
    errors=(RoleNotFound, UserNotFound),
    tags=_TAGS,
    summary="Grant a platform role to a user (platform)",
    description=(
        "Needs the platform permission `platform:iam:manage`. `role_id` must be a platform role "
        "(a tenant role is 422; an unknown one 404 `iam.role_not_found`), `user_id` a user's "
        "public id (404 `user.not_found`). `expires_at`, when given, must be in the future. The "
        "`break_glass` role needs both `reason` and `expires_at`, at most "
        "`break_glass_max_duration` ahead (422 `iam.break_glass_terms`); its grant is a "
        f"high-severity security event. {_IDEMPOTENT}"
    ),
)
def create_assignment(call: Call) -> AssignmentOut:
    """Grant the role inside the explicit platform scope; the audit record names the grant."""
    data = call.body_as(AssignmentCreate)
    role = call.core.iam.get_role(call.session, call.ctx, data.role_id)
    if role.scope is not IamScope.PLATFORM:
        raise ValidationFailed(
            "only platform roles are granted here",
            errors=[_error("role_id", "Not a platform role", "not_platform_role")],
        )
    _check_terms(data, role, call.core.clock.now(), call.core.settings.break_glass_max_duration)
    # Platform assignments belong to no tenant: writing one is a platform-level act.
    with platform_scope(call.session, reason="iam assignment create"):
        granted = call.core.iam.create_assignment(call.session, call.ctx, data)
    call.audit(
        "assignment",
        granted.id,
        role_key=granted.role_key,
        subject_id=str(granted.user_id),
        break_glass=granted.break_glass,
    )
    return granted


@routes.route(
    "DELETE",
    "/iam/assignments/{assignmentId}",
    access=platform("platform:iam:manage"),
    status_code=204,
    audit_action="assignment.revoke",
    tags=_TAGS,
    summary="Revoke a platform role assignment (platform)",
    description=(
        "Needs the platform permission `platform:iam:manage`. Takes effect on the holder's next "
        "request. Revoking a revoked assignment changes nothing and answers 204 again; an "
        "unknown assignment, or one that is not a platform assignment, is 404 "
        "`iam.assignment_not_found`."
    ),
)
def revoke_assignment(call: Call) -> None:
    """Revoke inside the explicit platform scope (the rows belong to no tenant)."""
    with platform_scope(call.session, reason="iam assignment revoke"):
        call.core.iam.revoke_assignment(call.session, call.ctx, call.path_id("assignmentId"))


# --- helpers ---------------------------------------------------------------------------------


def _role_keyset(role: RoleOut) -> tuple[datetime, uuid.UUID]:
    return (role.created_at, role.id)


def _error(field: str, message: str, kind: str, *index: int) -> dict[str, Any]:
    return {"loc": ["body", field, *index], "msg": message, "type": kind}


def _check_tenant_permissions(keys: list[str]) -> None:
    """422 naming every entry that is not a tenant permission of the catalog."""
    errors = []
    for n, key in enumerate(keys):
        spec = PERMISSIONS_BY_KEY.get(key)
        if spec is None:
            errors.append(_error("permissions", "Unknown permission", "unknown_permission", n))
        elif spec.scope is not IamScope.TENANT:
            message = "A platform permission cannot be part of a tenant role"
            errors.append(_error("permissions", message, "unknown_permission", n))
    if errors:
        raise UnknownPermission("a role holds tenant permissions of the catalog", errors=errors)


def _check_terms(data: AssignmentCreate, role: RoleOut, now: datetime, longest: timedelta) -> None:
    """422 with field paths for an expiry in the past or incomplete break-glass terms."""
    if data.expires_at is not None and data.expires_at <= now:
        raise ValidationFailed(
            "expires_at must be in the future",
            errors=[_error("expires_at", "Must be in the future", "expired")],
        )
    spec = ROLES_BY_KEY.get(role.key) if role.system else None
    if spec is None or not spec.break_glass:
        return
    errors = []
    if not data.reason or not data.reason.strip():
        errors.append(_error("reason", "A break-glass grant needs a reason", "missing"))
    if data.expires_at is None:
        errors.append(_error("expires_at", "A break-glass grant needs an expiry", "missing"))
    elif data.expires_at > now + longest:
        message = f"A break-glass grant lasts at most {longest}"
        errors.append(_error("expires_at", message, "too_long"))
    if errors:
        raise BreakGlassTermsInvalid(
            "a break-glass grant needs a reason and an expiry", errors=errors
        )
