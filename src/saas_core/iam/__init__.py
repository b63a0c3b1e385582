"""Permission catalog, roles, assignments and ``authorize()``.

The names most callers need::

    from saas_core.iam import authorize, can, require, load_permissions, IamService

See ``docs/iam.md`` for the catalog, the default roles and how permissions reach a request.
"""

from saas_core.iam.authorize import (
    authorize,
    can,
    check_known,
    ensure_can_grant,
    is_break_glass,
    permissions_for_roles,
    require,
)
from saas_core.iam.loader import load_permissions
from saas_core.iam.service import IamService
from saas_core.iam.sync import SyncSummary, sync_catalog

__all__ = [
    "IamService",
    "SyncSummary",
    "authorize",
    "can",
    "check_known",
    "ensure_can_grant",
    "is_break_glass",
    "load_permissions",
    "permissions_for_roles",
    "require",
    "sync_catalog",
]
