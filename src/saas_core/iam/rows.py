"""Row-level helpers of the IAM service: role permission links and output models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas_core.errors import ConfigurationError
from saas_core.iam.catalog import ROLES
from saas_core.iam.models import IamScope, Permission, Role, RoleAssignment, RolePermission
from saas_core.iam.schemas import AssignmentOut, RoleOut
from saas_core.identity.models import User
from saas_core.tenancy.models import TenantMember

_ROLE_ORDER = {spec.key: n for n, spec in enumerate(ROLES)}


def link_permissions(session: Session, role: Role, keys: Iterable[str]) -> None:
    """Add links from ``role`` to the catalog permissions ``keys`` (already validated)."""
    keys = frozenset(keys)
    if not keys:
        return
    ids = dict(
        session.execute(select(Permission.key, Permission.id).where(Permission.key.in_(keys))).all()
    )
    missing = keys - ids.keys()
    if missing:
        raise ConfigurationError(
            f"permissions {sorted(missing)} are not in the database: run `saas-core iam sync`"
        )
    session.add_all(RolePermission(role_id=role.id, permission_id=ids[k]) for k in keys)
    session.flush()


def permission_keys(session: Session, role_ids: Sequence[int]) -> dict[int, frozenset[str]]:
    """The permission keys of each role in ``role_ids`` (empty for a role with none)."""
    found: dict[int, set[str]] = {role_id: set() for role_id in role_ids}
    rows = session.execute(
        select(RolePermission.role_id, Permission.key)
        .join(Permission, Permission.id == RolePermission.permission_id)
        .where(RolePermission.role_id.in_(role_ids))
    )
    for role_id, key in rows:
        found[role_id].add(key)
    return {role_id: frozenset(keys) for role_id, keys in found.items()}


def roles_out(session: Session, roles: Sequence[Role]) -> list[RoleOut]:
    """``roles`` as :class:`RoleOut`, with their permissions (one query for all of them)."""
    keys = permission_keys(session, [r.id for r in roles]) if roles else {}
    return [
        RoleOut(
            id=r.public_id,
            key=r.key,
            name=r.name,
            description=r.description,
            scope=r.scope,
            system=r.is_system,
            permissions=sorted(keys[r.id]),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in roles
    ]


def is_member(session: Session, tenant_id: int, user_id: int) -> bool:
    """True when ``user_id`` belongs to ``tenant_id``."""
    found = session.scalar(
        select(TenantMember.id).where(
            TenantMember.tenant_id == tenant_id, TenantMember.user_id == user_id
        )
    )
    return found is not None


def role_sort_key(role: Role) -> tuple[int, int, str]:
    """Built-in tenant roles (catalog order), then custom roles, then platform roles."""
    if role.tenant_id is not None:
        group = 1
    elif role.scope is IamScope.TENANT:
        group = 0
    else:
        group = 2
    return (group, _ROLE_ORDER.get(role.key, len(_ROLE_ORDER)), role.key)


def assignment_metadata(assignment: RoleAssignment, role: Role) -> dict[str, Any]:
    """What a security event says about an assignment: ids and terms, no free text."""
    return {
        "assignment_id": str(assignment.public_id),
        "role_id": str(role.public_id),
        "role_key": role.key,
        "break_glass": assignment.is_break_glass,
        "expires_at": assignment.expires_at.isoformat() if assignment.expires_at else None,
    }


def assignment_out(assignment: RoleAssignment, role: Role, user: User) -> AssignmentOut:
    """An assignment as :class:`AssignmentOut` (public ids only)."""
    return AssignmentOut(
        id=assignment.public_id,
        user_id=user.public_id,
        role_id=role.public_id,
        role_key=role.key,
        scope=role.scope,
        break_glass=assignment.is_break_glass,
        reason=assignment.reason,
        expires_at=assignment.expires_at,
        revoked_at=assignment.revoked_at,
        created_at=assignment.created_at,
    )
