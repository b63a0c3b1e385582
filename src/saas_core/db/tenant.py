"""Tenant binding: the automatic ORM tenant filter (isolation layer 2) and PostgreSQL's
transaction-local ``app.*`` settings that Row Level Security reads (layer 3).

A :class:`TenantSession` carries a :class:`TenantBinding` in ``session.info``: the bound tenant,
the caller's user id, an invitation token hash and whether the explicit platform scope is on.

ORM filter
    Every ORM ``SELECT``, ``UPDATE`` and ``DELETE`` executed through the session gets
    ``with_loader_criteria`` for each tenant table it touches (directly, joined, aliased or in a
    subquery). The criteria are the very predicates of the PostgreSQL policies, so SQLite and
    PostgreSQL agree on what a binding can see:

    * reads: ``tenant_id = bound tenant``, or, where the table declares them, the caller's own
      rows (``self_read``), rows shared by every tenant (``global_read``, ``tenant_id IS NULL``),
      the invitation whose token the caller holds (``token_read``);
    * ``UPDATE``/``DELETE``: ``tenant_id = bound tenant`` only.

    With no tenant bound, tenant rows are invisible (fail closed) unless :func:`platform_scope`
    is on. Core statements on ``Table`` objects are not ORM statements and are not filtered:
    they must filter explicitly (on PostgreSQL, Row Level Security still applies). Objects
    already in the identity map are returned by ``Session.get`` without SQL, hence unfiltered:
    a session serves one tenant at a time, and services look rows up by public id with
    ``select()``.

Writes
    Before a flush, new, changed and deleted rows of tenant tables must belong to the bound
    tenant (when one is bound and the platform scope is off), mirroring the policies' ``WITH
    CHECK``; a row of another tenant raises :class:`~saas_core.errors.CrossTenantWrite`.

PostgreSQL settings
    At the start of every transaction of the session (``after_begin``) the binding is applied
    with one ``SELECT set_config(..., true)`` statement; :func:`bind_tenant` inside a running
    transaction applies it at once. ``true`` makes the values transaction-local: at commit or
    rollback they revert to empty, so a pooled connection never carries a tenant into the next
    transaction. saas-core never sets them at session level, and neither may a host app.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, or_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.orm.session import SessionTransaction
from sqlalchemy.sql.util import find_tables

from saas_core.config import Settings
from saas_core.context import RequestContext
from saas_core.db.base import Base
from saas_core.errors import ConfigurationError, CrossTenantWrite

log = logging.getLogger("saas_core.tenant")

_BINDING_KEY = "saas_core.tenant_binding"
_OPTIONS_KEY = "saas_core.tenant_options"
_APPLIED_KEY = "saas_core.tenant_applied"
_EXPLICIT_KEY = "saas_core.tenant_explicit"

_APPLY_SQL = sa.text(
    "SELECT set_config('app.tenant_id', :tenant_id, true),"
    " set_config('app.user_id', :user_id, true),"
    " set_config('app.platform_scope', :platform_scope, true),"
    " set_config('app.token_hash', :token_hash, true)"
)


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


def bind_tenant(session: Session, tenant_id: int | None, *, user_id: int | None = None) -> None:
    """Scope ``session`` to ``tenant_id`` (``None``: no tenant) acting for ``user_id``.

    Takes effect for the next statement, including inside the running transaction on
    PostgreSQL. The platform scope, the invitation token and the filter switch are kept.
    """
    _set_binding(session, replace(current_binding(session), tenant_id=tenant_id, user_id=user_id))


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


def _set_binding(session: Session, binding: TenantBinding) -> None:
    if binding == current_binding(session):
        return
    session.info[_BINDING_KEY] = binding
    session.info.pop(_OPTIONS_KEY, None)
    applied = session.info.get(_APPLIED_KEY)
    if applied is None:
        return
    transaction, connection, values = applied
    # Inside a running transaction that already holds its connection, apply now; otherwise
    # after_begin applies it when the next transaction starts.
    current = session.get_transaction()
    if current is not None and current is transaction and current.is_active:
        wanted = binding.settings()
        if wanted != values:
            connection.execute(_APPLY_SQL, wanted)
            session.info[_APPLIED_KEY] = (transaction, connection, wanted)


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
        connection.execute(_APPLY_SQL, values)
    session.info[_APPLIED_KEY] = (session.get_transaction(), connection, values)


@event.listens_for(TenantSession, "after_transaction_end")
def _forget_applied(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_APPLIED_KEY, None)


# --- the ORM filter ----------------------------------------------------------------------------

#: Ids are identities from 1 and token hashes are 64 hex digits, so these sentinels match no row:
#: "nothing bound" keeps the same SQL shape as "something bound" (one cached statement).
_NO_ID = -1
_NO_TOKEN = ""


class RlsKind(enum.Enum):
    """Which read policies a tenant table has besides ``tenant_isolation``."""

    TENANT = "tenant"
    GLOBAL_READ = "global_read"
    SELF_READ = "self_read"
    TOKEN_READ = "token_read"  # noqa: S105 - a policy name


@dataclass(frozen=True, slots=True)
class TenantTable:
    """A mapped table with a ``tenant_id`` column, and the read policy it adds."""

    entity: type[Any]
    kind: RlsKind


_tables: dict[str, TenantTable | None] = {}

# The criteria are lambdas so SQLAlchemy applies them to aliases too (it calls them with the
# alias) and caches one compiled form, taking the closure values as bound parameters. The
# attribute names are literal, so each read policy's column name is checked in tenant_table().
_KIND_COLUMNS = {RlsKind.SELF_READ: "user_id", RlsKind.TOKEN_READ: "token_hash"}


def _criteria(kind: RlsKind, b: TenantBinding, write: bool) -> Any:
    t = _NO_ID if b.tenant_id is None else b.tenant_id
    if write or kind is RlsKind.TENANT:
        return lambda c: c.tenant_id == t
    if kind is RlsKind.GLOBAL_READ:
        return lambda c: or_(c.tenant_id == t, c.tenant_id.is_(None))
    if kind is RlsKind.SELF_READ:
        u = _NO_ID if b.user_id is None else b.user_id
        return lambda c: or_(c.tenant_id == t, c.user_id == u)
    h = b.token_hash or _NO_TOKEN
    return lambda c: or_(c.tenant_id == t, c.token_hash == h)


def tenant_table(name: str) -> TenantTable | None:
    """The tenant table called ``name`` among saas-core's models (``None``: not one)."""
    if name in _tables:
        return _tables[name]
    found: TenantTable | None = None
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        if getattr(table, "name", None) != name or "tenant_id" not in table.c:
            continue
        found = TenantTable(entity=mapper.class_, kind=_kind_of(mapper))
        break
    _tables[name] = found
    return found


