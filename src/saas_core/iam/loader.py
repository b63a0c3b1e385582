"""Per-request permission resolution: one query from the role tables into two frozensets.

There is deliberately no cache that outlives a request. Every request re-reads its role's
permissions (and the caller's assignments) with the single statement below, so a role edit, a
revoked or expired assignment, or a member's new role takes effect on the very next request and
is never stale beyond it. The statement joins three small, indexed tables
(``iam_role_permissions`` by its primary key ``(role_id, permission_id)``, ``iam_permissions`` and
``iam_roles`` by primary key, ``iam_assignments`` by ``user_id``); a cache keyed by role id and
``updated_at`` would still need a query to learn ``updated_at``, so it would save nothing.

On PostgreSQL call it after the request's ``app.tenant_id`` and ``app.user_id`` settings are bound:
a tenant's custom roles are visible through the ``tenant_isolation`` policy and a user's platform
assignments through ``self_read``; shared roles through ``global_read``.

The statement names its tenant and user in its own ``WHERE`` and runs on the DBAPI cursor
(:class:`~saas_core.db.direct.DirectStatement`), outside the automatic ORM tenant filter.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CompoundSelect, and_, bindparam, or_, select, union
from sqlalchemy.orm import Session

from saas_core.db.direct import DirectCursor, DirectStatement
from saas_core.db.types import UTCDateTime
from saas_core.iam.models import IamScope, Permission, Role, RoleAssignment, RolePermission


def _statement() -> CompoundSelect[str, IamScope]:
    p, rp, r, a = Permission, RolePermission, Role, RoleAssignment
    tenant_id = bindparam("tenant_id", type_=BigInteger())
    # The member's own role: tenant-scope permissions of a tenant role that is shared or belongs
    # to this tenant (a membership pointing at another tenant's custom role grants nothing).
    membership = (
        select(p.key, p.scope)
        .select_from(rp)
        .join(p, p.id == rp.permission_id)
        .join(r, r.id == rp.role_id)
        .where(
            rp.role_id == bindparam("role_id", type_=BigInteger()),
            p.scope == IamScope.TENANT,
            r.scope == IamScope.TENANT,
            or_(r.tenant_id.is_(None), r.tenant_id == tenant_id),
        )
    )
    # Live assignments: platform ones (tenant_id NULL) give platform permissions of platform
    # roles; ones in this tenant give tenant permissions of roles visible to the tenant.
    assigned = (
        select(p.key, p.scope)
        .select_from(a)
        .join(r, r.id == a.role_id)
        .join(rp, rp.role_id == a.role_id)
        .join(p, p.id == rp.permission_id)
        .where(
            a.user_id == bindparam("user_id", type_=BigInteger()),
            a.revoked_at.is_(None),
            or_(a.expires_at.is_(None), a.expires_at > bindparam("now", type_=UTCDateTime())),
            or_(
                and_(
                    a.tenant_id.is_(None),
                    r.scope == IamScope.PLATFORM,
                    p.scope == IamScope.PLATFORM,
                ),
                and_(
                    a.tenant_id == tenant_id,
                    r.scope == IamScope.TENANT,
                    p.scope == IamScope.TENANT,
                    or_(r.tenant_id.is_(None), r.tenant_id == tenant_id),
                ),
            ),
        )
    )
    return union(membership, assigned)


# The scope column stays the driver's string, compared with the enum's values.
_LOAD = DirectStatement(_statement(), untyped=("scope",))
_TENANT, _PLATFORM = IamScope.TENANT.value, IamScope.PLATFORM.value


def load_permissions(
    session: Session,
    *,
    role_id: int | None,
    user_id: int | None,
    tenant_id: int | None,
    now: datetime,
) -> tuple[frozenset[str], frozenset[str]]:
    """Return ``(tenant permissions, platform permissions)`` for one request, in one query.

    ``role_id`` is the role of the caller's membership in the active tenant ``tenant_id`` (both
    ``None`` when no tenant is active). Tenant permissions are that role's, plus those of the
    caller's live assignments in the tenant; platform permissions come from the caller's live
    platform assignments. An assignment is live while ``revoked_at`` is NULL and ``expires_at``
    is NULL or later than ``now``.
    """
    if session.autoflush:
        session.flush()  # as a query would: pending role changes are visible
    with DirectCursor(session.connection()) as cursor:
        return resolve_permissions(
            cursor, role_id=role_id, user_id=user_id, tenant_id=tenant_id, now=now
        )


def resolve_permissions(
    cursor: DirectCursor,
    *,
    role_id: int | None,
    user_id: int | None,
    tenant_id: int | None,
    now: datetime,
) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`load_permissions` through a :class:`~saas_core.db.direct.DirectCursor` the
    caller already holds (the request context runs its statements through one)."""
    if role_id is None and user_id is None:
        return frozenset(), frozenset()
    rows = cursor.all(
        _LOAD, {"role_id": role_id, "user_id": user_id, "tenant_id": tenant_id, "now": now}
    )
    tenant = frozenset([key for key, scope in rows if scope == _TENANT])
    platform = frozenset([key for key, scope in rows if scope == _PLATFORM])
    return tenant, platform
