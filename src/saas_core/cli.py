"""The ``saas-core`` command line.

::

    saas-core db upgrade   [--database-url URL] [REVISION]     # default: head
    saas-core db downgrade [--database-url URL] REVISION       # "base" removes everything
    saas-core db current   [--database-url URL]
    saas-core db check     [--database-url URL]                # exit 1 on drift
    saas-core db grant     [--database-url URL] --role NAME    # PostgreSQL: set up the app role
    saas-core seed         [--database-url URL]                # demo user, tenant, projects
    saas-core demo         [--database-url URL] [--host H] [--port P]   # seed + serve the example

The URL defaults to ``SAAS_CORE_MIGRATION_DATABASE_URL``, then ``SAAS_CORE_DATABASE_URL``
(:class:`saas_core.config.Settings`). Exit codes: 0 success, 1 drift found by ``check``, 2 any
expected error, reported as one line on stderr (``saas-core: error: ...``).

Each top-level command is a function registered with :func:`command`; it adds its subparser and
sets ``handler`` (a function of the parsed arguments returning the exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from saas_core.errors import ConfigurationError, SaasCoreError

Subparsers = Any  # argparse's _SubParsersAction is private
Handler = Callable[[argparse.Namespace], int]

#: Top-level commands, in help order: name -> function adding its subparser.
COMMANDS: dict[str, Callable[[Subparsers], None]] = {}


def command(name: str) -> Callable[[Callable[[Subparsers], None]], Callable[[Subparsers], None]]:
    """Register a top-level ``saas-core NAME`` command built by the decorated function."""

    def register(build: Callable[[Subparsers], None]) -> Callable[[Subparsers], None]:
        COMMANDS[name] = build
        return build

    return register


def add_database_url(parser: argparse.ArgumentParser) -> None:
    """The ``--database-url`` option shared by every command that opens the database."""
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="schema owner's database URL (default: SAAS_CORE_MIGRATION_DATABASE_URL,"
        " then SAAS_CORE_DATABASE_URL)",
    )


def database_url(args: argparse.Namespace) -> str:
    """The URL given on the command line, else the configured one."""
    if args.database_url:
        return str(args.database_url)
    from pydantic import ValidationError

    from saas_core.config import Settings

    try:
        return Settings().migration_url()
    except ValidationError as exc:
        raise ConfigurationError(f"invalid SAAS_CORE_* setting: {exc.errors()[0]['msg']}") from None


@command("db")
def _db_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("db", help="migrate and inspect the saas-core schema")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    up = actions.add_parser("upgrade", help="migrate up (default: to the newest revision)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_db_upgrade)

    down = actions.add_parser("downgrade", help="migrate down to REVISION ('base': empty)")
    down.add_argument("revision")
    down.set_defaults(handler=_db_downgrade)

    actions.add_parser("current", help="print the database's revision").set_defaults(
        handler=_db_current
    )
    actions.add_parser("check", help="compare models and database; exit 1 on drift").set_defaults(
        handler=_db_check
    )

    grant = actions.add_parser("grant", help="grant the application role its DML (PostgreSQL)")
    grant.add_argument("--role", required=True, help="login role the application connects as")
    grant.set_defaults(handler=_db_grant)

    for sub in (up, down, grant, *(actions.choices[n] for n in ("current", "check"))):
        add_database_url(sub)


def _db_upgrade(args: argparse.Namespace) -> int:
    from saas_core import migrations

    migrations.upgrade(database_url(args), args.revision)
    print(f"database at {migrations.current(database_url(args)) or 'base'}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    from saas_core import migrations

    migrations.downgrade(database_url(args), args.revision)
    print(f"database at {migrations.current(database_url(args)) or 'base'}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from saas_core import migrations

    print(migrations.current(database_url(args)) or "base")
    return 0


def _db_check(args: argparse.Namespace) -> int:
    from saas_core import migrations

    differences = migrations.check(database_url(args))
    for difference in differences:
        print(difference)
    if differences:
        return 1
    print("no differences between models and database")
    return 0


def _db_grant(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from saas_core.db.postgres import check_app_role, grant_app_role
    from saas_core.migrations import transaction

    with transaction(database_url(args)) as connection:
        if connection.dialect.name != "postgresql":
            raise ConfigurationError("db grant applies to PostgreSQL only (SQLite has no roles)")
        if (
            connection.scalar(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": args.role}
            )
            is None
        ):
            raise ConfigurationError(f"role {args.role!r} does not exist; create it first")
        grant_app_role(connection, args.role)
        problems = check_app_role(connection, args.role)
    print(f"granted saas-core's privileges to {args.role}")
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def _iam_command(subparsers: Subparsers) -> None:
    from saas_core.iam.cli import add_iam_commands

    add_iam_commands(subparsers)


command("iam")(_iam_command)


def _seed_command(subparsers: Subparsers) -> None:
    from saas_core.demo_cli import add_seed_command

    add_seed_command(subparsers)


def _demo_command(subparsers: Subparsers) -> None:
    from saas_core.demo_cli import add_demo_command

    add_demo_command(subparsers)


command("seed")(_seed_command)
command("demo")(_demo_command)


def build_parser() -> argparse.ArgumentParser:
    """The ``saas-core`` argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="saas-core", description="Operate saas-core: migrations, database roles."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for build in COMMANDS.values():
        build(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``saas-core``; return the process exit code."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except SaasCoreError as exc:
        message = " ".join(str(exc.detail).split())  # one line, always
        print(f"saas-core: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
