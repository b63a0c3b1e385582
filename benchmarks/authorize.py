"""saas-core's ``authorize()`` against pycasbin's RBAC with domains, at 5 and 100,000 rules.

Run it by hand (not a test): ``.venv/bin/python benchmarks/authorize.py``. It takes well under a
minute and prints nanoseconds per check and the ratios the project's goals are stated in:

* saas-core / pycasbin per check, at each size (goal <= 0.5);
* saas-core at 100,000 rules / saas-core at 5 rules (goal <= 2).

The same policy feeds both sides. A "rule" is one role-permission pair in one tenant (domain):
``p, role, tenant, object, action`` for casbin, an ``iam_role_permissions`` row for saas-core.
Each tenant has roles, each role some tenant permissions of the catalog (``projects:read`` is
object ``projects``, action ``read``), and one user per tenant holds one role there.

What is compared is the check. saas-core resolves a request's permissions once, when its context
is built (``load_permissions``, one SQL query; measured here on an in-memory SQLite database and
printed separately), and each check is then a set lookup. casbin resolves roles and walks its
policy inside every ``enforce()``. Checks are timed in loops with ``time.perf_counter_ns``, best
of several rounds; loop overhead is included on both sides (it flatters neither). pycasbin's
``FastEnforcer`` (policies indexed by tenant and object) is printed too, for reference.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version

import casbin
from casbin.model import FastModel, Model
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

import saas_core.models  # noqa: F401 - registers every table
from saas_core.context import AuthMethod, RequestContext
from saas_core.db.base import metadata
from saas_core.db.session import create_engine
from saas_core.iam import authorize, can, load_permissions, sync_catalog
from saas_core.iam.catalog import PERMISSIONS
from saas_core.iam.models import IamScope, Permission, Role, RolePermission
from saas_core.identity.models import User
from saas_core.tenancy.models import Tenant, TenantMember

CASBIN_MODEL = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
"""

TENANT_KEYS = [p.key for p in PERMISSIONS if p.scope is IamScope.TENANT]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROUND_BUDGET_NS = 2_000_000  # grow a round's repetitions until it lasts >= 2 ms
MEASURE_BUDGET_NS = 1_500_000_000  # then repeat rounds for about 1.5 s (at least 3 rounds)


@dataclass(frozen=True)
class Layout:
    """``tenants x roles x permissions_per_role`` role-permission rules."""

    tenants: int
    roles: int
    permissions_per_role: int

    @property
    def rules(self) -> int:
        return self.tenants * self.roles * self.permissions_per_role

    def grants(self, tenant: int, role: int) -> list[str]:
        """The permissions of ``role`` in ``tenant``: a rotating window over the catalog."""
        start = (tenant * self.roles + role) % len(TENANT_KEYS)
        window = TENANT_KEYS[start:] + TENANT_KEYS[:start]
        return window[: self.permissions_per_role]


LAYOUTS = (Layout(1, 1, 5), Layout(2_000, 5, 10))


def split(permission: str) -> tuple[str, str]:
    """``"projects:read"`` -> ``("projects", "read")``."""
    obj, _, act = permission.rpartition(":")
    return obj, act


@dataclass(frozen=True)
class Query:
    """One check: may ``user`` (member of ``tenant``) use ``permission``?"""

    tenant: int
    permission: str
    allowed: bool


