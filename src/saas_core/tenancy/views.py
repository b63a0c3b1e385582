"""Database views of the tenancy domain: ``tenant_seat_summary`` (seed review fix 7).

Views are not tables, so they stay out of ``Base.metadata`` (``create_all`` and Alembic's
comparison would otherwise treat them as tables). Migrations call :func:`create_views` and
:func:`drop_views`; code reads a view through its selectable, e.g.
``select(tenant_seat_summary).where(tenant_seat_summary.c.tenant_id == tenant.id)``.

On PostgreSQL the view is ``security_invoker`` (PostgreSQL 15+), so the Row Level Security of
``tenant_members`` applies to whoever reads it, not to the view's owner. ``tenants`` has no RLS,
so every tenant has a row, but members of tenants other than the bound one count as zero:
filter on ``tenant_id``. (Before PostgreSQL 15 the view runs as its owner; Row Level Security
still applies because every tenant table is ``FORCE``d, unless the owner is a superuser.)
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, column, table

#: Member counts per tenant; every tenant appears, with zeros when it has no members. Only
#: ``current_members`` (``member_type = 'member'``) counts towards paid seats.
tenant_seat_summary = table(
    "tenant_seat_summary",
    column("tenant_id", BigInteger),
    column("current_members", BigInteger),
    column("guests", BigInteger),
    column("service_accounts", BigInteger),
)

_SEAT_SUMMARY_SELECT = """
SELECT t.id AS tenant_id,
       COUNT(CASE WHEN m.member_type = 'member' THEN 1 END) AS current_members,
       COUNT(CASE WHEN m.member_type = 'guest' THEN 1 END) AS guests,
       COUNT(CASE WHEN m.member_type = 'service_account' THEN 1 END) AS service_accounts
FROM tenants t
LEFT JOIN tenant_members m ON m.tenant_id = t.id
GROUP BY t.id
"""

#: Names of the views this module manages, in creation order.
VIEW_NAMES: tuple[str, ...] = ("tenant_seat_summary",)


def create_views(connection: Connection) -> None:
    """Create (or replace) the tenancy views; safe to call again."""
    if connection.dialect.name == "postgresql":
        version = connection.dialect.server_version_info or (0,)
        options = " WITH (security_invoker = true)" if version >= (15,) else ""
        connection.exec_driver_sql(
            f"CREATE OR REPLACE VIEW tenant_seat_summary{options} AS{_SEAT_SUMMARY_SELECT}"
        )
    else:
        connection.exec_driver_sql(
            f"CREATE VIEW IF NOT EXISTS tenant_seat_summary AS{_SEAT_SUMMARY_SELECT}"
        )


def drop_views(connection: Connection) -> None:
    """Drop the tenancy views if they exist."""
    for name in reversed(VIEW_NAMES):
        connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
