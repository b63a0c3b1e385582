"""Authorisation checks: in memory, deny by default.

The request's permissions are resolved once, when its :class:`~saas_core.context.RequestContext`
is built (:func:`saas_core.iam.loader.load_permissions`), into two frozensets. A check is then a
set membership test: its cost does not depend on how many roles, permissions or tenants exist.

Unknown permission names are programming errors, caught where routes are declared
(:func:`require`); at request time :func:`authorize` treats them like any permission the caller
lacks: denied.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from saas_core.context import RequestContext
from saas_core.errors import PermissionDenied, UnknownPermission
from saas_core.iam.catalog import PERMISSIONS_BY_KEY, ROLES_BY_KEY, TENANT_PERMISSIONS
from saas_core.iam.models import IamScope


def can(ctx: RequestContext, permission: str) -> bool:
    """True when the caller holds ``permission`` (tenant or platform); never raises.

    Tenant and platform keys are disjoint (platform keys start with ``platform:``, and the loader
    only puts platform-scope keys in ``platform_permissions``), so looking in both sets is exact.
    """
    return permission in ctx.permissions or permission in ctx.platform_permissions


def authorize(ctx: RequestContext, permission: str) -> None:
    """Raise :class:`~saas_core.errors.PermissionDenied` unless the caller holds ``permission``.

    Deny by default: anonymous callers, callers without an active tenant (for tenant permissions)
    and names missing from the catalog are all refused the same way.
    """
    if permission in ctx.permissions or permission in ctx.platform_permissions:
        return
    raise PermissionDenied(f"missing permission {permission!r}", permission=permission)


def require(permission: str, scope: IamScope | None = None) -> str:
    """Validate a permission name where a route or check is declared; return it unchanged.

    Raises :class:`~saas_core.errors.UnknownPermission` when ``permission`` is not in the catalog,
    or is not of ``scope`` when one is given, so a typo fails at import time rather than
    silently denying every request.
    """
    spec = PERMISSIONS_BY_KEY.get(permission)
    if spec is None:
        raise UnknownPermission(f"{permission!r} is not in the permission catalog")
    if scope is not None and spec.scope is not scope:
        raise UnknownPermission(f"{permission!r} is a {spec.scope} permission, not {scope}")
    return permission


def check_known(permissions: Iterable[str], scope: IamScope) -> frozenset[str]:
    """Return ``permissions`` as a frozenset after checking each with :func:`require`."""
    keys = frozenset(permissions)
    for key in sorted(keys):
        require(key, scope)
    return keys


def ensure_can_grant(ctx: RequestContext, permissions: Iterable[str]) -> None:
    """Refuse to hand out permissions the caller does not hold (no privilege escalation).

    Call it before putting permissions in a custom role, assigning a role to someone or changing a
    member's role: an administrator without ``billing:manage`` must not be able to create a role
    that has it and then take that role. Raises :class:`~saas_core.errors.PermissionDenied`
    naming the first missing permission.
    """
    for key in sorted(frozenset(permissions)):
        if not can(ctx, key):
            raise PermissionDenied(f"cannot grant {key!r} without holding it", permission=key)


def is_break_glass(ctx: RequestContext) -> bool:
    """True when the caller's platform permissions come (in part) from a break-glass grant.

    Only the break-glass role holds ``platform:impersonate``, so its presence marks the grant.
    The request pipeline records a ``break_glass_used`` security event for every platform
    request made while this is true (:func:`saas_core.iam.events.record_break_glass_use`).
    """
    return "platform:impersonate" in ctx.platform_permissions


@lru_cache(maxsize=256)
def _system_role_permissions(role_keys: frozenset[str]) -> frozenset[str]:
    granted: set[str] = set()
    for key in role_keys:
        spec = ROLES_BY_KEY.get(key)
        if spec is not None:
            granted |= spec.permissions
    return frozenset(granted)


def permissions_for_roles(
    role_keys: Iterable[str], custom_grants: Iterable[str] = ()
) -> frozenset[str]:
    """Resolve built-in role keys plus custom-role grants into one permission set.

    Tenant and platform role keys may be mixed; the result is their union (the two scopes use
    disjoint keys).

    The built-in part is computed once per distinct set of role keys (cached: it depends only on
    the catalog, which is code). ``custom_grants`` are the permissions of custom roles read from
    the database for this request; entries that are not tenant permissions of the catalog are
    dropped (deny by default). Unknown role keys grant nothing.
    """
    base = _system_role_permissions(frozenset(role_keys))
    extra = frozenset(custom_grants)
    if not extra:
        return base
    return base | (extra & TENANT_PERMISSIONS)
