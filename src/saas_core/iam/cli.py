"""``saas-core iam ...``: operate the permission catalog from the command line.

::

    saas-core iam sync [--database-url URL]   # copy catalog and built-in roles to the database

Registered in :mod:`saas_core.cli` through :func:`add_iam_commands`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_iam_commands(subparsers: Any) -> None:
    """Add the ``iam`` command and its actions to the top-level ``saas-core`` subparsers."""
    from saas_core.cli import add_database_url

    parser = subparsers.add_parser("iam", help="manage the permission catalog and built-in roles")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sync = actions.add_parser(
        "sync", help="upsert the permission catalog and built-in roles (idempotent)"
    )
    add_database_url(sync)
    sync.set_defaults(handler=_sync)


def _sync(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from saas_core.cli import database_url
    from saas_core.db.session import create_engine
    from saas_core.errors import DatabaseError
    from saas_core.iam.sync import sync_catalog

    engine = create_engine(database_url(args))
    try:
        with Session(engine) as session, session.begin():
            summary = sync_catalog(session)
    except SQLAlchemyError as exc:
        first = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
        raise DatabaseError(f"iam sync failed (is the database migrated?): {first}") from exc
    finally:
        engine.dispose()
    for line in summary.lines():
        print(line)
    return 0
