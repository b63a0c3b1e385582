"""Route declarations are checked when they are made, not when a request arrives."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel

from saas_core.api.contract import (
    AUTHENTICATED,
    PUBLIC,
    WEBHOOK,
    AccessKind,
    Call,
    Route,
    RouteTable,
    api_key,
    permission,
    platform,
)
from saas_core.errors import UnknownPermission


class In(BaseModel):
    name: str


def handler(call: Call) -> None:
    return None


def make(**options: object) -> Route:
    base: dict[str, object] = {
        "method": "GET",
        "path": "/things",
        "name": "things",
        "handler": handler,
        "access": PUBLIC,
    }
    base.update(options)
    return Route(**base)  # type: ignore[arg-type]


def test_route_normalises_method_and_reads_path_parameters() -> None:
    route = make(method="get", path="/tenants/{tenantId}/members/{userId}")
    assert route.method == "GET"
    assert route.path_params == ("tenantId", "userId")
    assert route.key == ("GET", "/tenants/{tenantId}/members/{userId}")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "TRACE"}, "unsupported method"),
        ({"path": "things"}, "malformed path"),
        ({"path": "/a/{x}/{x}"}, "repeated path parameter"),
        ({"path": "/a/:id"}, "malformed path"),
        ({"method": "POST"}, "need an audit_action"),
        ({"method": "DELETE", "access": AUTHENTICATED}, "need an audit_action"),
        ({"idempotent": True}, "only unsafe methods"),
        ({"request_model": In}, "take no body"),
    ],
)
def test_route_rejects_mistakes(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**options)


def test_webhooks_need_no_audit_action() -> None:
    assert make(method="POST", access=WEBHOOK).audit_action is None


def test_tenant_required_defaults_to_tenant_permission_routes() -> None:
    assert make(access=permission("projects:read")).tenant_required is True
    assert make(access=AUTHENTICATED).tenant_required is False
    assert make(access=platform("platform:audit:read")).tenant_required is False
    assert make(access=permission("tenant:read"), tenant_required=False).tenant_required is False


def test_access_helpers() -> None:
    assert permission("projects:read").kind is AccessKind.PERMISSION
    assert platform("platform:audit:read").permission == "platform:audit:read"
    assert api_key().permission is None
    assert not PUBLIC.authenticates
    assert not WEBHOOK.authenticates
    assert api_key("usage:record").authenticates


@pytest.mark.parametrize(
    ("declare", "name"),
    [
        (permission, "projects:wirte"),  # a typo
        (permission, "platform:audit:read"),  # a platform permission on a tenant route
        (platform, "audit:read"),  # a tenant permission on a platform route
        (platform, "platform:nothing"),
        (api_key, "widgets:read"),
        (api_key, "platform:iam:manage"),  # API key routes check tenant permissions
    ],
)
def test_access_helpers_refuse_names_outside_the_catalog(
    declare: Callable[[str], object], name: str
) -> None:
    # Declaring the route fails (at import of its module), not every request to it later.
    with pytest.raises(UnknownPermission, match=name):
        declare(name)


def test_table_keeps_order_and_refuses_duplicates() -> None:
    table = RouteTable([make(), make(method="POST", name="create", audit_action="thing.create")])
    assert [r.name for r in table] == ["things", "create"]
    assert table.get("create").method == "POST"
    assert "things" in table
    assert len(table) == 2
    with pytest.raises(ValueError, match="duplicate route GET /things"):
        table.add(make(name="other"))
    with pytest.raises(ValueError, match="duplicate route name"):
        table.add(make(path="/other"))


def test_include_and_decorator() -> None:
    domain = RouteTable()

    @domain.route("GET", "/projects/{projectId}", access=permission("projects:read"))
    def get_project(call: Call) -> None:
        return None

    table = RouteTable([make()])
    table.include(domain)
    assert [r.name for r in table] == ["things", "get_project"]
    assert table.get("get_project").handler is get_project
    with pytest.raises(ValueError, match="duplicate"):
        table.include(domain)
