"""The tenancy service: tenants, members and invitations, as plain Python.

Methods take the caller's SQLAlchemy ``Session`` and :class:`~saas_core.context.RequestContext`,
bind the session to the context's tenant (a no-op when the request pipeline already did),
flush, and never commit.

Tenant routes carry the tenant's public id, but a request only ever acts in its session's active
tenant: an id naming any other tenant is :class:`~saas_core.errors.TenantNotFound`, exactly as if
it did not exist (404, never 403). The service checks the caller's permissions itself too
(defence in depth behind the routes' declared permissions), after resolving what the caller can
see, so a foreign id answers 404 whatever the caller's role.

Lifecycle: ``active`` -> ``suspended`` (platform operators; members lose access until it is
reactivated) and ``active``/``suspended`` -> ``archived`` (the soft delete: by the tenant's owner
or a platform operator; an archived tenant disappears from lists and can no longer be entered).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.db.tenant import bind_context, tenant_scope
from saas_core.errors import PermissionDenied, SlugTaken, TenantNotFound
from saas_core.iam.authorize import authorize, can
from saas_core.iam.models import Role
from saas_core.identity.ports import EmailSender, InMemoryOutbox
from saas_core.tenancy import lookups
from saas_core.tenancy.invitations import InvitationOperations
from saas_core.tenancy.members import MemberOperations
from saas_core.tenancy.models import MemberType, Tenant, TenantMember, TenantStatus
from saas_core.tenancy.schemas import MyTenantOut, TenantCreate, TenantOut, TenantUpdate
from saas_core.tenancy.seats import AllowAllSeats, SeatPolicy

_PLATFORM_READ = "platform:tenants:read"
_PLATFORM_MANAGE = "platform:tenants:manage"


class TenancyService(MemberOperations, InvitationOperations):
    """Tenants, their members and invitations (stateless between calls)."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        seat_policy: SeatPolicy | None = None,
        *,
        email_sender: EmailSender | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.seat_policy: SeatPolicy = seat_policy or AllowAllSeats()
        self.email_sender: EmailSender = email_sender or InMemoryOutbox()

    # --- tenants ---------------------------------------------------------------------------------

    def create_tenant(self, session: Session, ctx: RequestContext, data: TenantCreate) -> TenantOut:
        """Create a tenant; the caller becomes its owner. A used slug is :class:`SlugTaken`.

        The session's active tenant does not change (switch to the new tenant to work in it).
        """
        user = lookups.require_user(ctx)
        bind_context(session, ctx)
        if session.scalar(select(Tenant.id).where(Tenant.slug == data.slug)) is not None:
            raise SlugTaken()
        now = self.clock.now()
        tenant = Tenant(
            slug=data.slug,
            name=data.name.strip(),
            status=TenantStatus.ACTIVE,
            created_by_id=user.id,
            metadata_=dict(data.metadata),
            created_at=now,
            updated_at=now,
        )
        try:
            # A savepoint, so a concurrent insert of the same slug fails only this step.
            with session.begin_nested():
                session.add(tenant)
        except IntegrityError:
            raise SlugTaken() from None
        owner = lookups.owner_role(session)
        # The membership row belongs to the new tenant: write it bound to that tenant.
        with tenant_scope(session, tenant.id, user_id=user.id):
            session.add(
                TenantMember(
                    tenant_id=tenant.id,
                    user_id=user.id,
                    role_id=owner.id,
                    member_type=MemberType.MEMBER,
                    joined_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
        return lookups.tenant_out(tenant)

    def list_my_tenants(self, session: Session, ctx: RequestContext) -> list[MyTenantOut]:
        """The caller's tenants (not archived ones), by name, with the caller's role in each.

        Reads the caller's own memberships, which are visible before (and whatever) tenant is
        bound: Row Level Security's ``self_read`` on PostgreSQL, the same rule in the ORM filter.
        """
        user = lookups.require_user(ctx)
        bind_context(session, ctx)
        role = aliased(Role)
        rows = session.execute(
            select(Tenant, TenantMember.member_type, role.key)
            .join(TenantMember, TenantMember.tenant_id == Tenant.id)
            .outerjoin(role, role.id == TenantMember.role_id)
            .where(TenantMember.user_id == user.id, Tenant.status != TenantStatus.ARCHIVED)
            .order_by(Tenant.name, Tenant.id)
        ).all()
        active = ctx.tenant.id if ctx.tenant is not None else None
        return [
            MyTenantOut(
                **lookups.tenant_out(tenant).model_dump(),
                role=role_key,
                member_type=member_type,
                active=tenant.id == active,
            )
            for tenant, member_type, role_key in rows
        ]

    def get_tenant(self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID) -> TenantOut:
        """The active tenant (``tenant:read``), or any tenant for platform readers."""
        bind_context(session, ctx)
        if ctx.tenant is not None and ctx.tenant.public_id == tenant_id:
            authorize(ctx, "tenant:read")
            return lookups.tenant_out(lookups.tenant_row(session, ctx.tenant.id))
        if can(ctx, _PLATFORM_READ) or can(ctx, _PLATFORM_MANAGE):
            return lookups.tenant_out(lookups.tenant_by_public_id(session, tenant_id))
        raise TenantNotFound()

    def update_tenant(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID, data: TenantUpdate
    ) -> TenantOut:
        """Rename the active tenant, change its slug or metadata (``tenant:manage``)."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        authorize(ctx, "tenant:manage")
        tenant = lookups.tenant_row(session, ref.id)
        if data.slug is not None and data.slug != tenant.slug:
            taken = session.scalar(
                select(Tenant.id).where(Tenant.slug == data.slug, Tenant.id != tenant.id)
            )
            if taken is not None:
                raise SlugTaken()
            tenant.slug = data.slug
        if data.name is not None:
            tenant.name = data.name.strip()
        if data.metadata is not None:
            tenant.metadata_ = dict(data.metadata)
        tenant.updated_at = self.clock.now()
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise SlugTaken() from None
        return lookups.tenant_out(tenant)

    def archive_tenant(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID
    ) -> TenantOut:
        """Archive (soft-delete) a tenant: its owner (``tenant:delete``) or a platform operator."""
        tenant = self._lifecycle_target(session, ctx, tenant_id, own_permission="tenant:delete")
        if tenant.status is not TenantStatus.ARCHIVED:
            now = self.clock.now()
            tenant.status = TenantStatus.ARCHIVED
            tenant.archived_at = now
            tenant.updated_at = now
            session.flush()
        return lookups.tenant_out(tenant)

    def suspend_tenant(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID
    ) -> TenantOut:
        """Suspend a tenant (platform operators): its members lose access until reactivated."""
        tenant = self._lifecycle_target(session, ctx, tenant_id, own_permission=None)
        if tenant.status is TenantStatus.ARCHIVED:
            raise TenantNotFound()
        if tenant.status is not TenantStatus.SUSPENDED:
            now = self.clock.now()
            tenant.status = TenantStatus.SUSPENDED
            tenant.suspended_at = now
            tenant.updated_at = now
            session.flush()
        return lookups.tenant_out(tenant)

    def reactivate_tenant(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID
    ) -> TenantOut:
        """Lift a suspension (platform operators)."""
        tenant = self._lifecycle_target(session, ctx, tenant_id, own_permission=None)
        if tenant.status is TenantStatus.ARCHIVED:
            raise TenantNotFound()
        if tenant.status is TenantStatus.SUSPENDED:
            tenant.status = TenantStatus.ACTIVE
            tenant.suspended_at = None
            tenant.updated_at = self.clock.now()
            session.flush()
        return lookups.tenant_out(tenant)

    def _lifecycle_target(
        self,
        session: Session,
        ctx: RequestContext,
        tenant_id: uuid.UUID,
        *,
        own_permission: str | None,
    ) -> Tenant:
        bind_context(session, ctx)
        if can(ctx, _PLATFORM_MANAGE):
            return lookups.tenant_by_public_id(session, tenant_id)
        ref = lookups.active_tenant(ctx, tenant_id)
        if own_permission is None:
            raise PermissionDenied(
                f"missing permission {_PLATFORM_MANAGE!r}", permission=_PLATFORM_MANAGE
            )
        authorize(ctx, own_permission)
        return lookups.tenant_row(session, ref.id)
