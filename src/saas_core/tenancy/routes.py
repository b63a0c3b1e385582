"""``/tenants``, their members and invitations, and ``/invitations/accept`` over HTTP.

The tenant a request acts in is the caller's **active tenant**, taken from the server-side
session, never from the request. Routes under ``/tenants/{tenantId}`` name the tenant, but
``{tenantId}`` must be the active tenant's id: any other id (a tenant the caller is not in, or
one of their other tenants) answers 404 ``tenant.not_found``, exactly as if it did not exist.
Permissions are those of the caller's role in the active tenant; the pipeline checks the
declared permission before the handler runs, so a caller without it gets a 403 whatever the id
(that answer depends only on their own role and reveals nothing about the tenant named).

The tenancy service re-checks permissions and the active-tenant rule itself (defence in depth).
"""

from __future__ import annotations

from saas_core.api.contract import AUTHENTICATED, Call, RouteTable, permission, platform
from saas_core.api.pagination import Page, PageQuery
from saas_core.errors import SeatLimitReached
from saas_core.tenancy import lookups, pages
from saas_core.tenancy.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    MyTenantOut,
    TenantCreate,
    TenantOut,
    TenantUpdate,
)

routes = RouteTable()

_TENANTS = ("tenants",)
_MEMBERS = ("members",)
_INVITATIONS = ("invitations",)
_ACTIVE = (
    "`tenantId` must be the caller's active tenant (switch with `PUT /me/active-tenant`); any "
    "other id is a 404 `tenant.not_found`."
)
_PAGED = (
    "Cursor pagination: `limit` (1..100, default 50) and `cursor` (the previous page's "
    "`next_cursor`); the response is `{items, next_cursor}`, `next_cursor` null on the last page."
)

# --- tenants --------------------------------------------------------------------------------------


@routes.route(
    "POST",
    "/tenants",
    access=AUTHENTICATED,
    request_model=TenantCreate,
    response_model=TenantOut,
    status_code=201,
    audit_action="tenant.create",
    personal=True,
    idempotent=True,
    tags=_TENANTS,
    summary="Create a tenant; the caller becomes its owner",
    description=(
        "Any signed-in user may create a tenant. The session's active tenant does not change: "
        "switch to the new tenant to work in it. A slug in use is a 409 `tenant.slug_taken`. "
        "Accepts an `Idempotency-Key`."
    ),
)
def create_tenant(call: Call) -> TenantOut:
    """Create a tenant owned by the caller."""
    tenant = call.core.tenancy.create_tenant(call.session, call.ctx, call.body_as(TenantCreate))
    call.audit("tenant", tenant.id)
    return tenant


@routes.route(
    "GET",
    "/tenants",
    access=AUTHENTICATED,
    query_model=PageQuery,
    response_model=Page[MyTenantOut],
    tags=_TENANTS,
    summary="List the caller's tenants (paginated)",
    description=(
        "Every tenant the caller is a member of, except archived ones, oldest first, with the "
        f"caller's role and member type in each and which one is active. {_PAGED}"
    ),
)
def list_tenants(call: Call) -> Page[MyTenantOut]:
    """A page of the caller's tenants.

    Reads the caller's own memberships, visible whatever tenant is bound (``self_read``). A
    custom role of a tenant other than the active one is not readable, hence ``role`` null.
    """
    return pages.my_tenants(call.session, call.ctx, call.query_as(PageQuery))


@routes.route(
    "GET",
    "/tenants/{tenantId}",
    access=AUTHENTICATED,
    response_model=TenantOut,
    tags=_TENANTS,
    summary="Read the active tenant",
    description=(
        "Needs `tenant:read` in the active tenant. "
        f"{_ACTIVE} Your other tenants are listed, with their details, by `GET /tenants`. "
        "Platform operators holding `platform:tenants:read` may read any tenant."
    ),
)
def get_tenant(call: Call) -> TenantOut:
    """The active tenant, or any tenant for platform readers."""
    return call.core.tenancy.get_tenant(call.session, call.ctx, call.path_id("tenantId"))


