"""Invitation operations of the tenancy service: invite by email, list, revoke, accept.

An invitation is single-use and expires (``Settings.invitation_ttl``, 7 days by default). Its
token (32 random bytes) goes out by email through the :class:`~saas_core.identity.ports.EmailSender`
port and only its SHA-256 is stored. Inviting an address again replaces its pending invitation.

Accepting: the invitee must be signed in **with the invited address** (a token forwarded to
someone else does not let them in; they get :class:`~saas_core.errors.InvitationEmailMismatch`).
Holding the token proves access to that mailbox, so the address need not be verified first. The
invitee is not a member yet, so the invitation is read under ``app.token_hash`` (PostgreSQL's
``token_read`` policy: exactly the row whose token they hold); once token and address check out,
the membership is written bound to the inviting tenant. A conditional update marks the
invitation accepted, so of two concurrent accepts of one token only one succeeds. Unknown,
used, revoked and expired tokens all answer :class:`~saas_core.errors.InvalidToken`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from saas_core.clock import Clock
from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.db.tenant import bind_context, invitation_token_scope, tenant_scope
from saas_core.errors import (
    AlreadyMember,
    InvalidToken,
    InvitationEmailMismatch,
    InvitationNotFound,
)
from saas_core.iam.authorize import authorize, ensure_can_grant
from saas_core.iam.models import Role
from saas_core.identity.models import User
from saas_core.identity.ports import EmailMessage, EmailSender, normalize_email
from saas_core.identity.tokens import hash_token, new_token
from saas_core.tenancy import lookups
from saas_core.tenancy.models import (
    InvitationStatus,
    MemberType,
    TenantInvitation,
    TenantMember,
    TenantStatus,
)
from saas_core.tenancy.schemas import InvitationCreate, InvitationOut, MyTenantOut
from saas_core.tenancy.seats import SeatPolicy

#: Longest token worth hashing.
_MAX_TOKEN_LENGTH = 512


class InvitationOperations:
    """The invitation half of :class:`~saas_core.tenancy.service.TenancyService`."""

    settings: Settings
    clock: Clock
    seat_policy: SeatPolicy
    email_sender: EmailSender

    def invite_member(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID, data: InvitationCreate
    ) -> InvitationOut:
        """Invite ``data.email`` with a role (``members:manage``) and email them the token."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        authorize(ctx, "members:manage")
        inviter = lookups.require_user(ctx)
        email = normalize_email(data.email)
        role = lookups.tenant_role(session, ref.id, data.role)
        ensure_can_grant(ctx, lookups.role_permissions(session, role))
        already = session.scalar(
            select(TenantMember.id)
            .join(User, User.id == TenantMember.user_id)
            .where(TenantMember.tenant_id == ref.id, User.email == email, User.deleted_at.is_(None))
        )
        if already is not None:
            raise AlreadyMember()
        if data.member_type is MemberType.MEMBER:
            self.seat_policy.check_can_add(session, ref.id)
        now = self.clock.now()
        session.execute(
            update(TenantInvitation)
            .where(
                TenantInvitation.tenant_id == ref.id,
                TenantInvitation.email == email,
                TenantInvitation.status == InvitationStatus.PENDING,
            )
            .values(status=InvitationStatus.REVOKED, revoked_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        token = new_token()
        invitation = TenantInvitation(
            tenant_id=ref.id,
            email=email,
            role_id=role.id,
            member_type=data.member_type,
            token_hash=token.hash,
            status=InvitationStatus.PENDING,
            expires_at=now + self.settings.invitation_ttl,
            invited_by_id=inviter.id,
            created_at=now,
            updated_at=now,
        )
        session.add(invitation)
        session.flush()
        tenant = lookups.tenant_row(session, ref.id)
        self.email_sender.send(
            EmailMessage(
                to=email,
                subject=f"You are invited to join {tenant.name}",
                text=(
                    f"You have been invited to join {tenant.name} as {role.name}.\n\n"
                    f"Sign in with this address and accept the invitation with this code:\n\n"
                    f"{token.raw}\n\nIt expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
                ),
                kind="tenant_invitation",
                token=token.raw,
            )
        )
        return self._invitation_out(invitation, role.key, now)

    def list_invitations(
        self, session: Session, ctx: RequestContext, tenant_id: uuid.UUID
    ) -> list[InvitationOut]:
        """Pending invitations of the active tenant, newest first (``members:manage``)."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        authorize(ctx, "members:manage")
        rows = session.execute(
            select(TenantInvitation, Role.key)
            .join(Role, Role.id == TenantInvitation.role_id)
            .where(
                TenantInvitation.tenant_id == ref.id,
                TenantInvitation.status == InvitationStatus.PENDING,
            )
            .order_by(TenantInvitation.created_at.desc(), TenantInvitation.id.desc())
        ).all()
        now = self.clock.now()
        return [self._invitation_out(invitation, key, now) for invitation, key in rows]

    def revoke_invitation(
        self,
        session: Session,
        ctx: RequestContext,
        tenant_id: uuid.UUID,
        invitation_id: uuid.UUID,
    ) -> InvitationOut:
        """Revoke an invitation of the active tenant (``members:manage``); idempotent."""
        ref = lookups.active_tenant(ctx, tenant_id)
        bind_context(session, ctx)
        authorize(ctx, "members:manage")
        row = session.execute(
            select(TenantInvitation, Role.key)
            .join(Role, Role.id == TenantInvitation.role_id)
            .where(
                TenantInvitation.tenant_id == ref.id,
                TenantInvitation.public_id == invitation_id,
            )
        ).one_or_none()
        if row is None:
            raise InvitationNotFound()
        invitation, key = row
        now = self.clock.now()
        if invitation.status is InvitationStatus.PENDING:
            invitation.status = InvitationStatus.REVOKED
            invitation.revoked_at = now
            invitation.updated_at = now
            session.flush()
        return self._invitation_out(invitation, key, now)

    def accept_invitation(self, session: Session, ctx: RequestContext, token: str) -> MyTenantOut:
        """Join the tenant that sent ``token``; the caller must be signed in as the invitee."""
        user = lookups.require_user(ctx)
        bind_context(session, ctx)
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidToken()
        token_hash = hash_token(token)
        with invitation_token_scope(session, token_hash):
            invitation = session.scalar(
                select(TenantInvitation).where(TenantInvitation.token_hash == token_hash)
            )
        now = self.clock.now()
        if (
            invitation is None
            or invitation.status is not InvitationStatus.PENDING
            or now >= invitation.expires_at
        ):
            raise InvalidToken()
        if normalize_email(user.email) != invitation.email:
            raise InvitationEmailMismatch()
        tenant = lookups.tenant_row(session, invitation.tenant_id)
        if tenant.status is not TenantStatus.ACTIVE:
            raise InvalidToken()
        with tenant_scope(session, tenant.id, user_id=user.id):
            existing = session.scalar(
                select(TenantMember.id).where(
                    TenantMember.tenant_id == tenant.id, TenantMember.user_id == user.id
                )
            )
            if existing is not None:
                raise AlreadyMember()
            if invitation.member_type is MemberType.MEMBER:
                self.seat_policy.check_can_add(session, tenant.id)
            claimed = session.execute(
                update(TenantInvitation)
                .where(
                    TenantInvitation.id == invitation.id,
                    TenantInvitation.status == InvitationStatus.PENDING,
                )
                .values(
                    status=InvitationStatus.ACCEPTED,
                    accepted_at=now,
                    accepted_by_id=user.id,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if not isinstance(claimed, CursorResult) or claimed.rowcount != 1:
                raise InvalidToken()
            session.add(
                TenantMember(
                    tenant_id=tenant.id,
                    user_id=user.id,
                    role_id=invitation.role_id,
                    member_type=invitation.member_type,
                    invited_by_id=invitation.invited_by_id,
                    joined_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
            role_key = session.scalar(select(Role.key).where(Role.id == invitation.role_id))
        return MyTenantOut(
            **lookups.tenant_out(tenant).model_dump(),
            role=role_key,
            member_type=invitation.member_type,
            active=False,
        )

    @staticmethod
    def _invitation_out(
        invitation: TenantInvitation, role_key: str, now: datetime
    ) -> InvitationOut:
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
