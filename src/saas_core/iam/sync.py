"""Copy the permission catalog and the built-in roles from code into the database.

:func:`sync_catalog` is idempotent: run it after every migration (``saas-core iam sync``), as
often as you like. It makes the database match :mod:`saas_core.iam.catalog`:

* ``iam_permissions``: inserts new keys, updates changed descriptions and scopes, and deletes
  keys no longer in the catalog (their links to custom roles go with them: a permission the
  code does not know can never be granted anyway);
* built-in roles (``tenant_id`` NULL, ``is_system``): inserts new ones, updates their name,
  description and scope;
* their permission links: adds missing ones and removes ones the catalog no longer lists.

A built-in role that disappeared from the catalog keeps its row (members may still point at it)
but loses every permission, and is reported in :attr:`SyncSummary.stale_roles`.
Custom roles are never touched except for links to deleted permissions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from saas_core.iam.catalog import PERMISSIONS, ROLES
from saas_core.iam.models import Permission, Role, RolePermission


@dataclass
class SyncSummary:
    """What :func:`sync_catalog` changed (all empty on a second run)."""

    permissions_added: list[str] = field(default_factory=list)
    permissions_updated: list[str] = field(default_factory=list)
    permissions_removed: list[str] = field(default_factory=list)
    roles_added: list[str] = field(default_factory=list)
    roles_updated: list[str] = field(default_factory=list)
    #: ``"role:permission"`` pairs.
    links_added: list[str] = field(default_factory=list)
    links_removed: list[str] = field(default_factory=list)
    stale_roles: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the database was changed."""
        return any(
            (
                self.permissions_added,
                self.permissions_updated,
                self.permissions_removed,
                self.roles_added,
                self.roles_updated,
                self.links_added,
                self.links_removed,
            )
        )

    def lines(self) -> list[str]:
        """One human-readable line per non-empty change list."""
        out = []
        for name, values in vars(self).items():
            if values:
                out.append(f"{name.replace('_', ' ')}: {', '.join(values)}")
        return out or ["catalog already in sync"]


def sync_catalog(session: Session) -> SyncSummary:
    """Make ``iam_permissions`` and the built-in roles match the catalog; flush, don't commit.

    On PostgreSQL, ``iam_roles`` is under Row Level Security even for its owner (FORCE), and the
    built-in roles have no tenant: the sync is a platform-level operation, so it switches the
    transaction-local platform scope on (``app.platform_scope``) before writing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
    summary = SyncSummary()
    permission_ids = _sync_permissions(session, summary)
    role_ids = _sync_roles(session, summary)

    wanted = {(role.key, key) for role in ROLES for key in role.permissions}
    system_ids = {role_id: key for key, role_id in role_ids.items()}
    names = {permission_id: key for key, permission_id in permission_ids.items()}
    existing = {
        (system_ids[role_id], names[permission_id])
        for role_id, permission_id in session.execute(
            select(RolePermission.role_id, RolePermission.permission_id).where(
                RolePermission.role_id.in_(system_ids)
            )
        )
    }
    for role_key, key in sorted(wanted - existing):
        session.add(RolePermission(role_id=role_ids[role_key], permission_id=permission_ids[key]))
        summary.links_added.append(f"{role_key}:{key}")
    for role_key, key in sorted(existing - wanted):
        session.execute(
            delete(RolePermission).where(
                RolePermission.role_id == role_ids[role_key],
                RolePermission.permission_id == permission_ids[key],
            )
        )
        summary.links_removed.append(f"{role_key}:{key}")
    session.flush()
    return summary


def _sync_permissions(session: Session, summary: SyncSummary) -> dict[str, int]:
    rows = {p.key: p for p in session.scalars(select(Permission))}
    for spec in PERMISSIONS:
        row = rows.get(spec.key)
        if row is None:
            row = Permission(key=spec.key, description=spec.description, scope=spec.scope)
            session.add(row)
            rows[spec.key] = row
            summary.permissions_added.append(spec.key)
        elif row.description != spec.description or row.scope is not spec.scope:
            row.description, row.scope = spec.description, spec.scope
            summary.permissions_updated.append(spec.key)
    known = {spec.key for spec in PERMISSIONS}
    for key in sorted(rows.keys() - known):
        # Links (including custom roles') go by ON DELETE CASCADE.
        session.delete(rows.pop(key))
        summary.permissions_removed.append(key)
    session.flush()
    return {key: row.id for key, row in rows.items()}


def _sync_roles(session: Session, summary: SyncSummary) -> dict[str, int]:
    rows = {r.key: r for r in session.scalars(select(Role).where(Role.tenant_id.is_(None)))}
    for spec in ROLES:
        row = rows.get(spec.key)
        if row is None:
            row = Role(
                tenant_id=None,
                key=spec.key,
                name=spec.name,
                description=spec.description,
                scope=spec.scope,
                is_system=True,
            )
            session.add(row)
            rows[spec.key] = row
            summary.roles_added.append(spec.key)
        elif (row.name, row.description, row.scope, row.is_system) != (
            spec.name,
            spec.description,
            spec.scope,
            True,
        ):
            row.name, row.description = spec.name, spec.description
            row.scope, row.is_system = spec.scope, True
            summary.roles_updated.append(spec.key)
    known = {spec.key for spec in ROLES}
    summary.stale_roles.extend(sorted(k for k, r in rows.items() if k not in known and r.is_system))
    session.flush()
    # Stale built-in roles keep their rows; listing them here lets the link pass strip them.
    return {key: row.id for key, row in rows.items() if key in known or row.is_system}
