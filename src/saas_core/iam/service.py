"""IAM operations: roles, the permission catalog and role assignments.

Services flush and never commit: the caller's unit of work commits or rolls back. Each method
checks the caller's permissions itself (defence in depth behind the route's declared permission)
and treats objects the caller cannot see as missing: another tenant's role is
:class:`~saas_core.errors.RoleNotFound`, never a 403.

Who may do what:

* read roles: ``roles:read`` in the active tenant (shared tenant roles and the tenant's custom
  roles); ``platform:iam:manage`` also sees platform roles;
* create and edit custom roles: ``roles:manage``, and only with permissions the caller holds;
* grant and revoke platform roles: ``platform:iam:manage``; break-glass roles only with a reason
  and an expiry no further than ``Settings.break_glass_max_duration``;
* grant and revoke extra tenant roles in the active tenant: ``members:manage``, and only roles whose
  permissions the caller holds.

Every role edit and every grant or revocation is recorded in ``security_events``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas_core.audit.models import Severity
from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext, TenantRef
from saas_core.errors import (
    AssignmentNotFound,
    BreakGlassTermsInvalid,
    MemberNotFound,
    RoleKeyTaken,
    RoleNotFound,
    SystemRoleImmutable,
    TenantRequired,
    UserNotFound,
    ValidationFailed,
)
from saas_core.iam import events, rows
from saas_core.iam.authorize import authorize, can, check_known, ensure_can_grant
from saas_core.iam.catalog import PERMISSIONS, ROLES_BY_KEY
from saas_core.iam.models import IamScope, Permission, Role, RoleAssignment, RolePermission
from saas_core.iam.schemas import (
    AssignmentCreate,
    AssignmentOut,
    PermissionOut,
    RoleCreate,
    RoleOut,
    RoleUpdate,
)
from saas_core.identity.models import User

_PLATFORM_IAM = "platform:iam:manage"


class IamService:
    """Roles, permissions and assignments, for one application (stateless between calls)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    # --- catalog ---------------------------------------------------------------------------

    def list_permissions(self, scope: IamScope | None = None) -> list[PermissionOut]:
        """The permission catalog (from code: it is the source of truth), in display order."""
        return [
            PermissionOut(key=p.key, description=p.description, scope=p.scope)
            for p in PERMISSIONS
            if scope is None or p.scope is scope
        ]

    # --- roles -----------------------------------------------------------------------------

    def list_roles(self, session: Session, ctx: RequestContext) -> list[RoleOut]:
        """Roles the caller may see: built-in tenant roles first, then custom, then platform."""
        conditions = []
        if ctx.tenant is not None and can(ctx, "roles:read"):
            conditions.append(Role.tenant_id == ctx.tenant.id)
            conditions.append(Role.tenant_id.is_(None) & (Role.scope == IamScope.TENANT))
        if can(ctx, _PLATFORM_IAM):
            conditions.append(Role.tenant_id.is_(None))
        if not conditions:
            authorize(ctx, "roles:read")  # raises: the caller may see no role at all
        roles = session.scalars(select(Role).where(or_(*conditions))).all()
        ordered = sorted(roles, key=rows.role_sort_key)
        return rows.roles_out(session, ordered)

    def get_role(self, session: Session, ctx: RequestContext, role_id: uuid.UUID) -> RoleOut:
        """One role visible to the caller; others (another tenant's) are ``RoleNotFound``."""
        role = self._visible_role(session, ctx, role_id)
        return rows.roles_out(session, [role])[0]

    def create_role(self, session: Session, ctx: RequestContext, data: RoleCreate) -> RoleOut:
        """Create a custom role in the active tenant.

        Its permissions must be tenant permissions of the catalog, all held by the caller; its key
        must be new in the tenant and not a built-in role's key.
        """
        tenant = _require_tenant(ctx)
        authorize(ctx, "roles:manage")
        keys = check_known(data.permissions, IamScope.TENANT)
        ensure_can_grant(ctx, keys)
        if data.key in ROLES_BY_KEY:
            raise RoleKeyTaken(f"{data.key!r} is a built-in role", key=data.key)
        taken = session.scalar(
            select(Role.id).where(Role.tenant_id == tenant.id, Role.key == data.key)
        )
        if taken is not None:
            raise RoleKeyTaken(f"the tenant already has a role {data.key!r}", key=data.key)
        now = self.clock.now()
        role = Role(
            tenant_id=tenant.id,
            key=data.key,
            name=data.name,
            description=data.description,
            scope=IamScope.TENANT,
            is_system=False,
            created_at=now,
            updated_at=now,
        )
        try:
            # A savepoint, so a concurrent insert of the same key leaves the session usable.
            with session.begin_nested():
                session.add(role)
                session.flush()
        except IntegrityError:
            raise RoleKeyTaken(
                f"the tenant already has a role {data.key!r}", key=data.key
            ) from None
        rows.link_permissions(session, role, keys)
        events.record_iam_event(
            session,
            ctx,
            event_type=events.ROLE_CHANGED,
            clock=self.clock,
            tenant_id=tenant.id,
            metadata={"role_id": str(role.public_id), "created": True, "added": sorted(keys)},
        )
        return rows.roles_out(session, [role])[0]

    def update_role(
        self, session: Session, ctx: RequestContext, role_id: uuid.UUID, data: RoleUpdate
    ) -> RoleOut:
        """Rename, describe or change the permissions of a custom role.

        Built-in roles are immutable (:class:`~saas_core.errors.SystemRoleImmutable`). Added
        permissions must be held by the caller. The change applies to every holder of the role
        from their next request on: permissions are re-read per request.
        """
        role = self._visible_role(session, ctx, role_id)
        if role.is_system or role.tenant_id is None:
            # Only tenants own editable roles; shared rows belong to the catalog.
            raise SystemRoleImmutable(f"{role.key!r} is a built-in role", key=role.key)
        authorize(ctx, "roles:manage")
        added: frozenset[str] = frozenset()
        removed: frozenset[str] = frozenset()
        if data.permissions is not None:
            # Validate everything before changing anything.
            wanted = check_known(data.permissions, IamScope.TENANT)
            current = rows.permission_keys(session, [role.id])[role.id]
            added, removed = wanted - current, current - wanted
            ensure_can_grant(ctx, added)
        now = self.clock.now()
        if data.name is not None:
            role.name = data.name
        if data.description is not None:
            role.description = data.description
        if removed:
            removed_ids = select(Permission.id).where(Permission.key.in_(removed))
            session.execute(
                delete(RolePermission).where(
                    RolePermission.role_id == role.id,
                    RolePermission.permission_id.in_(removed_ids),
                )
            )
        rows.link_permissions(session, role, added)
        # Bumped explicitly: link rows changing leaves the role row itself untouched.
        role.updated_at = now
        session.flush()
        if added or removed:
            events.record_iam_event(
                session,
                ctx,
                event_type=events.ROLE_CHANGED,
                clock=self.clock,
                tenant_id=role.tenant_id,
                metadata={
                    "role_id": str(role.public_id),
                    "added": sorted(added),
                    "removed": sorted(removed),
                },
            )
        return rows.roles_out(session, [role])[0]

    # --- assignments -----------------------------------------------------------------------

    def create_assignment(
        self, session: Session, ctx: RequestContext, data: AssignmentCreate
    ) -> AssignmentOut:
        """Grant a role to a user.

        A platform role gives a platform assignment (needs ``platform:iam:manage``); a break-glass
        role additionally needs a reason and an expiry within the configured maximum, and its grant
        is recorded as a high-severity security event. A tenant role gives an extra grant in the
        active tenant to one of its members (needs ``members:manage`` and every permission of the
        role).
        """
        role = self._visible_role(session, ctx, data.role_id)
        now = self.clock.now()
        if data.expires_at is not None and data.expires_at <= now:
            raise ValidationFailed(
                "expires_at must be in the future", errors=[{"loc": ["expires_at"]}]
            )
        spec = ROLES_BY_KEY.get(role.key) if role.is_system else None
        break_glass = spec is not None and spec.break_glass
        tenant_id: int | None = None
        if role.scope is IamScope.PLATFORM:
            authorize(ctx, _PLATFORM_IAM)
            if break_glass:
                self._check_break_glass_terms(data)
        else:
            tenant = _require_tenant(ctx)
            authorize(ctx, "members:manage")
            ensure_can_grant(ctx, rows.permission_keys(session, [role.id])[role.id])
            tenant_id = tenant.id
        user = session.scalar(
            select(User).where(User.public_id == data.user_id, User.deleted_at.is_(None))
        )
        if user is None:
            raise UserNotFound()
        if tenant_id is not None and not rows.is_member(session, tenant_id, user.id):
            raise MemberNotFound()
        assignment = RoleAssignment(
            tenant_id=tenant_id,
            user_id=user.id,
            role_id=role.id,
            is_break_glass=break_glass,
            reason=data.reason.strip() if data.reason else None,
            granted_by_id=ctx.user.id if ctx.user else None,
            expires_at=data.expires_at,
            created_at=now,
        )
        session.add(assignment)
        session.flush()
        events.record_iam_event(
            session,
            ctx,
            event_type=events.BREAK_GLASS_GRANTED if break_glass else events.ASSIGNMENT_GRANTED,
            clock=self.clock,
            severity=Severity.HIGH if break_glass else Severity.MEDIUM,
            tenant_id=tenant_id,
            user_id=user.id,
            metadata=rows.assignment_metadata(assignment, role),
        )
        return rows.assignment_out(assignment, role, user)

    def revoke_assignment(
        self, session: Session, ctx: RequestContext, assignment_id: uuid.UUID
    ) -> AssignmentOut:
        """Revoke an assignment (sets ``revoked_at``); revoking twice changes nothing more.

        Platform assignments need ``platform:iam:manage``; tenant ones ``members:manage`` in their
        tenant. Assignments the caller cannot see are ``AssignmentNotFound``.
        """
        row = session.execute(
            select(RoleAssignment, Role, User)
            .join(Role, Role.id == RoleAssignment.role_id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(RoleAssignment.public_id == assignment_id)
        ).one_or_none()
        if row is None:
            raise AssignmentNotFound()
        assignment, role, user = row
        if assignment.tenant_id is None:
            if not can(ctx, _PLATFORM_IAM):
                raise AssignmentNotFound()
        else:
            if ctx.tenant is None or assignment.tenant_id != ctx.tenant.id:
                raise AssignmentNotFound()
            authorize(ctx, "members:manage")
        if assignment.revoked_at is None:
            now = self.clock.now()
            assignment.revoked_at = now
            assignment.revoked_by_id = ctx.user.id if ctx.user else None
            session.flush()
            events.record_iam_event(
                session,
                ctx,
                event_type=events.ASSIGNMENT_REVOKED,
                clock=self.clock,
                severity=Severity.MEDIUM,
                tenant_id=assignment.tenant_id,
                user_id=user.id,
                metadata=rows.assignment_metadata(assignment, role),
            )
        return rows.assignment_out(assignment, role, user)

    # --- helpers ---------------------------------------------------------------------------

    def _check_break_glass_terms(self, data: AssignmentCreate) -> None:
        if not data.reason or not data.reason.strip():
            raise BreakGlassTermsInvalid("a break-glass grant needs a reason")
        if data.expires_at is None:
            raise BreakGlassTermsInvalid("a break-glass grant needs an expiry")
        limit = self.clock.now() + self.settings.break_glass_max_duration
        if data.expires_at > limit:
            raise BreakGlassTermsInvalid(
                f"a break-glass grant lasts at most {self.settings.break_glass_max_duration}"
            )

    def _visible_role(self, session: Session, ctx: RequestContext, role_id: uuid.UUID) -> Role:
        role = session.scalar(select(Role).where(Role.public_id == role_id))
        if role is None:
            raise RoleNotFound()
        if role.tenant_id is not None:
            visible = ctx.tenant is not None and role.tenant_id == ctx.tenant.id
        elif role.scope is IamScope.TENANT:
            visible = ctx.tenant is not None or can(ctx, _PLATFORM_IAM)
        else:
            visible = can(ctx, _PLATFORM_IAM)
        if not visible:
            raise RoleNotFound()
        if role.scope is IamScope.TENANT and not can(ctx, _PLATFORM_IAM):
            authorize(ctx, "roles:read")
        return role


def _require_tenant(ctx: RequestContext) -> TenantRef:
    if ctx.tenant is None:
        raise TenantRequired()
    return ctx.tenant
