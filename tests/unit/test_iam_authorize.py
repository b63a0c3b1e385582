"""authorize(), can(), require() and the in-memory resolution of role keys."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.errors import PermissionDenied, UnknownPermission
from saas_core.iam import (
    authorize,
    can,
    check_known,
    ensure_can_grant,
    is_break_glass,
    permissions_for_roles,
    require,
)
from saas_core.iam.catalog import (
    PERMISSIONS,
    ROLES,
    ROLES_BY_KEY,
    TENANT_PERMISSIONS,
    RoleSpec,
)
from saas_core.iam.models import IamScope

ALL_KEYS = [p.key for p in PERMISSIONS]


def _ctx(
    permissions: frozenset[str] = frozenset(), platform: frozenset[str] = frozenset()
) -> RequestContext:
    return RequestContext(
        auth_method=AuthMethod.SESSION,
        user=UserRef(id=1, public_id=uuid.uuid4(), email="a@example.com"),
        tenant=TenantRef(id=1, public_id=uuid.uuid4(), slug="acme", status="active"),
        role="member",
        permissions=permissions,
        platform_permissions=platform,
    )


@pytest.mark.parametrize("permission", ALL_KEYS)
def test_an_anonymous_context_is_denied_everything(permission: str) -> None:
    ctx = RequestContext()
    assert not can(ctx, permission)
    with pytest.raises(PermissionDenied) as raised:
        authorize(ctx, permission)
    assert raised.value.extra["permission"] == permission
    assert raised.value.status == 403


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.key)
def test_each_role_allows_exactly_its_permissions(role: RoleSpec) -> None:
    granted = permissions_for_roles([role.key])
    ctx = _ctx(platform=granted) if role.scope is IamScope.PLATFORM else _ctx(permissions=granted)
    for key in ALL_KEYS:
        allowed = key in role.permissions
        assert can(ctx, key) is allowed, (role.key, key)
        if allowed:
            authorize(ctx, key)
        else:
            with pytest.raises(PermissionDenied):
                authorize(ctx, key)


@given(
    held=st.frozensets(st.sampled_from(ALL_KEYS)),
    asked=st.one_of(st.sampled_from(ALL_KEYS), st.text(max_size=30)),
)
def test_authorize_allows_only_what_is_held(held: frozenset[str], asked: str) -> None:
    ctx = _ctx(permissions=held & TENANT_PERMISSIONS, platform=held - TENANT_PERMISSIONS)
    assert can(ctx, asked) is (asked in held)
    if asked in held:
        authorize(ctx, asked)
    else:
        with pytest.raises(PermissionDenied):
            authorize(ctx, asked)


def test_unknown_permissions_are_denied_at_check_time_and_refused_at_declaration() -> None:
    ctx = _ctx(permissions=TENANT_PERMISSIONS)
    with pytest.raises(PermissionDenied):
        authorize(ctx, "projects:wirte")
    with pytest.raises(UnknownPermission):
        require("projects:wirte")
    assert require("projects:write") == "projects:write"
    assert require("platform:impersonate", IamScope.PLATFORM) == "platform:impersonate"
    with pytest.raises(UnknownPermission):
        require("platform:impersonate", IamScope.TENANT)
    with pytest.raises(UnknownPermission):
        require("projects:read", IamScope.PLATFORM)
    assert check_known(["projects:read", "projects:read"], IamScope.TENANT) == {"projects:read"}
    with pytest.raises(UnknownPermission):
        check_known(["projects:read", "nope"], IamScope.TENANT)


def test_tenant_permissions_do_not_grant_platform_ones() -> None:
    owner = _ctx(permissions=permissions_for_roles(["owner"]))
    assert not any(can(owner, key) for key in ALL_KEYS if key.startswith("platform:"))


def test_ensure_can_grant_refuses_permissions_the_caller_lacks() -> None:
    admin = _ctx(permissions=ROLES_BY_KEY["admin"].permissions)
    ensure_can_grant(admin, ["projects:write", "members:manage"])
    ensure_can_grant(admin, [])
    with pytest.raises(PermissionDenied) as raised:
        ensure_can_grant(admin, ["projects:write", "billing:manage"])
    assert raised.value.extra["permission"] == "billing:manage"


def test_break_glass_is_recognised_from_the_permission_set() -> None:
    assert is_break_glass(_ctx(platform=permissions_for_roles(["break_glass"])))
    assert not is_break_glass(_ctx(platform=permissions_for_roles(["platform_admin"])))
    assert not is_break_glass(_ctx(permissions=permissions_for_roles(["owner"])))


def test_permissions_for_roles_unions_roles_and_filters_custom_grants() -> None:
    member, billing = ROLES_BY_KEY["member"], ROLES_BY_KEY["billing"]
    assert permissions_for_roles(["member", "billing"]) == member.permissions | billing.permissions
    assert permissions_for_roles([]) == frozenset()
    assert permissions_for_roles(["no-such-role"]) == frozenset()
    got = permissions_for_roles(["viewer"], ["projects:write", "platform:impersonate", "made:up"])
    # Custom grants are tenant permissions only: platform and unknown keys are dropped.
    assert got == ROLES_BY_KEY["viewer"].permissions | {"projects:write"}
    assert isinstance(got, frozenset)
    assert permissions_for_roles(["owner", "owner"]) is permissions_for_roles(["owner"])