def queries_for(layout: Layout) -> list[Query]:
    """Two allowed and two denied checks for callers at the start, middle and end of the policy."""
    out: list[Query] = []
    for tenant in sorted({0, layout.tenants // 2, layout.tenants - 1}):
        held = layout.grants(tenant, 0)
        lacking = [k for k in TENANT_KEYS if k not in held]
        out += [Query(tenant, held[0], True), Query(tenant, held[-1], True)]
        out += [Query(tenant, lacking[0], False), Query(tenant, lacking[-1], False)]
    return out


def build_casbin(layout: Layout, *, fast: bool) -> casbin.Enforcer:
    """An enforcer holding the layout's policy (in memory, no adapter)."""
    model: Model = FastModel([1, 2]) if fast else Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = (
        casbin.FastEnforcer(model, cache_key_order=[1, 2]) if fast else casbin.Enforcer(model)
    )
    policies = [
        [f"role{r}", f"t{t}", *split(key)]
        for t in range(layout.tenants)
        for r in range(layout.roles)
        for key in layout.grants(t, r)
    ]
    enforcer.add_policies(policies)
    enforcer.add_grouping_policies([[f"u{t}", "role0", f"t{t}"] for t in range(layout.tenants)])
    return enforcer


@dataclass
class SaasCoreSide:
    """The layout as saas-core tables in an in-memory SQLite database."""

    session: Session
    member_role: dict[int, int]  # tenant index -> role id of its user's membership
    user_id: dict[int, int]
    tenant_id: dict[int, int]

    def load(self, tenant: int) -> tuple[frozenset[str], frozenset[str]]:
        return load_permissions(
            self.session,
            role_id=self.member_role[tenant],
            user_id=self.user_id[tenant],
            tenant_id=self.tenant_id[tenant],
            now=NOW,
        )

    def context(self, tenant: int) -> RequestContext:
        permissions, platform_permissions = self.load(tenant)
        return RequestContext(
            auth_method=AuthMethod.SESSION,
            permissions=permissions,
            platform_permissions=platform_permissions,
        )


def build_saas_core(layout: Layout) -> SaasCoreSide:
    """Sync the catalog, then bulk-insert tenants, custom roles, their links and one member each."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    session = Session(engine)
    sync_catalog(session)
    permission_ids = dict(session.execute(select(Permission.key, Permission.id)).all())
    session.execute(
        insert(Tenant), [{"slug": f"t{t}", "name": f"T{t}"} for t in range(layout.tenants)]
    )
    session.execute(insert(User), [{"email": f"u{t}@example.com"} for t in range(layout.tenants)])
    tenant_ids = dict(session.execute(select(Tenant.slug, Tenant.id)).all())
    user_ids = dict(session.execute(select(User.email, User.id)).all())
    session.execute(
        insert(Role),
        [
            {"tenant_id": tenant_ids[f"t{t}"], "key": f"role{r}", "name": f"Role {r}"}
            for t in range(layout.tenants)
            for r in range(layout.roles)
        ],
    )
    role_ids = {
        (tenant, key): role_id
        for tenant, key, role_id in session.execute(select(Role.tenant_id, Role.key, Role.id))
        if tenant is not None
    }
    links = []
    for t in range(layout.tenants):
        for r in range(layout.roles):
            role_id = role_ids[(tenant_ids[f"t{t}"], f"role{r}")]
            links += [
                {"role_id": role_id, "permission_id": permission_ids[key]}
                for key in layout.grants(t, r)
            ]
    session.execute(insert(RolePermission), links)
    members = [
        {
            "tenant_id": tenant_ids[f"t{t}"],
            "user_id": user_ids[f"u{t}@example.com"],
            "role_id": role_ids[(tenant_ids[f"t{t}"], "role0")],
        }
        for t in range(layout.tenants)
    ]
    session.execute(insert(TenantMember), members)
    session.commit()
    assert len(links) == layout.rules
    return SaasCoreSide(
        session=session,
        member_role={t: m["role_id"] for t, m in enumerate(members)},
        user_id={t: m["user_id"] for t, m in enumerate(members)},
        tenant_id={t: m["tenant_id"] for t, m in enumerate(members)},
    )


def ns_per_call(calls: Sequence[Callable[[], object]]) -> float:
    """Best-of-rounds nanoseconds per call of ``calls`` (each round runs all of them ``reps``x)."""

    def one_round(reps: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(reps):
            for call in calls:
                call()
        return time.perf_counter_ns() - start

    reps = 1
    elapsed = one_round(reps)
    while elapsed < ROUND_BUDGET_NS:
        reps *= 4
        elapsed = one_round(reps)
    best, spent, rounds = elapsed, elapsed, 1
    while rounds < 3 or spent < MEASURE_BUDGET_NS:
        elapsed = one_round(reps)
        best, spent, rounds = min(best, elapsed), spent + elapsed, rounds + 1
        if spent > 4 * MEASURE_BUDGET_NS:
            break
    return best / (reps * len(calls))


def saas_core_checks(
    side: SaasCoreSide, queries: list[Query], *, mixed: bool
) -> list[Callable[[], object]]:
    """Check calls: ``authorize`` on allowed queries, ``can`` on the mix (a denial raises)."""
    contexts = {q.tenant: side.context(q.tenant) for q in queries}
    for q in queries:  # both sides must agree before either is timed
        assert can(contexts[q.tenant], q.permission) is q.allowed, q
    if mixed:
        return [lambda c=contexts[q.tenant], p=q.permission: can(c, p) for q in queries]
    return [
        lambda c=contexts[q.tenant], p=q.permission: authorize(c, p) for q in queries if q.allowed
    ]


def casbin_checks(
    enforcer: casbin.Enforcer, queries: list[Query], *, mixed: bool
) -> list[Callable[[], object]]:
    """``enforce(user, tenant, object, action)`` calls for the same queries."""
    chosen = [q for q in queries if mixed or q.allowed]
    args = [(f"u{q.tenant}", f"t{q.tenant}", *split(q.permission)) for q in chosen]
    for q, a in zip(chosen, args, strict=True):
        assert enforcer.enforce(*a) is q.allowed, q
    return [lambda e=enforcer, a=a: e.enforce(*a) for a in args]


def main() -> int:
    """Run every measurement and print the table."""
    started = time.perf_counter()
    print(
        f"saas-core authorize() vs pycasbin {version('casbin')} RBAC with domains"
        f" (Python {platform.python_version()}, {platform.machine()})"
    )
    results: dict[tuple[int, str], dict[str, float]] = {}
    resolution: dict[int, float] = {}
    for layout in LAYOUTS:
        side = build_saas_core(layout)
        queries = queries_for(layout)
        tenants = sorted({q.tenant for q in queries})
        resolution[layout.rules] = ns_per_call([lambda s=side, t=t: s.load(t) for t in tenants])
        enforcers = {
            "casbin": build_casbin(layout, fast=False),
            "casbin_fast": build_casbin(layout, fast=True),
        }
        for mixed in (False, True):
            label = "mixed" if mixed else "allowed"
            row = {"saas_core": ns_per_call(saas_core_checks(side, queries, mixed=mixed))}
            for name, enforcer in enforcers.items():
                row[name] = ns_per_call(casbin_checks(enforcer, queries, mixed=mixed))
            results[(layout.rules, label)] = row
        side.session.close()

    header = (
        f"{'rules':>8}  {'checks':<34} {'saas-core ns':>13} {'casbin ns':>13}"
        f" {'ratio':>8} {'FastEnforcer ns':>16} {'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    names = {
        "allowed": "allowed: authorize() / enforce()",
        "mixed": "half denied: can() / enforce()",
    }
    for (rules, label), row in results.items():
        print(
            f"{rules:>8,}  {names[label]:<34} {row['saas_core']:>13,.0f} {row['casbin']:>13,.0f}"
            f" {row['saas_core'] / row['casbin']:>8.2g} {row['casbin_fast']:>16,.0f}"
            f" {row['saas_core'] / row['casbin_fast']:>8.2g}"
        )
    small, large = (layout.rules for layout in LAYOUTS)
    print()
    for rules, ns in resolution.items():
        print(
            f"saas-core per-request resolution at {rules:,} rules (load_permissions, one query,"
            f" in-memory SQLite): {ns / 1000:,.1f} us"
        )
    print()
    worst_vs_casbin = max(row["saas_core"] / row["casbin"] for row in results.values())
    growth = max(
        results[(large, label)]["saas_core"] / results[(small, label)]["saas_core"]
        for label in ("allowed", "mixed")
    )
    casbin_growth = max(
        results[(large, label)]["casbin"] / results[(small, label)]["casbin"]
        for label in ("allowed", "mixed")
    )
    print(f"saas-core / pycasbin, worst case: {worst_vs_casbin:.2g}  (goal <= 0.5)")
    print(f"saas-core {large:,} rules / {small} rules, worst case: {growth:.2f}x  (goal <= 2x)")
    print(f"pycasbin  {large:,} rules / {small} rules, worst case: {casbin_growth:,.0f}x")
    ok = worst_vs_casbin <= 0.5 and growth <= 2.0
    print(f"goals {'met' if ok else 'NOT met'}; ran in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
