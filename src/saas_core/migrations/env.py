"""Alembic environment of saas-core's migrations.

It runs only programmatically, through :mod:`saas_core.migrations` (``upgrade``, ``downgrade``...)
or ``saas-core db ...``: those open the connection and the single transaction the whole run uses,
and hand the connection over in ``config.attributes["connection"]``. No ``alembic.ini`` exists.
Revisions are recorded in ``saas_core_alembic_version``, never in a host application's
``alembic_version``.
"""

from __future__ import annotations

from alembic import context

from saas_core.migrations import context_options

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "saas-core migrations run through saas_core.migrations.upgrade() or `saas-core db upgrade`"
    )

context.configure(connection=connection, **context_options(connection.dialect.name))
with context.begin_transaction():
    context.run_migrations()
