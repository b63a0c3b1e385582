"""Small reads the tenancy operations share: the caller's tenant, roles, owners, members.

Every lookup is keyed by the tenant it is allowed to see; anything else is ``NotFound`` (an
object of another tenant is never a 403).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas_core.context import RequestContext, TenantRef, UserRef
from saas_core.errors import MemberNotFound, RoleNotFound, TenantNotFound, Unauthenticated
from saas_core.iam.catalog import OWNER_ROLE, ROLES_BY_KEY
from saas_core.iam.models import IamScope, Permission, Role, RolePermission
from saas_core.identity.models import User
from saas_core.tenancy.models import Tenant, TenantMember
from saas_core.tenancy.schemas import MemberOut, TenantOut


def require_user(ctx: RequestContext) -> UserRef:
    """The signed-in user behind ``ctx``; :class:`~saas_core.errors.Unauthenticated` if none."""
    if ctx.user is None:
        raise Unauthenticated("this operation needs a signed-in user")
    return ctx.user


def active_tenant(ctx: RequestContext, tenant_public_id: uuid.UUID) -> TenantRef:
    """``ctx``'s active tenant when it is the one named; :class:`TenantNotFound` otherwise.

    Tenant routes carry the tenant's id in their path, but the tenant a request acts in comes
    from the session: a path naming any other tenant is treated as naming nothing.
    """
    if ctx.tenant is None or ctx.tenant.public_id != tenant_public_id:
        raise TenantNotFound()
    return ctx.tenant


def tenant_row(session: Session, tenant_id: int) -> Tenant:
    """The tenant row with internal id ``tenant_id``."""
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_id))
    if tenant is None:
        raise TenantNotFound()
    return tenant


def tenant_by_public_id(session: Session, tenant_public_id: uuid.UUID) -> Tenant:
    """Any tenant by public id (platform operations only: ``tenants`` is not tenant-owned)."""
    tenant = session.scalar(select(Tenant).where(Tenant.public_id == tenant_public_id))
    if tenant is None:
        raise TenantNotFound()
    return tenant


def tenant_out(tenant: Tenant) -> TenantOut:
    """The API form of ``tenant``."""
    return TenantOut(
        id=tenant.public_id,
        slug=tenant.slug,
        name=tenant.name,
        status=tenant.status,
        metadata=dict(tenant.metadata_),
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
    )


def tenant_role(session: Session, tenant_id: int, key: str) -> Role:
    """The tenant role ``key``: a built-in tenant role or a custom role of ``tenant_id``."""
    role = session.scalar(
        select(Role)
        .where(
            Role.key == key,
            Role.scope == IamScope.TENANT,
            (Role.tenant_id.is_(None)) | (Role.tenant_id == tenant_id),
        )
        .order_by(Role.tenant_id.is_(None).desc())
        .limit(1)
    )
    if role is None:
        raise RoleNotFound(f"no role {key!r} in this tenant")
    return role


def owner_role(session: Session) -> Role:
    """The built-in ``owner`` role (the catalog must have been synced)."""
    role = session.scalar(select(Role).where(Role.key == OWNER_ROLE, Role.tenant_id.is_(None)))
    if role is None:
        from saas_core.errors import ConfigurationError

        raise ConfigurationError("the built-in roles are missing: run `saas-core iam sync`")
    return role


def is_owner_role(role: Role) -> bool:
    """True for the built-in owner role."""
    return role.key == OWNER_ROLE and role.tenant_id is None


def role_permissions(session: Session, role: Role) -> frozenset[str]:
    """The permission keys ``role`` grants (built-in roles from the catalog, no query)."""
    if role.tenant_id is None and role.is_system and role.key in ROLES_BY_KEY:
        return ROLES_BY_KEY[role.key].permissions
    return frozenset(
        session.scalars(
            select(Permission.key)
            .join(RolePermission, RolePermission.permission_id == Permission.id)
            .where(RolePermission.role_id == role.id)
        )
    )


def count_owners(session: Session, tenant_id: int, owner_role_id: int) -> int:
    """How many owners ``tenant_id`` has, locking their rows until the transaction ends.

    The lock (PostgreSQL; SQLite serialises writers anyway) makes two owners demoting each
    other at the same time queue, so the second one sees the first one's change and a tenant
    never ends up with no owner.
    """
    ids = session.scalars(
        select(TenantMember.id)
        .where(TenantMember.tenant_id == tenant_id, TenantMember.role_id == owner_role_id)
        .with_for_update()
    ).all()
    return len(ids)


def count_members(session: Session, tenant_id: int) -> int:
    """How many memberships ``tenant_id`` has (all member types)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(TenantMember)
            .where(TenantMember.tenant_id == tenant_id)
        )
        or 0
    )


def member_rows(
    session: Session, tenant_id: int, user_public_id: uuid.UUID | None = None
) -> list[tuple[TenantMember, User, Role]]:
    """Members of ``tenant_id`` with their users and roles, oldest first (one user if asked)."""
    statement: Any = (
        select(TenantMember, User, Role)
        .join(User, User.id == TenantMember.user_id)
        .join(Role, Role.id == TenantMember.role_id)
        .where(TenantMember.tenant_id == tenant_id)
        .order_by(TenantMember.joined_at, TenantMember.id)
    )
    if user_public_id is not None:
        statement = statement.where(User.public_id == user_public_id)
    return [(m, u, r) for m, u, r in session.execute(statement)]


def member_row(
    session: Session, tenant_id: int, user_public_id: uuid.UUID
) -> tuple[TenantMember, User, Role]:
    """One member of ``tenant_id``; :class:`MemberNotFound` for anyone else."""
    rows = member_rows(session, tenant_id, user_public_id)
    if not rows:
        raise MemberNotFound()
    return rows[0]


def member_out(member: TenantMember, user: User, role: Role) -> MemberOut:
    """The API form of a membership."""
    return MemberOut(
        user_id=user.public_id,
        email=user.email,
        display_name=user.display_name,
        role=role.key,
        member_type=member.member_type,
        joined_at=member.joined_at,
    )
