"""Assembles every domain's route table into the one table adapters mount.

Each domain's ``routes.py`` imports only the contract's primitives; this module is the only one
that imports them all, so no import runs in a circle. Add a domain by including its table here.
"""

from __future__ import annotations

from saas_core.api import system
from saas_core.api.contract import RouteTable
from saas_core.iam import routes as iam_routes
from saas_core.identity import routes as identity_routes
from saas_core.projects import routes as projects_routes
from saas_core.tenancy import routes as tenancy_routes


def build_routes() -> RouteTable:
    """A new table holding every saas-core route, in mounting order."""
    table = RouteTable()
    table.include(system.routes)
    table.include(identity_routes.routes)
    table.include(tenancy_routes.routes)
    table.include(projects_routes.routes)
    table.include(iam_routes.routes)
    return table