def _kind_of(mapper: Mapper[Any]) -> RlsKind:
    rls: dict[str, Any] = dict(getattr(mapper.local_table, "info", {}).get("rls", {}))
    kinds = [RlsKind(k) for k, v in rls.items() if v]
    if len(kinds) > 1:
        raise ConfigurationError(f"{mapper.class_.__name__}: one extra read policy at most")
    kind = kinds[0] if kinds else RlsKind.TENANT
    column = _KIND_COLUMNS.get(kind)
    wanted = {"tenant_id"} | ({column} if column else set())
    keys = {mapper.get_property_by_column(mapper.local_table.c[c]).key for c in wanted}
    if column is not None and (rls[kind.value] != column or keys != wanted):
        raise ConfigurationError(
            f"{mapper.class_.__name__}: the ORM filter expects {kind.value} on {column!r}"
        )
    return kind


def _option(session: Session, b: TenantBinding, spec: TenantTable, write: bool) -> ORMOption:
    cache: dict[tuple[type[Any], bool], ORMOption] = session.info.setdefault(_OPTIONS_KEY, {})
    key = (spec.entity, write)
    option = cache.get(key)
    if option is None:
        option = with_loader_criteria(
            spec.entity, _criteria(spec.kind, b, write), include_aliases=True
        )
        cache[key] = option
    return option


#: Tenant tables by statement cache key: two statements with one cache key compile to the same
#: SQL, so they touch the same tables. Bounded; cleared when full.
_specs_by_key: dict[Any, tuple[TenantTable, ...]] = {}
_SPECS_CACHE_SIZE = 4096


def _tenant_specs(statement: sa.ClauseElement) -> tuple[TenantTable, ...]:
    # The statement's cache key is memoized on it, and SQLAlchemy needs it anyway to find the
    # compiled form, so looking it up first makes the common case (a statement seen before)
    # cost a dict lookup instead of a walk over the whole expression.
    cache_key = statement._generate_cache_key()
    if cache_key is not None:
        found = _specs_by_key.get(cache_key.key)
        if found is not None:
            return found
    names = {
        t.name
        for t in find_tables(statement, include_aliases=True, include_crud=True)
        if isinstance(t, sa.TableClause)
    }
    specs = tuple(spec for name in sorted(names) if (spec := tenant_table(name)) is not None)
    if cache_key is not None:
        if len(_specs_by_key) >= _SPECS_CACHE_SIZE:
            _specs_by_key.clear()
        _specs_by_key[cache_key.key] = specs
    return specs


@event.listens_for(TenantSession, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    if not state.is_orm_statement or state.is_column_load:
        return  # Core statements filter explicitly; refreshing a loaded row is not a query
    if not (state.is_select or state.is_update or state.is_delete):
        return
    b = current_binding(state.session)
    if b.platform or not b.orm_filter or state.session.info.get(_EXPLICIT_KEY):
        return
    statement = state.statement
    if not isinstance(statement, sa.ClauseElement):
        return
    specs = _tenant_specs(statement)
    if not specs:
        return
    write = not state.is_select
    options = [_option(state.session, b, spec, write) for spec in specs]
    state.statement = statement.options(*options)


@contextmanager
def explicitly_scoped(session: Session) -> Iterator[None]:
    """Run reviewed library statements that filter by tenant themselves, unfiltered by the ORM.

    For the per-request hot path only (the permission query of the request context, which
    names its tenant and user in its ``WHERE``): it skips the automatic filter's per-statement
    cost. PostgreSQL settings are untouched, so Row Level Security still applies.
    """
    previous = session.info.get(_EXPLICIT_KEY, False)
    session.info[_EXPLICIT_KEY] = True
    try:
        yield
    finally:
        session.info[_EXPLICIT_KEY] = previous


@event.listens_for(TenantSession, "before_flush")
def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    b = current_binding(session)
    if b.platform or not b.orm_filter or b.tenant_id is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        state: InstanceState[Any] = sa.inspect(obj)
        spec = tenant_table(state.mapper.local_table.name)  # type: ignore[attr-defined]
        if spec is None:
            continue
        owner = obj.tenant_id
        if owner != b.tenant_id:
            raise CrossTenantWrite(
                f"{spec.entity.__name__} of tenant {owner} written while tenant "
                f"{b.tenant_id} is bound"
            )


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
