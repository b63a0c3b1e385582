"""Randomised cross-tenant attacks: >= 1,000 attempts per database, zero leaks.

An attacker who owns tenant B (every tenant permission, B active) aims every tenant-scoped
operation at tenant A's objects: A's tenant id in the path, or B's tenant id with an object id of
A. Every attempt must end in a ``NotFound`` (404, never data, never a 403); lists must show none
of A's objects. A second family plays the developer who forgot a ``where``: plain ORM reads,
updates and deletes by A's ids, which must see and touch nothing.

The run is repeated on PostgreSQL with the automatic ORM filter switched off, as the application
role: Row Level Security alone must hold. Afterwards A's data is compared with a snapshot taken
before the attack: nothing changed.

To cover a new tenant-scoped operation, add one function decorated with ``@attack``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from saas_core.context import RequestContext
from saas_core.db.tenant import bind_context, orm_filter_disabled, platform_scope
from saas_core.errors import InvalidToken, NotFound, SaasCoreError
from saas_core.iam.models import Role, RoleAssignment
from saas_core.iam.schemas import AssignmentCreate, RoleCreate, RoleUpdate
from saas_core.iam.service import IamService
from saas_core.projects.models import Project
from saas_core.projects.schemas import ProjectCreate, ProjectUpdate
from saas_core.tenancy.context import switch_active_tenant
from saas_core.tenancy.models import Tenant, TenantInvitation, TenantMember
from saas_core.tenancy.schemas import InvitationCreate, MemberUpdate, TenantUpdate
from tests.support.databases import TestDatabase
from tests.support.tenancy import World, join, make_world

#: Attempts per run; each Hypothesis example makes BATCH of them.
MIN_ATTEMPTS = 1_000
BATCH = 12
EXAMPLES = -(-MIN_ATTEMPTS // BATCH)


@dataclass
class Victim:
    """Tenant A's ids: public ones (what an attacker would send) and internal ones."""

    tenant: uuid.UUID
    tenant_id: int
    projects: list[uuid.UUID]
    users: list[uuid.UUID]
    user_ids: list[int]
    invitations: list[uuid.UUID]
    invitation_hashes: list[str]
    roles: list[uuid.UUID]
    assignments: list[uuid.UUID]


@dataclass
class Arena:
    world: World
    attacker: RequestContext
    own_tenant: uuid.UUID
    victim: Victim
    attempts: int = 0
    leaks: list[str] = field(default_factory=list)
    drawn: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Move:
    """What Hypothesis draws for one attempt: an attack, which victim object, a payload."""

    attack: str
    pick: int
    text: str

    def of(self, items: list[Any]) -> Any:
        return items[self.pick % len(items)]


#: Attacks that must raise (the expected error class).
RAISES: dict[str, tuple[Callable[[Arena, Session, Move], object], type[SaasCoreError]]] = {}
#: Attacks that return how many of A's rows they saw or touched (must be 0).
COUNTS: dict[str, Callable[[Arena, Session, Move], int]] = {}


def attack(
    expected: type[SaasCoreError] | None = NotFound,
) -> Callable[[Callable[[Arena, Session, Move], Any]], Callable[[Arena, Session, Move], Any]]:
    """Register an attack: ``expected`` error, or ``None`` for one returning a leak count."""

    def register(
        fn: Callable[[Arena, Session, Move], Any],
    ) -> Callable[[Arena, Session, Move], Any]:
        name = fn.__name__.removeprefix("attack_")
        if expected is None:
            COUNTS[name] = fn
        else:
            RAISES[name] = (fn, expected)
        return fn

    return register


# --- service operations aimed at tenant A ------------------------------------------------------


@attack()
def attack_project_get(a: Arena, s: Session, m: Move) -> object:
    return a.world.projects.get_project(s, a.attacker, m.of(a.victim.projects))


@attack()
def attack_project_update(a: Arena, s: Session, m: Move) -> object:
    data = ProjectUpdate(name=m.text or "x")
    return a.world.projects.update_project(s, a.attacker, m.of(a.victim.projects), data)


@attack()
def attack_project_delete(a: Arena, s: Session, m: Move) -> object:
    return a.world.projects.delete_project(s, a.attacker, m.of(a.victim.projects))


