"""The permission catalog and the default roles, declared in code as data.

This module is the single source of truth for what a permission is called, what it means, where
it applies and which built-in role holds it. ``iam_permissions`` and the system rows of
``iam_roles`` / ``iam_role_permissions`` are copies of it, written by
:func:`saas_core.iam.sync.sync_catalog` (``saas-core iam sync``); the permission matrix in
``docs/iam.md`` is checked against it by the test suite.

Two scopes never mix:

* **tenant** permissions (``projects:read``) are held through a membership role, inside one
  tenant, and land in ``RequestContext.permissions``;
* **platform** permissions (``platform:impersonate``) are held through platform assignments
  (``iam_assignments.tenant_id IS NULL``) and land in ``RequestContext.platform_permissions``.

Least privilege, in short: ``owner`` holds every tenant permission; ``admin`` runs the tenant
day to day but cannot delete it, change what the tenant pays or move credits (a stolen admin
account can neither destroy nor spend); ``billing`` is the finance seat; ``member`` works on
projects; ``viewer`` only reads. Platform ``support`` reads, never acts as someone else;
impersonation needs ``break_glass``, which is only granted with an expiry and a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from saas_core.iam.models import IamScope

#: Every platform permission key starts with this prefix (and no tenant permission does).
PLATFORM_PREFIX = "platform:"


@dataclass(frozen=True, slots=True)
class PermissionSpec:
    """One catalog entry: a stable ``key``, what it allows, and where it applies."""

    key: str
    description: str
    scope: IamScope

    def __post_init__(self) -> None:
        is_platform_key = self.key.startswith(PLATFORM_PREFIX)
        if is_platform_key != (self.scope is IamScope.PLATFORM):
            raise ValueError(
                f"permission {self.key!r}: exactly the platform permissions start with"
                f" {PLATFORM_PREFIX!r}"
            )


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """A built-in (system) role: shared by every tenant, or platform-wide.

    ``break_glass`` roles are granted only with an expiry and a reason, and every grant and use is
    recorded as a security event.
    """

    key: str
    name: str
    description: str
    scope: IamScope
    permissions: frozenset[str]
    break_glass: bool = False


def _tenant(key: str, description: str) -> PermissionSpec:
    return PermissionSpec(key, description, IamScope.TENANT)


def _platform(key: str, description: str) -> PermissionSpec:
    return PermissionSpec(key, description, IamScope.PLATFORM)


#: The catalog, in display order.
PERMISSIONS: tuple[PermissionSpec, ...] = (
    # --- tenant scope ----------------------------------------------------------------------
    _tenant("tenant:read", "Read the tenant's name, slug, status and settings."),
    _tenant("tenant:manage", "Rename the tenant and change its settings."),
    _tenant("tenant:delete", "Archive (soft-delete) the tenant."),
    _tenant("members:read", "List the tenant's members and their roles."),
    _tenant("members:manage", "Invite, remove and change the role of members."),
    _tenant("roles:read", "List the tenant's roles and the permission catalog."),
    _tenant("roles:manage", "Create and edit the tenant's custom roles."),
    _tenant("projects:read", "List and read projects."),
    _tenant("projects:write", "Create, update and delete projects."),
    _tenant("billing:read", "Read the subscription, invoices and payments."),
    _tenant("billing:manage", "Change the plan, seats and payment method; buy one-time items."),
    _tenant("usage:read", "Read metered usage and overage fees."),
    _tenant("usage:record", "Record metered usage events (usually an API key)."),
    _tenant("credits:read", "Read the credit balance and ledger."),
    _tenant("credits:adjust", "Post manual adjustments to the tenant's credit ledger."),
    _tenant("privacy:read", "Read the tenant's privacy subject requests and consents."),
    _tenant("privacy:process", "Process privacy subject requests (export, erasure)."),
    _tenant("audit:read", "Read the tenant's audit log."),
    _tenant("security:read", "Read the tenant's security events and incidents."),
    _tenant("security:manage", "Open and update the tenant's security incidents."),
    _tenant("apikeys:manage", "Create and revoke the tenant's API keys."),
    # --- platform scope --------------------------------------------------------------------
    _platform("platform:tenants:read", "Read any tenant's record (support look-ups)."),
    _platform("platform:tenants:manage", "Suspend, reactivate and archive any tenant."),
    _platform("platform:iam:manage", "Grant and revoke platform role assignments."),
    _platform("platform:audit:read", "Read the platform-wide audit log."),
    _platform("platform:security:read", "Read platform-wide security events and incidents."),
    _platform("platform:security:manage", "Open and update platform security incidents."),
    _platform("platform:privacy:process", "Process privacy subject requests of any tenant."),
    _platform("platform:credits:adjust", "Grant or claw back credits of any tenant."),
    _platform("platform:impersonate", "Act as another user (always audited)."),
)

#: Catalog entries by key.
PERMISSIONS_BY_KEY: Mapping[str, PermissionSpec] = {p.key: p for p in PERMISSIONS}
#: Every tenant-scope key.
TENANT_PERMISSIONS: frozenset[str] = frozenset(
    p.key for p in PERMISSIONS if p.scope is IamScope.TENANT
)
#: Every platform-scope key.
PLATFORM_PERMISSIONS: frozenset[str] = frozenset(
    p.key for p in PERMISSIONS if p.scope is IamScope.PLATFORM
)


def _read_only(keys: Iterable[str]) -> frozenset[str]:
    return frozenset(k for k in keys if k.endswith(":read"))


_MEMBER = frozenset(
    {"tenant:read", "members:read", "projects:read", "projects:write", "usage:read", "credits:read"}
)

#: The built-in roles, in display order (tenant roles, then platform roles).
ROLES: tuple[RoleSpec, ...] = (
    RoleSpec(
        "owner",
        "Owner",
        "Everything in the tenant, including deleting it. A tenant always keeps one owner.",
        IamScope.TENANT,
        TENANT_PERMISSIONS,
    ),
    RoleSpec(
        "admin",
        "Administrator",
        "Runs the tenant: members, roles, projects, keys, privacy and security. Cannot delete the "
        "tenant, change what it pays or adjust credits.",
        IamScope.TENANT,
        TENANT_PERMISSIONS - {"tenant:delete", "billing:manage", "credits:adjust"},
    ),
    RoleSpec(
        "billing",
        "Billing manager",
        "The finance seat: manages the subscription and reads usage and credits.",
        IamScope.TENANT,
        frozenset({"tenant:read", "billing:read", "billing:manage", "usage:read", "credits:read"}),
    ),
    RoleSpec(
        "member",
        "Member",
        "Works on projects and sees who else is in the tenant.",
        IamScope.TENANT,
        _MEMBER,
    ),
    RoleSpec(
        "viewer",
        "Viewer",
        "Reads projects, members, usage and credits; changes nothing.",
        IamScope.TENANT,
        _read_only(_MEMBER),
    ),
    RoleSpec(
        "platform_admin",
        "Platform administrator",
        "Operates the platform. Impersonation still needs a break-glass grant.",
        IamScope.PLATFORM,
        PLATFORM_PERMISSIONS - {"platform:impersonate"},
    ),
    RoleSpec(
        "support",
        "Support",
        "Read-only look-ups across tenants: tenants, audit log, security events. No impersonation.",
        IamScope.PLATFORM,
        frozenset({"platform:tenants:read", "platform:audit:read", "platform:security:read"}),
    ),
    RoleSpec(
        "break_glass",
        "Break-glass",
        "Emergency access, including impersonation. Granted only with an expiry and a reason; "
        "every grant and every use is recorded as a security event.",
        IamScope.PLATFORM,
        PLATFORM_PERMISSIONS,
        break_glass=True,
    ),
)

#: Built-in roles by key.
ROLES_BY_KEY: Mapping[str, RoleSpec] = {r.key: r for r in ROLES}
#: Keys of the built-in tenant roles, in display order.
TENANT_ROLE_KEYS: tuple[str, ...] = tuple(r.key for r in ROLES if r.scope is IamScope.TENANT)
#: Keys of the built-in platform roles, in display order.
PLATFORM_ROLE_KEYS: tuple[str, ...] = tuple(r.key for r in ROLES if r.scope is IamScope.PLATFORM)
#: The role a tenant's creator receives.
OWNER_ROLE = "owner"
#: The role given when an invitation names none.
DEFAULT_MEMBER_ROLE = "member"


def is_known(permission: str) -> bool:
    """True when ``permission`` is a catalog key."""
    return permission in PERMISSIONS_BY_KEY


def _check_catalog() -> None:
    # Fail at import, not at the first request, if the data above ever contradicts itself.
    if len(PERMISSIONS_BY_KEY) != len(PERMISSIONS):
        raise ValueError("duplicate permission key in the catalog")
    if len(ROLES_BY_KEY) != len(ROLES):
        raise ValueError("duplicate role key in the catalog")
    for role in ROLES:
        allowed = TENANT_PERMISSIONS if role.scope is IamScope.TENANT else PLATFORM_PERMISSIONS
        stray = role.permissions - allowed
        if stray:
            raise ValueError(f"role {role.key!r} grants out-of-scope permissions {sorted(stray)}")
        if role.break_glass and role.scope is not IamScope.PLATFORM:
            raise ValueError(f"role {role.key!r}: break-glass roles are platform roles")


_check_catalog()
