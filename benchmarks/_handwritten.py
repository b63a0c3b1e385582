"""The hand-written side of ``benchmarks/http.py``: ``GET /api/v1/projects`` without saas-core.

:func:`build_hand` takes the statements one saas-core request sent (captured) and returns a
:class:`HandWritten` view function that, for a bearer token, sends the very same SQL with the
parameters derived per request the way saas-core derives them (token hash, ``now``, the session's
user and tenant, the membership's role), makes the same checks (session live, user active,
membership active, ``projects:read`` held) and writes the same JSON bytes with ``json.dumps``.
Checked against the capture: the parameters it derives for the captured request are the ones
saas-core sent. A statement of a kind it does not know stops the benchmark.

It talks to the database through SQLAlchemy Core's ``Connection.exec_driver_sql`` on the engine
it is given, or (``dbapi=True``) straight through the psycopg cursor of a pooled connection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from _support import Answer, Caller, Statement

from saas_core.config import Settings

#: The page size of the request (the API's default): one page holds every seeded project.
LIMIT = 50


# --- the statements saas-core sends -------------------------------------------------------------


def _role(sql: str) -> str:
    """What a captured statement is for (the hand-written view handles each kind)."""
    lowered = " ".join(sql.lower().split())
    if "from auth_sessions" in lowered:
        return "session"
    if "from tenant_members" in lowered:
        return "membership"
    if "iam_role_permissions" in lowered:
        return "permissions"
    if "from projects" in lowered:
        return "projects"
    if lowered.startswith("select set_config("):
        return "bind"
    raise SystemExit(f"saas-core sent a statement this benchmark does not know:\n{sql}")


# Where each parameter's value comes from, per kind of statement, by its bind name without
# SQLAlchemy's ``_<n>`` suffix (``t`` is the automatic tenant filter's). Anything else is a
# constant of the statement (``set_config``'s empty platform scope, an enum literal).
_SOURCES = {
    "session": {"token_hash": "token_hash", "now": "now", "idle_since": "idle_since"},
    "bind": {"tenant_id": "tenant_id", "user_id": "user_id"},
    "membership": {"tenant_id": "tenant_id", "user_id": "user_id"},
    "permissions": {
        "role_id": "role_id",
        "tenant_id": "tenant_id",
        "user_id": "user_id",
        "now": "now",
    },
    "projects": {"tenant_id": "tenant_id", "t": "tenant_id"},
}
_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class Planned:
    """One statement of the hand-written view: its SQL and how to fill in its parameters."""

    role: str
    sql: str
    constants: dict[str, Any]
    #: (bind name, source, as text): ``set_config`` takes text, the others keep the value's type.
    derived: tuple[tuple[str, str, bool], ...]

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        out = dict(self.constants)
        for name, source, as_text in self.derived:
            value = values[source]
            out[name] = str(value) if as_text and value is not None else value
        return out


def plan(statements: list[Statement], limit: int) -> list[Planned]:
    """The hand-written view's statements: the captured SQL, parameters derived per request."""
    planned: list[Planned] = []
    for sql, params in statements:
        role = _role(sql)
        constants: dict[str, Any] = {}
        derived: list[tuple[str, str, bool]] = []
        for name, value in params.items():
            sources = _SOURCES[role]
            source = sources.get(name) or sources.get(_SUFFIX.sub("", name))
            if source is None and role == "projects" and value == limit + 1:
                source = "limit_plus_one"
            if source is None:
                constants[name] = value
            else:
                derived.append((name, source, role == "bind"))
        planned.append(Planned(role, sql, constants, tuple(derived)))
    return planned


# --- the hand-written endpoint ------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    # The API writes UTC timestamps with a ``Z`` (as pydantic does).
    return moment.isoformat().replace("+00:00", "Z")


def _cursor(created_at: datetime, public_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(public_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _problem(status: int, code: str, title: str) -> Answer:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "code": code})
    return status, [("Content-Type", "application/problem+json")], body.encode()


