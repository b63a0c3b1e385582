"""Member operations of the tenancy service: list, change role or type, remove.

Rules:

* the last owner can be neither removed nor demoted (:class:`~saas_core.errors.LastOwner`);
* nobody hands out or takes away permissions they do not hold: changing a member's role needs
  every permission of both the old and the new role, removing someone needs every permission of
  their role (an admin cannot demote or remove an owner); leaving a tenant oneself needs none;
* a guest or service account becoming a ``member`` takes a seat (the seat policy decides);
* removal also revokes the member's extra role assignments in the tenant. It takes effect on
  the member's next request, because the request context re-reads membership every time.
"""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session

from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.db.tenant import bind_context
from saas_core.errors import LastOwner
from saas_core.iam.authorize import authorize, ensure_can_grant
from saas_core.iam.models import Role, RoleAssignment
from saas_core.identity.ports import EmailSender
from saas_core.tenancy import lookups
from saas_core.tenancy.models import MemberType
from saas_core.tenancy.schemas import MemberOut, MemberUpdate
from saas_core.tenancy.seats import SeatPolicy


class MemberOperations:
    """The member half of :class:`~saas_core.tenancy.service.TenancyService`."""

    settings: Settings
    clock: Clock
    seat_policy: SeatPolicy
    email_sender: EmailSender

    def list_members(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID
    ) -> list[MemberOut]:
        """Members of the active tenant, oldest first (``members:read``)."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        authorize(ctx, "members:read")
        return [lookups.member_out(*row) for row in lookups.member_rows(session, ref.id)]

    def get_member(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID, user_id: uuid.UUID
    ) -> MemberOut:
        """One member of the active tenant (``members:read``)."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        authorize(ctx, "members:read")
        return lookups.member_out(*lookups.member_row(session, ref.id, user_id))

    def update_member(
        self,
        session: Session,
        ctx: RequestContext,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        data: MemberUpdate,
    ) -> MemberOut:
        """Change a member's role and/or member type (``members:manage``)."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        authorize(ctx, "members:manage")
        member, user, role = lookups.member_row(session, ref.id, user_id)
        new_role = role
        if data.role is not None and data.role != role.key:
            new_role = lookups.tenant_role(session, ref.id, data.role)
            ensure_can_grant(ctx, lookups.role_permissions(session, role))
            ensure_can_grant(ctx, lookups.role_permissions(session, new_role))
            if lookups.is_owner_role(role) and not lookups.is_owner_role(new_role):
                self._keep_an_owner(session, ref.id, role)
            member.role_id = new_role.id
        if data.member_type is not None and data.member_type is not member.member_type:
            if data.member_type is MemberType.MEMBER:
                self.seat_policy.check_can_add(session, ref.id)
            member.member_type = data.member_type
        member.updated_at = self.clock.now()
        session.flush()
        return lookups.member_out(member, user, new_role)

    def remove_member(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """Remove a member (``members:manage``; anyone may leave a tenant themselves)."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        leaving = ctx.user is not None and ctx.user.public_id == user_id
        if not leaving:
            authorize(ctx, "members:manage")
        member, _user, role = lookups.member_row(session, ref.id, user_id)
        if not leaving:
            ensure_can_grant(ctx, lookups.role_permissions(session, role))
        if lookups.is_owner_role(role):
            self._keep_an_owner(session, ref.id, role)
        session.execute(
            update(RoleAssignment)
            .where(
                RoleAssignment.tenant_id == ref.id,
                RoleAssignment.user_id == member.user_id,
                RoleAssignment.revoked_at.is_(None),
            )
            .values(revoked_at=self.clock.now())
            .execution_options(synchronize_session=False)
        )
        session.delete(member)
        session.flush()

    def _keep_an_owner(self, session: Session, tenant_id: int, owner: Role) -> None:
        if lookups.count_owners(session, tenant_id, owner.id) <= 1:
            raise LastOwner()
