"""The automatic ORM tenant filter (isolation layer 2) of every ``TenantSession``.

Every ORM ``SELECT``, ``UPDATE`` and ``DELETE`` executed through the session gets
``with_loader_criteria`` for each tenant table it touches (directly, joined, aliased or in a
subquery). The criteria are the very predicates of the PostgreSQL policies, so SQLite and
PostgreSQL agree on what a binding can see:

* reads: ``tenant_id = bound tenant``, or, where the table declares them, the caller's own rows
  (``self_read``), rows shared by every tenant (``global_read``, ``tenant_id IS NULL``), the
  invitation whose token the caller holds (``token_read``);
* ``UPDATE``/``DELETE``: ``tenant_id = bound tenant`` only.

With no tenant bound, tenant rows are invisible (fail closed) unless the platform scope is on.
Core statements on ``Table`` objects are not ORM statements and are not filtered: they filter
explicitly (on PostgreSQL, Row Level Security still applies). Objects already in the identity map
are returned by ``Session.get`` without SQL, hence unfiltered: a session serves one tenant at a
time, and services look rows up by public id with ``select()``.

Before a flush, new, changed and deleted rows of tenant tables must belong to the bound tenant
(when one is bound and the platform scope is off), mirroring the policies' ``WITH CHECK``; a row
of another tenant raises :class:`~saas_core.errors.CrossTenantWrite`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, or_
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.sql.util import find_tables

from saas_core.db.base import Base
from saas_core.db.tenant import (
    EXPLICIT_KEY,
    OPTIONS_KEY,
    TenantBinding,
    TenantSession,
    current_binding,
)
from saas_core.errors import ConfigurationError, CrossTenantWrite

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
    cache: dict[tuple[type[Any], bool], ORMOption] = session.info.setdefault(OPTIONS_KEY, {})
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
    if b.platform or not b.orm_filter or state.session.info.get(EXPLICIT_KEY):
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

    For hot ORM statements that name their tenant and user in their own ``WHERE``: it skips
    the automatic filter's per-statement cost. PostgreSQL settings are untouched, so Row Level
    Security still applies. (The request context needs it no more: its statements are Core,
    run by :mod:`saas_core.db.direct`.)
    """
    previous = session.info.get(EXPLICIT_KEY, False)
    session.info[EXPLICIT_KEY] = True
    try:
        yield
    finally:
        session.info[EXPLICIT_KEY] = previous


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