class HandWritten:
    """``GET /api/v1/projects`` written by hand: the same statements, checks and bytes."""

    def __init__(
        self,
        engine: sa.Engine,
        statements: list[Planned],
        settings: Settings,
        *,
        dbapi: bool,
    ) -> None:
        self.engine = engine
        self.statements = statements
        self.idle = settings.session_idle_timeout
        self.dbapi = dbapi
        self.columns: dict[str, dict[str, int]] = {}
        #: When a list, what the psycopg path sends is appended to it (no SQLAlchemy event sees
        #: statements sent on the bare cursor).
        self.sent: list[Statement] | None = None

    def learn_columns(self, values: dict[str, Any]) -> None:
        """Result column positions of each statement (looked up once, as a view would hard-code)."""
        with self.engine.connect() as conn:
            for st in self.statements:
                result = conn.exec_driver_sql(st.sql, st.params(values))
                self.columns[st.role] = {name: i for i, name in enumerate(result.keys())}
                result.close()
            conn.rollback()

    def __call__(self, authorization: str | None) -> Answer:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _problem(401, "auth.unauthenticated", "Unauthenticated")
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "token_hash": hashlib.sha256(token.encode()).hexdigest(),
            "now": now,
            "idle_since": now - self.idle,
            "limit_plus_one": LIMIT + 1,
        }
        rows_by_role: dict[str, Sequence[Any]] = {}
        if self.dbapi:
            conn = self.engine.raw_connection()
            try:
                cursor = conn.cursor()
                for st in self.statements:
                    params = st.params(values)
                    if self.sent is not None:
                        self.sent.append((st.sql, params))
                    cursor.execute(st.sql, params)
                    rows = cursor.fetchall()
                    answer = self._check(st.role, rows, values, now)
                    if answer is not None:
                        conn.rollback()
                        return answer
                    rows_by_role[st.role] = rows
                cursor.close()
                conn.commit()
            finally:
                conn.close()
        else:
            with self.engine.connect() as sa_conn:
                for st in self.statements:
                    rows = sa_conn.exec_driver_sql(st.sql, st.params(values)).fetchall()
                    answer = self._check(st.role, rows, values, now)
                    if answer is not None:
                        sa_conn.rollback()
                        return answer
                    rows_by_role[st.role] = rows
                sa_conn.commit()
        body = self._page(rows_by_role["projects"], LIMIT)
        headers = [("Content-Type", "application/json"), ("X-Request-ID", uuid.uuid4().hex)]
        return 200, headers, body

    def _check(
        self, role: str, rows: Sequence[Any], values: dict[str, Any], now: datetime
    ) -> Answer | None:
        """Read what the next statements need from ``rows``; a problem answer if refused."""
        cols = self.columns[role]
        if role == "session":
            if not rows:
                return _problem(401, "auth.session_expired", "Session expired")
            row = rows[0]
            expired = (
                row[cols["revoked_at"]] is not None
                or now >= row[cols["expires_at"]]
                or now > row[cols["last_seen_at"]] + self.idle
            )
            if expired:
                return _problem(401, "auth.session_expired", "Session expired")
            if row[cols["status"]] != "active" or row[cols["deleted_at"]] is not None:
                return _problem(403, "auth.account_disabled", "Account disabled")
            values["user_id"] = row[cols["user_id"]]
            values["tenant_id"] = row[cols["active_tenant_id"]]
            if values["tenant_id"] is None:
                return _problem(403, "tenant.required", "Tenant required")
        elif role == "membership":
            if not rows or rows[0][cols["status"]] != "active":
                return _problem(403, "tenant.required", "Tenant required")
            values["role_id"] = rows[0][cols["role_id"]]
        elif role == "permissions":
            held = {key for key, scope in rows if scope == "tenant"}
            if "projects:read" not in held:
                return _problem(403, "iam.permission_denied", "Permission denied")
        return None

    def _page(self, rows: Sequence[Any], limit: int) -> bytes:
        cols = self.columns["projects"]
        # The id column as the statement names it (``public_id``, or labelled ``id``).
        pid = cols["id"] if "id" in cols else cols["public_id"]
        name, description = cols["name"], cols["description"]
        status, metadata = cols["status"], cols["metadata"]
        created, updated = cols["created_at"], cols["updated_at"]
        shown = rows[:limit]
        items = [
            {
                "id": str(row[pid]),
                "name": row[name],
                "description": row[description],
                "status": row[status],
                "metadata": row[metadata],
                "created_at": _iso(row[created]),
                "updated_at": _iso(row[updated]),
            }
            for row in shown
        ]
        more = len(rows) > limit
        next_cursor = _cursor(shown[-1][created], shown[-1][pid]) if more and shown else None
        page = {"items": items, "next_cursor": next_cursor}
        return json.dumps(page, separators=(",", ":"), ensure_ascii=False).encode()


def build_hand(
    engine: sa.Engine,
    statements: list[Statement],
    caller: Caller,
    settings: Settings,
    *,
    dbapi: bool,
) -> HandWritten:
    """The hand-written view for the captured statements, its parameters checked against them."""
    planned = plan(statements, limit=LIMIT)
    values: dict[str, Any] = {
        "token_hash": hashlib.sha256(caller.token.encode()).hexdigest(),
        "tenant_id": caller.tenant.id,
        "user_id": caller.user.id,
        "limit_plus_one": LIMIT + 1,
    }
    for st, (_sql, captured) in zip(planned, statements, strict=True):
        for name, source, _ in st.derived:
            if source == "role_id":
                values["role_id"] = captured[name]
        now = next((v for v in captured.values() if isinstance(v, datetime)), None)
        values["now"] = now
        values["idle_since"] = now - settings.session_idle_timeout if now else None
        # What the hand-written view would send for the captured request is what was sent.
        assert st.params(values) == captured, (st.sql, st.params(values), captured)
    hand = HandWritten(engine, planned, settings, dbapi=dbapi)
    hand.learn_columns(values)
    return hand
