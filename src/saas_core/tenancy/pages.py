"""Paginated reads behind the tenancy list routes: the caller's tenants, members, invitations.

Each pages by keyset on ``(timestamp, public id)`` with the cursor of
:mod:`saas_core.api.pagination`, so a page costs the same however deep it is. They expect the
session already bound to the request's context (the pipeline does it) and the caller already
authorised (the routes declare the permissions); ``members`` and ``invitations`` take the
internal id of the tenant resolved by :func:`saas_core.tenancy.lookups.active_tenant`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from saas_core.api.pagination import Page, PageQuery, keyset_after
from saas_core.context import RequestContext
from saas_core.iam.models import Role
from saas_core.identity.models import User
from saas_core.tenancy import lookups
from saas_core.tenancy.models import (
    InvitationStatus,
    Tenant,
    TenantInvitation,
    TenantMember,
    TenantStatus,
)
from saas_core.tenancy.schemas import InvitationOut, MemberOut, MyTenantOut


def my_tenants(session: Session, ctx: RequestContext, query: PageQuery) -> Page[MyTenantOut]:
    """A page of the caller's tenants (archived ones left out), oldest first.

    Reads the caller's own memberships, visible whatever tenant is bound (``self_read``). A
    custom role of a tenant other than the active one is not readable, hence ``role`` null.
    """
    user = lookups.require_user(ctx)
    role = aliased(Role)
    # Any: keyset_after's type bound admits single-entity selects only.
    statement: Any = (
        select(Tenant, TenantMember.member_type, role.key)
        .join(TenantMember, TenantMember.tenant_id == Tenant.id)
        .outerjoin(role, role.id == TenantMember.role_id)
        .where(TenantMember.user_id == user.id, Tenant.status != TenantStatus.ARCHIVED)
        .order_by(Tenant.created_at, Tenant.public_id)
    )
    statement = keyset_after(statement, Tenant.created_at, Tenant.public_id, query.after())
    rows = session.execute(statement.limit(query.limit + 1)).all()
    active = ctx.tenant.id if ctx.tenant is not None else None
    return Page[MyTenantOut].build(
        rows,
        query.limit,
        lambda row: MyTenantOut(
            **lookups.tenant_out(row[0]).model_dump(),
            role=row[2],
            member_type=row[1],
            active=row[0].id == active,
        ),
        key=lambda row: (row[0].created_at, row[0].public_id),
    )


def members(session: Session, tenant_id: int, query: PageQuery) -> Page[MemberOut]:
    """A page of ``tenant_id``'s members, in the order they joined."""
    statement: Any = (
        select(TenantMember, User, Role)
        .join(User, User.id == TenantMember.user_id)
        .join(Role, Role.id == TenantMember.role_id)
        .where(TenantMember.tenant_id == tenant_id)
        .order_by(TenantMember.joined_at, User.public_id)
    )
    statement = keyset_after(statement, TenantMember.joined_at, User.public_id, query.after())
    rows = session.execute(statement.limit(query.limit + 1)).all()
    return Page[MemberOut].build(
        rows,
        query.limit,
        lambda row: lookups.member_out(row[0], row[1], row[2]),
        key=lambda row: (row[0].joined_at, row[1].public_id),
    )


def invitations(
    session: Session, tenant_id: int, query: PageQuery, now: datetime
) -> Page[InvitationOut]:
    """A page of ``tenant_id``'s pending invitations, oldest first (expired ones say so)."""
    statement: Any = (
        select(TenantInvitation, Role.key)
        .join(Role, Role.id == TenantInvitation.role_id)
        .where(
            TenantInvitation.tenant_id == tenant_id,
            TenantInvitation.status == InvitationStatus.PENDING,
        )
        .order_by(TenantInvitation.created_at, TenantInvitation.public_id)
    )
    statement = keyset_after(
        statement, TenantInvitation.created_at, TenantInvitation.public_id, query.after()
    )
    rows = session.execute(statement.limit(query.limit + 1)).all()
    return Page[InvitationOut].build(
        rows,
        query.limit,
        lambda row: _invitation_out(row[0], row[1], now),
        key=lambda row: (row[0].created_at, row[0].public_id),
    )


def _invitation_out(invitation: TenantInvitation, role_key: str, now: datetime) -> InvitationOut:
    # A pending invitation past its expiry shows as expired before any job flips its status.
    status = invitation.status
    if status is InvitationStatus.PENDING and now >= invitation.expires_at:
        status = InvitationStatus.EXPIRED
    return InvitationOut(
        id=invitation.public_id,
        email=invitation.email,
        role=role_key,
        member_type=invitation.member_type,
        status=status,
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
    )