@routes.route(
    "PATCH",
    "/tenants/{tenantId}",
    access=permission("tenant:manage"),
    request_model=TenantUpdate,
    response_model=TenantOut,
    audit_action="tenant.update",
    tags=_TENANTS,
    summary="Rename the active tenant or change its slug or metadata",
    description=f"Omitted fields stay as they are. {_ACTIVE}",
)
def update_tenant(call: Call) -> TenantOut:
    """Apply the given changes to the active tenant."""
    data = call.body_as(TenantUpdate)
    call.audit(fields=sorted(data.model_fields_set))
    return call.core.tenancy.update_tenant(call.session, call.ctx, call.path_id("tenantId"), data)


@routes.route(
    "DELETE",
    "/tenants/{tenantId}",
    access=permission("tenant:delete"),
    audit_action="tenant.archive",
    tags=_TENANTS,
    summary="Archive the active tenant (soft delete)",
    description=(
        "The tenant is archived: it disappears from `GET /tenants` and can no longer be entered; "
        f"its data is kept. Needs `tenant:delete` (owners). {_ACTIVE}"
    ),
)
def archive_tenant(call: Call) -> None:
    """Archive the active tenant."""
    call.core.tenancy.archive_tenant(call.session, call.ctx, call.path_id("tenantId"))


@routes.route(
    "POST",
    "/tenants/{tenantId}/suspend",
    access=platform("platform:tenants:manage"),
    response_model=TenantOut,
    audit_action="tenant.suspend",
    tags=_TENANTS,
    summary="Suspend a tenant (platform operators)",
    description=(
        "Any tenant, by a platform operator holding `platform:tenants:manage`: its members "
        "lose access until it is reactivated. An archived tenant is a 404."
    ),
)
def suspend_tenant(call: Call) -> TenantOut:
    """Suspend a tenant."""
    return call.core.tenancy.suspend_tenant(call.session, call.ctx, call.path_id("tenantId"))


@routes.route(
    "POST",
    "/tenants/{tenantId}/reactivate",
    access=platform("platform:tenants:manage"),
    response_model=TenantOut,
    audit_action="tenant.reactivate",
    tags=_TENANTS,
    summary="Lift a tenant's suspension (platform operators)",
    description="Needs `platform:tenants:manage`. An archived tenant is a 404.",
)
def reactivate_tenant(call: Call) -> TenantOut:
    """Reactivate a suspended tenant."""
    return call.core.tenancy.reactivate_tenant(call.session, call.ctx, call.path_id("tenantId"))


# --- members --------------------------------------------------------------------------------------


@routes.route(
    "GET",
    "/tenants/{tenantId}/members",
    access=permission("members:read"),
    query_model=PageQuery,
    response_model=Page[MemberOut],
    tags=_MEMBERS,
    summary="List the active tenant's members (paginated)",
    description=f"Oldest membership first. {_ACTIVE} {_PAGED}",
)
def list_members(call: Call) -> Page[MemberOut]:
    """A page of the active tenant's members."""
    tenant = lookups.active_tenant(call.ctx, call.path_id("tenantId"))
    return pages.members(call.session, tenant.id, call.query_as(PageQuery))


@routes.route(
    "POST",
    "/tenants/{tenantId}/members",
    access=permission("members:manage"),
    request_model=InvitationCreate,
    response_model=InvitationOut,
    status_code=201,
    audit_action="member.invite",
    idempotent=True,
    errors=(SeatLimitReached,),  # when a billing seat policy is plugged in
    tags=_MEMBERS,
    summary="Invite someone by email to join the active tenant",
    description=(
        "Creates an invitation with the given role and emails its single-use token; the "
        "response is the invitation (never the token). Inviting an address again replaces its "
        "pending invitation. Nobody can invite into a role with permissions they do not hold "
        "(403); an existing member is a 409 `member.already_member`. "
        f"Accepts an `Idempotency-Key`. {_ACTIVE}"
    ),
)
def invite_member(call: Call) -> InvitationOut:
    """Invite an email address into the active tenant."""
    invitation = call.core.tenancy.invite_member(
        call.session, call.ctx, call.path_id("tenantId"), call.body_as(InvitationCreate)
    )
    call.audit("invitation", invitation.id, role=invitation.role)
    return invitation