@attack()
def attack_tenant_get(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.get_tenant(s, a.attacker, a.victim.tenant)


@attack()
def attack_tenant_update(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.update_tenant(s, a.attacker, a.victim.tenant, TenantUpdate(name="x"))


@attack()
def attack_tenant_archive(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.archive_tenant(s, a.attacker, a.victim.tenant)


@attack()
def attack_tenant_suspend(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.suspend_tenant(s, a.attacker, a.victim.tenant)


@attack()
def attack_tenant_reactivate(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.reactivate_tenant(s, a.attacker, a.victim.tenant)


@attack()
def attack_tenant_switch(a: Arena, s: Session, m: Move) -> object:
    return switch_active_tenant(s, a.attacker, a.victim.tenant)


@attack()
def attack_members_list(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.list_members(s, a.attacker, a.victim.tenant)


def _tenant_for(a: Arena, m: Move) -> uuid.UUID:
    # Half the time A's tenant id in the path, half the time B's own with A's object id.
    return a.victim.tenant if m.pick % 2 else a.own_tenant


@attack()
def attack_member_get(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.get_member(s, a.attacker, _tenant_for(a, m), m.of(a.victim.users))


@attack()
def attack_member_update(a: Arena, s: Session, m: Move) -> object:
    data = MemberUpdate(role="viewer")
    user = m.of(a.victim.users)
    return a.world.tenancy.update_member(s, a.attacker, _tenant_for(a, m), user, data)


@attack()
def attack_member_remove(a: Arena, s: Session, m: Move) -> object:
    user = m.of(a.victim.users)
    return a.world.tenancy.remove_member(s, a.attacker, _tenant_for(a, m), user)


@attack()
def attack_invitation_create(a: Arena, s: Session, m: Move) -> object:
    data = InvitationCreate(email=f"x{m.pick}@example.com")
    return a.world.tenancy.invite_member(s, a.attacker, a.victim.tenant, data)


@attack()
def attack_invitation_list(a: Arena, s: Session, m: Move) -> object:
    return a.world.tenancy.list_invitations(s, a.attacker, a.victim.tenant)


@attack()
def attack_invitation_revoke(a: Arena, s: Session, m: Move) -> object:
    invitation = m.of(a.victim.invitations)
    return a.world.tenancy.revoke_invitation(s, a.attacker, _tenant_for(a, m), invitation)


@attack(InvalidToken)
def attack_invitation_accept_with_stored_hash(a: Arena, s: Session, m: Move) -> object:
    # A hash copied out of the database is not a token.
    return a.world.tenancy.accept_invitation(s, a.attacker, m.of(a.victim.invitation_hashes))


@attack()
def attack_role_get(a: Arena, s: Session, m: Move) -> object:
    return IamService(a.world.settings, a.world.clock).get_role(s, a.attacker, m.of(a.victim.roles))


@attack()
def attack_role_update(a: Arena, s: Session, m: Move) -> object:
    data = RoleUpdate(name=m.text or "x", permissions=["projects:read"])
    service = IamService(a.world.settings, a.world.clock)
    return service.update_role(s, a.attacker, m.of(a.victim.roles), data)


@attack()
def attack_assignment_revoke(a: Arena, s: Session, m: Move) -> object:
    service = IamService(a.world.settings, a.world.clock)
    return service.revoke_assignment(s, a.attacker, m.of(a.victim.assignments))


# --- lists: B's own lists must show nothing of A ------------------------------------------------


@attack(expected=None)
def attack_list_projects(a: Arena, s: Session, m: Move) -> int:
    page = a.world.projects.list_projects(s, a.attacker)
    return sum(p.id in a.victim.projects for p in page.items)


@attack(expected=None)
def attack_list_own_members(a: Arena, s: Session, m: Move) -> int:
    members = a.world.tenancy.list_members(s, a.attacker, a.own_tenant)
    return sum(member.user_id in a.victim.users for member in members)


@attack(expected=None)
def attack_list_my_tenants(a: Arena, s: Session, m: Move) -> int:
    return sum(t.id == a.victim.tenant for t in a.world.tenancy.list_my_tenants(s, a.attacker))


@attack(expected=None)
def attack_list_roles(a: Arena, s: Session, m: Move) -> int:
    roles = IamService(a.world.settings, a.world.clock).list_roles(s, a.attacker)
    return sum(role.id in a.victim.roles for role in roles)


# --- a forgotten ``where``: plain ORM statements by A's ids --------------------------------------


def _bound(a: Arena, s: Session) -> None:
    bind_context(s, a.attacker)


@attack(expected=None)
def attack_orm_project_by_id(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    return len(s.scalars(select(Project).where(Project.public_id == m.of(a.victim.projects))).all())


@attack(expected=None)
def attack_orm_count_projects_of_a(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    stmt = select(func.count()).select_from(Project).where(Project.tenant_id == a.victim.tenant_id)
    return int(s.scalar(stmt) or 0)


@attack(expected=None)
def attack_orm_members_of_a(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    stmt = select(TenantMember).where(TenantMember.user_id == m.of(a.victim.user_ids))
    return len(s.scalars(stmt).all())


@attack(expected=None)
def attack_orm_invitation_by_id(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    stmt = select(TenantInvitation).where(TenantInvitation.public_id == m.of(a.victim.invitations))
    return len(s.scalars(stmt).all())


@attack(expected=None)
def attack_orm_role_by_id(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    return len(s.scalars(select(Role).where(Role.public_id == m.of(a.victim.roles))).all())


@attack(expected=None)
def attack_orm_assignment_by_id(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    stmt = select(RoleAssignment).where(RoleAssignment.public_id == m.of(a.victim.assignments))
    return len(s.scalars(stmt).all())


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


@attack(expected=None)
def attack_orm_update_project(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    stmt = (
        update(Project)
        .where(Project.public_id == m.of(a.victim.projects))
        .values(name="pwned")
        .execution_options(synchronize_session=False)
    )
    return _rowcount(s.execute(stmt))


@attack(expected=None)
def attack_orm_delete_invitation(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    stmt = (
        delete(TenantInvitation)
        .where(TenantInvitation.public_id == m.of(a.victim.invitations))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(s.execute(stmt))


@attack(expected=None)
def attack_orm_delete_members_of_a(a: Arena, s: Session, m: Move) -> int:
    _bound(a, s)
    stmt = (
        delete(TenantMember)
        .where(TenantMember.tenant_id == a.victim.tenant_id)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(s.execute(stmt))


ATTACKS = sorted([*RAISES, *COUNTS])
MOVES = st.builds(
    Move,
    attack=st.sampled_from(ATTACKS),
    pick=st.integers(min_value=0, max_value=10_000),
    text=st.text(alphabet="abcdefghij ", max_size=20),
)


# --- the arena -----------------------------------------------------------------------------------


def _build(world: World) -> Arena:
    """Tenant A (Ada, two members, projects, invitations, a custom role, an assignment) and
    tenant B (Bob, the attacker, owner with B active)."""
    ada = world.user("ada@example.com")
    a_id = world.tenant(ada, "victim")
    join(world, ada, a_id, "amy@example.com", "member")
    join(world, ada, a_id, "abe@example.com", "admin")
    bob = world.user("bob@example.com")
    world.tenant(bob, "attacker")
    iam = IamService(world.settings, world.clock)
    with world.unit() as session:
        ctx = world.context(session, ada)
        assert ctx.tenant is not None
        for n in range(3):
            world.projects.create_project(session, ctx, ProjectCreate(name=f"a-{n}"))
        for email in ("carl@example.com", "cleo@example.com"):
            world.tenancy.invite_member(
                session, ctx, ctx.tenant.public_id, InvitationCreate(email=email)
            )
        role = iam.create_role(
            session, ctx, RoleCreate(key="auditor", name="Auditor", permissions=["audit:read"])
        )
        members = world.tenancy.list_members(session, ctx, ctx.tenant.public_id)
        amy = next(m.user_id for m in members if m.email == "amy@example.com")
        assignment = iam.create_assignment(
            session, ctx, AssignmentCreate(user_id=amy, role_id=role.id)
        )
    with world.unit() as session:
        bob_ctx = world.context(session, bob)
        assert bob_ctx.tenant is not None
        world.projects.create_project(session, bob_ctx, ProjectCreate(name="b-0"))
        with platform_scope(session, reason="test set-up"):
            victim = Victim(
                tenant=ctx.tenant.public_id,
                tenant_id=a_id,
                projects=list(
                    session.scalars(select(Project.public_id).where(Project.tenant_id == a_id))
                ),
                users=[m.user_id for m in members],
                user_ids=list(
                    session.scalars(
                        select(TenantMember.user_id).where(TenantMember.tenant_id == a_id)
                    )
                ),
                invitations=list(
                    session.scalars(
                        select(TenantInvitation.public_id).where(TenantInvitation.tenant_id == a_id)
                    )
                ),
                invitation_hashes=list(
                    session.scalars(
                        select(TenantInvitation.token_hash).where(
                            TenantInvitation.tenant_id == a_id
                        )
                    )
                ),
                roles=[role.id],
                assignments=[assignment.id],
            )
    return Arena(world, bob_ctx, bob_ctx.tenant.public_id, victim)


def _snapshot(world: World, tenant_id: int) -> tuple[Any, ...]:
    """Everything of tenant A an attack could change, read with the platform scope."""
    with world.unit() as session, platform_scope(session, reason="test snapshot"):
        tenant = session.execute(
            select(Tenant.slug, Tenant.name, Tenant.status).where(Tenant.id == tenant_id)
        ).one()
        projects = session.execute(
            select(Project.public_id, Project.name, Project.deleted_at)
            .where(Project.tenant_id == tenant_id)
            .order_by(Project.id)
        ).all()
        members = session.execute(
            select(TenantMember.user_id, TenantMember.role_id, TenantMember.member_type)
            .where(TenantMember.tenant_id == tenant_id)
            .order_by(TenantMember.id)
        ).all()
        invitations = session.execute(
            select(TenantInvitation.public_id, TenantInvitation.status)
            .where(TenantInvitation.tenant_id == tenant_id)
            .order_by(TenantInvitation.id)
        ).all()
        roles = session.execute(
            select(Role.public_id, Role.name, Role.updated_at).where(Role.tenant_id == tenant_id)
        ).all()
        assignments = session.execute(
            select(RoleAssignment.public_id, RoleAssignment.revoked_at).where(
                RoleAssignment.tenant_id == tenant_id
            )
        ).all()
    return (
        tuple(tenant),
        *(tuple(map(tuple, rows)) for rows in (projects, members, invitations, roles, assignments)),
    )


def _attempt(arena: Arena, move: Move, *, orm_filter: bool) -> None:
    arena.attempts += 1
    arena.drawn.add(move.attack)
    session = arena.world.sessions()
    try:
        session.begin()
        if orm_filter:
            _run(arena, session, move)
        else:
            with orm_filter_disabled(session):
                _run(arena, session, move)
    finally:
        session.rollback()
        session.close()


def _run(arena: Arena, session: Session, move: Move) -> None:
    if move.attack in COUNTS:
        seen = COUNTS[move.attack](arena, session, move)
        if seen:
            arena.leaks.append(f"{move.attack}: {seen} row(s) of tenant A")
        return
    fn, expected = RAISES[move.attack]
    try:
        result = fn(arena, session, move)
    except expected:
        return
    except SaasCoreError as error:
        arena.leaks.append(f"{move.attack}: {type(error).__name__} instead of {expected.__name__}")
        return
    arena.leaks.append(f"{move.attack}: returned {result!r}")


def _campaign(world: World, *, orm_filter: bool) -> None:
    arena = _build(world)
    before = _snapshot(world, arena.victim.tenant_id)

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(st.lists(MOVES, min_size=BATCH, max_size=BATCH))
    def campaign(moves: list[Move]) -> None:
        for move in moves:
            _attempt(arena, move, orm_filter=orm_filter)
        assert arena.leaks == []

    campaign()
    # Hypothesis draws attacks at random and may skip one; a fixed sweep makes sure every
    # registered attack runs against every kind of victim object at least once.
    for attack in ATTACKS:
        for pick in range(3):
            _attempt(arena, Move(attack=attack, pick=pick, text="sweep"), orm_filter=orm_filter)
    assert arena.attempts >= MIN_ATTEMPTS
    assert arena.drawn == set(ATTACKS)  # every registered attack was tried
    assert arena.leaks == []
    assert _snapshot(world, arena.victim.tenant_id) == before


def test_no_operation_reaches_another_tenant(db: TestDatabase) -> None:
    _campaign(make_world(db), orm_filter=True)


@pytest.mark.postgres_only
def test_row_level_security_alone_holds(db: TestDatabase) -> None:
    world = make_world(db)
    assert world.engine is db.app_engine  # the non-owner NOBYPASSRLS role
    _campaign(world, orm_filter=False)
