"""The catalog against docs/iam.md: every default role x every permission, as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from saas_core.iam.catalog import (
    PERMISSIONS,
    PERMISSIONS_BY_KEY,
    PLATFORM_PERMISSIONS,
    PLATFORM_PREFIX,
    ROLES,
    ROLES_BY_KEY,
    TENANT_PERMISSIONS,
    PermissionSpec,
)
from saas_core.iam.models import IamScope

DOCS = Path(__file__).resolve().parents[2] / "docs" / "iam.md"
_MARKER = re.compile(r"<!-- permission-matrix: (\w+) -->")
_CELLS = {"✓": True, "—": False}


def parse_matrices(text: str) -> dict[str, dict[tuple[str, str], bool]]:
    """Every table announced by a ``permission-matrix`` marker: {scope: {(role, perm): allowed}}."""
    lines = text.splitlines()
    found: dict[str, dict[tuple[str, str], bool]] = {}
    for n, line in enumerate(lines):
        marker = _MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        rows = []
        for row in lines[n + 1 :]:
            if not row.startswith("|"):
                break
            rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
        header, _separator, body = rows[0], rows[1], rows[2:]
        assert header[0] == "Permission"
        roles = [cell.strip("`") for cell in header[1:]]
        cells: dict[tuple[str, str], bool] = {}
        for row in body:
            permission = row[0].strip("`")
            assert len(row) == len(header), f"ragged row for {permission}"
            for role, cell in zip(roles, row[1:], strict=True):
                assert cell in _CELLS, f"{role} x {permission}: unknown cell {cell!r}"
                assert (role, permission) not in cells, f"duplicate {role} x {permission}"
                cells[(role, permission)] = _CELLS[cell]
        found[marker.group(1)] = cells
    return found


@pytest.fixture(scope="module")
def documented() -> dict[tuple[str, str], bool]:
    """The documented matrix, every role x every permission (cross-scope cells: denied)."""
    matrices = parse_matrices(DOCS.read_text(encoding="utf-8"))
    assert set(matrices) == {"tenant", "platform"}
    full: dict[tuple[str, str], bool] = {}
    for scope, cells in matrices.items():
        roles = {role for role, _ in cells}
        permissions = {permission for _, permission in cells}
        expected = TENANT_PERMISSIONS if scope == "tenant" else PLATFORM_PERMISSIONS
        assert permissions == expected, f"the {scope} table must list every {scope} permission"
        assert roles == {r.key for r in ROLES if r.scope == scope}
        full.update(cells)
    for role in ROLES:
        for permission in PERMISSIONS:
            full.setdefault((role.key, permission.key), False)
    return full


def test_documented_matrix_matches_the_catalog(documented: dict[tuple[str, str], bool]) -> None:
    assert len(documented) == len(ROLES) * len(PERMISSIONS)
    mismatches = [
        f"{role.key} x {permission.key}: docs say {documented[(role.key, permission.key)]}"
        for role in ROLES
        for permission in PERMISSIONS
        if documented[(role.key, permission.key)] != (permission.key in role.permissions)
    ]
    assert mismatches == []


def test_documented_catalog_table_lists_every_permission_with_its_scope() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z:_]+)` \| (tenant|platform) \| (.+) \|$", text, re.MULTILINE)
    assert {key: (scope, description) for key, scope, description in rows} == {
        p.key: (p.scope.value, p.description) for p in PERMISSIONS
    }


def test_the_matrix_parser_rejects_unknown_cells() -> None:
    text = (
        "<!-- permission-matrix: tenant -->\n| Permission | `owner` |\n|---|---|\n| `x` | yes |\n"
    )
    with pytest.raises(AssertionError, match="unknown cell"):
        parse_matrices(text)


def test_required_permissions_are_in_the_catalog() -> None:
    tenant = {
        "projects:read", "projects:write", "members:read", "members:manage", "tenant:read",
        "tenant:manage", "tenant:delete", "roles:read", "roles:manage", "billing:read",
        "billing:manage", "usage:read", "usage:record", "credits:read", "credits:adjust",
        "privacy:read", "privacy:process", "audit:read", "security:read", "security:manage",
        "apikeys:manage",
    }  # fmt: skip
    platform = {
        "platform:iam:manage", "platform:audit:read", "platform:security:manage",
        "platform:impersonate", "platform:tenants:manage", "platform:privacy:process",
        "platform:credits:adjust",
    }  # fmt: skip
    assert tenant <= TENANT_PERMISSIONS
    assert platform <= PLATFORM_PERMISSIONS
    assert set(ROLES_BY_KEY) >= {"owner", "admin", "member", "billing", "viewer"}
    assert set(ROLES_BY_KEY) >= {"platform_admin", "support", "break_glass"}


def test_scopes_follow_the_platform_prefix() -> None:
    for permission in PERMISSIONS:
        assert permission.key.startswith(PLATFORM_PREFIX) == (permission.scope is IamScope.PLATFORM)
    assert TENANT_PERMISSIONS.isdisjoint(PLATFORM_PERMISSIONS)
    assert set(PERMISSIONS_BY_KEY) == TENANT_PERMISSIONS | PLATFORM_PERMISSIONS
    with pytest.raises(ValueError, match="platform"):
        PermissionSpec("impersonate", "mislabelled", IamScope.PLATFORM)
    with pytest.raises(ValueError, match="platform"):
        PermissionSpec("platform:x", "mislabelled", IamScope.TENANT)


def test_roles_hold_only_permissions_of_their_scope() -> None:
    for role in ROLES:
        allowed = TENANT_PERMISSIONS if role.scope is IamScope.TENANT else PLATFORM_PERMISSIONS
        assert role.permissions <= allowed, role.key


def test_least_privilege_shape() -> None:
    owner, admin = ROLES_BY_KEY["owner"], ROLES_BY_KEY["admin"]
    assert owner.permissions == TENANT_PERMISSIONS
    assert owner.permissions - admin.permissions == {
        "tenant:delete",
        "billing:manage",
        "credits:adjust",
    }
    viewer = ROLES_BY_KEY["viewer"].permissions
    assert all(key.endswith(":read") for key in viewer)
    assert viewer < ROLES_BY_KEY["member"].permissions
    assert "platform:impersonate" not in ROLES_BY_KEY["support"].permissions
    assert "platform:impersonate" not in ROLES_BY_KEY["platform_admin"].permissions


def test_only_break_glass_roles_hold_impersonation() -> None:
    # ``is_break_glass(ctx)`` relies on it: impersonation marks a live break-glass grant.
    holders = {r.key for r in ROLES if "platform:impersonate" in r.permissions}
    assert holders == {r.key for r in ROLES if r.break_glass} == {"break_glass"}


def test_iam_page_is_in_the_docs_navigation() -> None:
    mkdocs = (DOCS.parents[1] / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+- Roles and permissions: iam\.md$", mkdocs, re.MULTILINE)