@routes.route(
    "PATCH",
    "/tenants/{tenantId}/members/{userId}",
    access=permission("members:manage"),
    request_model=MemberUpdate,
    response_model=MemberOut,
    audit_action="member.update",
    errors=(SeatLimitReached,),
    tags=_MEMBERS,
    summary="Change a member's role or member type",
    description=(
        "Changing a role needs every permission of both the old and the new role. The last "
        f"owner cannot be demoted: 409 `member.last_owner`. {_ACTIVE}"
    ),
)
def update_member(call: Call) -> MemberOut:
    """Change the role and/or member type of a member of the active tenant."""
    data = call.body_as(MemberUpdate)
    call.audit(**data.model_dump(mode="json", exclude_unset=True))
    return call.core.tenancy.update_member(
        call.session, call.ctx, call.path_id("tenantId"), call.path_id("userId"), data
    )


@routes.route(
    "DELETE",
    "/tenants/{tenantId}/members/{userId}",
    access=AUTHENTICATED,
    tenant_required=True,
    audit_action="member.remove",
    tags=_MEMBERS,
    summary="Remove a member, or leave the tenant",
    description=(
        "Removing someone else needs `members:manage` and every permission of their role (an "
        "admin cannot remove an owner); anyone may remove themselves (leave). The last owner "
        "can neither be removed nor leave: 409 `member.last_owner`. Their extra role "
        f"assignments in the tenant are revoked too. {_ACTIVE}"
    ),
)
def remove_member(call: Call) -> None:
    """Remove a member of the active tenant (or the caller leaving it)."""
    call.core.tenancy.remove_member(
        call.session, call.ctx, call.path_id("tenantId"), call.path_id("userId")
    )


# --- invitations ----------------------------------------------------------------------------------


@routes.route(
    "GET",
    "/tenants/{tenantId}/invitations",
    access=permission("members:manage"),
    query_model=PageQuery,
    response_model=Page[InvitationOut],
    tags=_INVITATIONS,
    summary="List the active tenant's pending invitations (paginated)",
    description=(
        "Invitations not yet accepted or revoked, oldest first; one past its expiry shows "
        "`status: expired`. Needs `members:manage` (it lists invitees' addresses). "
        f"{_ACTIVE} {_PAGED}"
    ),
)
def list_invitations(call: Call) -> Page[InvitationOut]:
    """A page of the active tenant's pending invitations."""
    tenant = lookups.active_tenant(call.ctx, call.path_id("tenantId"))
    now = call.core.clock.now()
    return pages.invitations(call.session, tenant.id, call.query_as(PageQuery), now)


@routes.route(
    "DELETE",
    "/tenants/{tenantId}/invitations/{invitationId}",
    access=permission("members:manage"),
    audit_action="invitation.revoke",
    tags=_INVITATIONS,
    summary="Revoke an invitation",
    description=(
        "Its token stops working. Revoking an invitation that is no longer pending changes "
        f"nothing. An invitation of another tenant is a 404 `invitation.not_found`. {_ACTIVE}"
    ),
)
def revoke_invitation(call: Call) -> None:
    """Revoke an invitation of the active tenant."""
    call.core.tenancy.revoke_invitation(
        call.session, call.ctx, call.path_id("tenantId"), call.path_id("invitationId")
    )


@routes.route(
    "POST",
    "/invitations/accept",
    access=AUTHENTICATED,
    request_model=InvitationAccept,
    response_model=MyTenantOut,
    audit_action="invitation.accept",
    personal=True,
    idempotent=True,
    errors=(SeatLimitReached,),
    tags=_INVITATIONS,
    summary="Accept an invitation with the token from its email",
    description=(
        "The caller must be signed in with the invited address (403 "
        "`invitation.email_mismatch` otherwise). Unknown, used, revoked and expired tokens are "
        "all a 422 `auth.invalid_token`. The caller becomes a member; the session's active "
        "tenant does not change (switch with `PUT /me/active-tenant`). Accepts an "
        "`Idempotency-Key`."
    ),
)
def accept_invitation(call: Call) -> MyTenantOut:
    """Join the tenant that sent the token."""
    token = call.body_as(InvitationAccept).token
    tenant = call.core.tenancy.accept_invitation(call.session, call.ctx, token)
    call.audit("tenant", tenant.id)
    return tenant
