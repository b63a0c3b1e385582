"""Tenant binding: the automatic ORM tenant filter (isolation layer 2) and PostgreSQL's
transaction-local ``app.*`` settings that Row Level Security reads (layer 3).

A :class:`TenantSession` carries a :class:`TenantBinding` in ``session.info``: the bound tenant,
the caller's user id, an invitation token hash and whether the explicit platform scope is on.

ORM filter
    :mod:`saas_core.db.tenant_filter` (installed with this module): every ORM ``SELECT``,
    ``UPDATE`` and ``DELETE`` of a ``TenantSession`` is restricted to what the binding may see,
    with the predicates of the PostgreSQL policies; nothing bound means no tenant rows. Rows
    written into another tenant than the bound one are refused at flush.

PostgreSQL settings
    At the start of every transaction of the session (``after_begin``) the binding is applied
    with one ``SELECT set_config(..., true)`` statement; :func:`bind_tenant` inside a running
    transaction applies it at once. ``true`` makes the values transaction-local: at commit or
    rollback they revert to empty, so a pooled connection never carries a tenant into the next
    transaction. saas-core never sets them at session level, and neither may a host app.

    The session remembers which values its running transaction holds, so binding what is already
    in force costs no statement. A library statement may set them itself (the request context's
    session lookup does, to save a round trip) and report what its ``set_config`` calls returned
    through ``bind_tenant(..., reported=...)``; anything that disagrees with the binding is
    overwritten at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.session import SessionTransaction

from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.db.direct import DirectStatement
from saas_core.errors import ConfigurationError

log = logging.getLogger("saas_core.tenant")

_BINDING_KEY = "saas_core.tenant_binding"
OPTIONS_KEY = "saas_core.tenant_options"
_APPLIED_KEY = "saas_core.tenant_applied"
EXPLICIT_KEY = "saas_core.tenant_explicit"

_APPLY_SQL = sa.text(
    "SELECT set_config('app.tenant_id', :tenant_id, true),"
    " set_config('app.user_id', :user_id, true),"
    " set_config('app.platform_scope', :platform_scope, true),"
    " set_config('app.token_hash', :token_hash, true)"
)
_APPLY = DirectStatement(_APPLY_SQL)


@dataclass(frozen=True, slots=True)
class TenantBinding:
    """What a session is scoped to. Immutable: binding a new value replaces the object."""

    tenant_id: int | None = None
    user_id: int | None = None
    #: SHA-256 of an invitation token the caller holds (``token_read`` policies).
    token_hash: str | None = None
    #: The explicit platform scope: every tenant's rows (platform routes, webhooks).
    platform: bool = False
    #: False only inside :func:`orm_filter_disabled` (the test proving RLS alone holds).
    orm_filter: bool = True

    def settings(self) -> dict[str, str]:
        """The ``app.*`` values for PostgreSQL (empty strings for unset ones)."""
        return {
            "tenant_id": "" if self.tenant_id is None else str(self.tenant_id),
            "user_id": "" if self.user_id is None else str(self.user_id),
            "platform_scope": "on" if self.platform else "",
            "token_hash": self.token_hash or "",
        }


_UNBOUND = TenantBinding()


class TenantSession(Session):
    """The SQLAlchemy session saas-core uses: filtered by tenant and binding PostgreSQL settings.

    ``saas_core.db.session.session_factory`` makes these. Nothing is bound at first, so tenant
    rows are invisible until :func:`bind_tenant` (or :func:`platform_scope`).
    """


# --- binding ---------------------------------------------------------------------------------


def current_binding(session: Session) -> TenantBinding:
    """The session's binding (an empty one when nothing was ever bound)."""
    binding = session.info.get(_BINDING_KEY)
    return binding if isinstance(binding, TenantBinding) else _UNBOUND


def bind_tenant(
    session: Session,
    tenant_id: int | None,
    *,
    user_id: int | None = None,
    reported: Mapping[str, str] | None = None,
) -> None:
    """Scope ``session`` to ``tenant_id`` (``None``: no tenant) acting for ``user_id``.

    Takes effect for the next statement, including inside the running transaction on
    PostgreSQL. The platform scope, the invitation token and the filter switch are kept.

    ``reported``: ``app.*`` values (keys as in :meth:`TenantBinding.settings`) that a statement
    of the running PostgreSQL transaction has just set itself, as its ``set_config`` calls
    returned them. They are recorded as in force, and overwritten at once wherever they differ
    from the binding, so the database never holds anything but the binding.
    """
    b = current_binding(session)
    binding = TenantBinding(tenant_id, user_id, b.token_hash, b.platform, b.orm_filter)
    _set_binding(session, binding, reported)


def applied_settings(session: Session) -> Mapping[str, str] | None:
    """The ``app.*`` values in force in the session's running PostgreSQL transaction.

    ``None`` when no transaction of the session holds a connection yet, and on SQLite.
    """
    applied = session.info.get(_APPLIED_KEY)
    if applied is None:
        return None
    transaction, _connection, values = applied
    current = session.get_transaction()
    if current is None or current is not transaction or not current.is_active:
        return None
    return dict(values)


def bind_context(session: Session, ctx: RequestContext) -> None:
    """Bind the tenant and user of a request context (no tenant when it has none)."""
    bind_tenant(
        session,
        ctx.tenant.id if ctx.tenant is not None else None,
        user_id=ctx.user.id if ctx.user is not None else None,
    )


def clear_binding(session: Session) -> None:
    """Forget everything bound to ``session``: tenant rows become invisible again."""
    _set_binding(session, _UNBOUND)


