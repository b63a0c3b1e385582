"""Tenant binding without a database: the filter covers exactly the Row Level Security tables,
with the same extra read policy; bindings render to the PostgreSQL settings; slugs validate.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import saas_core.models  # noqa: F401 - registers every table
from saas_core.db.base import metadata
from saas_core.db.postgres import tenant_tables
from saas_core.db.tenant import TenantBinding
from saas_core.db.tenant_filter import RlsKind, tenant_table
from saas_core.tenancy.schemas import TenantCreate


def test_the_orm_filter_covers_every_row_level_security_table() -> None:
    for spec in tenant_tables(metadata):
        table = tenant_table(spec.table)
        assert table is not None, spec.table
        expected = RlsKind.TENANT
        if spec.self_read:
            expected = RlsKind.SELF_READ
        elif spec.global_read:
            expected = RlsKind.GLOBAL_READ
        elif spec.token_read:
            expected = RlsKind.TOKEN_READ
        assert table.kind is expected, spec.table
    assert tenant_table("users") is None
    assert tenant_table("auth_sessions") is None


def test_binding_renders_transaction_settings() -> None:
    assert TenantBinding().settings() == {
        "tenant_id": "",
        "user_id": "",
        "platform_scope": "",
        "token_hash": "",
    }
    bound = TenantBinding(tenant_id=7, user_id=3, token_hash="ab", platform=True)
    assert bound.settings() == {
        "tenant_id": "7",
        "user_id": "3",
        "platform_scope": "on",
        "token_hash": "ab",
    }


@pytest.mark.parametrize("slug", ["abc", "acme-inc", "a1b2", "x" * 63, "0day"])
def test_valid_slugs(slug: str) -> None:
    assert TenantCreate(name="n", slug=slug).slug == slug


@pytest.mark.parametrize("slug", ["ab", "-abc", "abc-", "ABC", "a_c", "a c", "x" * 64, "é-abc"])
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(ValidationError):
        TenantCreate(name="n", slug=slug)