@contextmanager
def tenant_scope(
    session: Session, tenant_id: int | None, *, user_id: int | None = None
) -> Iterator[None]:
    """Bind ``tenant_id`` (and ``user_id``) for the block only, then restore the previous binding.

    For the few writes that land in a tenant other than the request's: the creator's membership
    of a brand-new tenant, an invitee joining the tenant that invited them.
    """
    previous = current_binding(session)
    _set_binding(session, replace(previous, tenant_id=tenant_id, user_id=user_id))
    try:
        yield
    finally:
        _set_binding(
            session,
            replace(
                current_binding(session), tenant_id=previous.tenant_id, user_id=previous.user_id
            ),
        )


@contextmanager
def platform_scope(session: Session, *, reason: str = "") -> Iterator[None]:
    """Explicitly see every tenant's rows for the duration of the block.

    For platform routes and webhooks only, which must audit what they do; ``reason`` is logged.
    On PostgreSQL this sets ``app.platform_scope`` to ``on`` (the ``platform_scope`` policies).
    """
    previous = current_binding(session)
    log.info("platform scope entered: %s", reason or "(no reason given)")
    _set_binding(session, replace(previous, platform=True))
    try:
        yield
    finally:
        _set_binding(session, replace(current_binding(session), platform=previous.platform))


@contextmanager
def invitation_token_scope(session: Session, token_hash: str) -> Iterator[None]:
    """Let the block read the one invitation whose token hash is ``token_hash``.

    An invitee is not a member yet; this is how they see exactly their invitation (PostgreSQL
    ``token_read`` policy on ``app.token_hash``; the same predicate in the ORM filter).
    """
    previous = current_binding(session)
    _set_binding(session, replace(previous, token_hash=token_hash))
    try:
        yield
    finally:
        _set_binding(session, replace(current_binding(session), token_hash=previous.token_hash))


@contextmanager
def orm_filter_disabled(session: Session) -> Iterator[None]:
    """Switch the automatic ORM filter off inside the block (PostgreSQL settings stay).

    Exists for one purpose: the test showing that Row Level Security alone keeps tenants apart.
    Application code never needs it.
    """
    previous = current_binding(session)
    _set_binding(session, replace(previous, orm_filter=False))
    try:
        yield
    finally:
        _set_binding(session, replace(current_binding(session), orm_filter=previous.orm_filter))


def _set_binding(
    session: Session, binding: TenantBinding, reported: Mapping[str, str] | None = None
) -> None:
    if binding != current_binding(session):
        session.info[_BINDING_KEY] = binding
        session.info.pop(OPTIONS_KEY, None)
    elif reported is None:
        return
    applied = session.info.get(_APPLIED_KEY)
    if applied is None:
        if reported is not None and any(reported.values()):
            raise ConfigurationError("app.* settings reported outside a running transaction")
        return
    transaction, connection, values = applied
    # Inside a running transaction that already holds its connection, apply now; otherwise
    # after_begin applies it when the next transaction starts.
    current = session.get_transaction()
    if current is not None and current is transaction and current.is_active:
        if reported is not None:
            values = {**values, **reported}
        wanted = binding.settings()
        if wanted != values:
            _APPLY.run(connection, wanted)
            values = wanted
        session.info[_APPLIED_KEY] = (transaction, connection, values)
    elif reported is not None and any(reported.values()):
        raise ConfigurationError("app.* settings reported outside a running transaction")


@event.listens_for(TenantSession, "after_begin")
def _apply_settings(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    if connection.dialect.name != "postgresql":
        return
    values = current_binding(session).settings()
    # Settings start empty in a new transaction (they are only ever set transaction-locally),
    # so an empty binding costs no round trip.
    if any(values.values()):
        _APPLY.run(connection, values)
    session.info[_APPLIED_KEY] = (session.get_transaction(), connection, values)


@event.listens_for(TenantSession, "after_transaction_end")
def _forget_applied(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_APPLIED_KEY, None)


# --- start-up check --------------------------------------------------------------------------


def database_role_problems(engine: Engine) -> list[str]:
    """Why ``engine``'s role must not serve requests (always empty on SQLite)."""
    if engine.dialect.name != "postgresql":
        return []
    from saas_core.db.postgres import check_app_role

    with engine.connect() as connection:
        return check_app_role(connection)


def check_database_role(engine: Engine, settings: Settings) -> list[str]:
    """Refuse to serve as a superuser, a BYPASSRLS role or a table owner on PostgreSQL.

    Raises :class:`~saas_core.errors.ConfigurationError` with a one-line explanation unless
    ``settings.allow_privileged_database_role`` is True, in which case the problems are logged
    as a warning and returned. Returns ``[]`` when the role is safe (and on SQLite).
    """
    problems = database_role_problems(engine)
    if not problems:
        return []
    summary = "; ".join(problems)
    if not settings.allow_privileged_database_role:
        raise ConfigurationError(
            f"refusing to run: {summary}. Connect as a login role that owns nothing and has"
            " NOBYPASSRLS (saas-core db grant --role NAME), or set"
            " SAAS_CORE_ALLOW_PRIVILEGED_DATABASE_ROLE=true to accept the risk"
        )
    log.warning("tenant isolation weakened, allowed by settings: %s", summary)
    return problems


# The ORM filter's listeners live in their own module; importing it here installs them on every
# TenantSession (at the end, because that module imports the names above).
from saas_core.db import tenant_filter as _tenant_filter  # noqa: E402, F401
