"""A throwaway route table that exercises every part of the pipeline, and a fake authenticator.

Bearer tokens (and session cookies) are looked up in :data:`CONTEXTS`; the handlers are
deterministic so that all three adapters answer the same bytes.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas_core.api.contract import (
    AUTHENTICATED,
    PUBLIC,
    WEBHOOK,
    Call,
    RouteTable,
    api_key,
    permission,
    platform,
)
from saas_core.api.http import HttpResponse
from saas_core.api.pagination import Page, PageQuery
from saas_core.context import AuthMethod, RequestContext, TenantRef, UserRef
from saas_core.core import Credentials, Transport
from saas_core.errors import Conflict, InvalidCredentials, SessionExpired
from saas_core.identity.models import User

USER = UserRef(id=1, public_id=uuid.UUID("0190a0a0-0000-7000-8000-000000000001"), email="u@x.io")
ADMIN = UserRef(id=2, public_id=uuid.UUID("0190a0a0-0000-7000-8000-000000000002"), email="a@x.io")
TENANT = TenantRef(
    id=7, public_id=uuid.UUID("0190a0a0-0000-7000-8000-000000000007"), slug="acme", status="active"
)
CONTEXTS: dict[str, RequestContext] = {
    "member": RequestContext(
        auth_method=AuthMethod.SESSION,
        user=USER,
        tenant=TENANT,
        role="admin",
        permissions=frozenset({"projects:read", "projects:write"}),
    ),
    "viewer": RequestContext(
        auth_method=AuthMethod.SESSION,
        user=USER,
        tenant=TENANT,
        role="viewer",
        permissions=frozenset({"projects:read"}),
    ),
    "colleague": RequestContext(
        auth_method=AuthMethod.SESSION,
        user=ADMIN,
        tenant=TENANT,
        role="admin",
        permissions=frozenset({"projects:read", "projects:write"}),
    ),
    "lonely": RequestContext(auth_method=AuthMethod.SESSION, user=USER),
    "operator": RequestContext(
        auth_method=AuthMethod.SESSION,
        user=ADMIN,
        platform_permissions=frozenset({"platform:audit:read"}),
    ),
    "key": RequestContext(
        auth_method=AuthMethod.API_KEY, api_key_id=9, permissions=frozenset({"usage:record"})
    ),
}


class TokenAuthenticator:
    """Resolves the tokens of :data:`CONTEXTS`; anything else is an expired session."""

    def __init__(self) -> None:
        self.transports: list[Transport] = []

    def authenticate(self, session: Session, credentials: Credentials) -> RequestContext:
        self.transports.append(credentials.transport)
        if credentials.token is None:
            return credentials.anonymous()
        ctx = CONTEXTS.get(credentials.token)
        if ctx is None:
            raise SessionExpired()
        return replace(
            ctx,
            request_id=credentials.request_id,
            client_ip=credentials.client_ip,
            user_agent=credentials.user_agent,
        )


class WidgetIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    size: int = Field(ge=0)
    tags: list[str] = []


class WidgetOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    widget_id: uuid.UUID = Field(alias="widgetId")
    name: str
    size: int


class WidgetQuery(PageQuery):
    tag: list[str] = []


class Echo(BaseModel):
    value: Any


class LoginIn(BaseModel):
    token: str


NAMESPACE = uuid.UUID("0190a0a0-0000-7000-8000-0000000000ff")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Counter:
    """Counts handler runs (thread-safe), optionally holding each run for a while."""

    def __init__(self) -> None:
        self.runs = 0
        self.hold = 0.0
        self.lock = threading.Lock()

    def hit(self) -> None:
        with self.lock:
            self.runs += 1
        if self.hold:
            time.sleep(self.hold)


def build_table(counter: Counter) -> RouteTable:
    """The sample routes (a fresh table per test, sharing ``counter``)."""
    routes = RouteTable()

    @routes.route(
        "POST",
        "/widgets",
        access=permission("projects:write"),
        request_model=WidgetIn,
        response_model=WidgetOut,
        status_code=201,
        audit_action="widget.create",
        idempotent=True,
    )
    def create_widget(call: Call) -> WidgetOut:
        body = call.body_as(WidgetIn)
        counter.hit()
        if body.name == "explode":
            raise Conflict("the widget exploded")
        widget_id = uuid.uuid5(NAMESPACE, body.name)
        call.audit("widget", widget_id, size=body.size)
        return WidgetOut(widget_id=widget_id, name=body.name, size=body.size)

    @routes.route(
        "GET",
        "/widgets",
        access=permission("projects:read"),
        query_model=WidgetQuery,
        response_model=Page[WidgetOut],
    )
    def list_widgets(call: Call) -> Page[WidgetOut]:
        query = call.query_as(WidgetQuery)
        after = query.after()
        rows = [
            (T0.replace(minute=i), uuid.uuid5(NAMESPACE, f"w{i}"), f"w{i}")
            for i in range(5)
            if after is None or (T0.replace(minute=i), uuid.uuid5(NAMESPACE, f"w{i}")) > after
        ]
        return Page[WidgetOut].build(
            rows[: query.limit + 1],
            query.limit,
            lambda r: WidgetOut(widget_id=r[1], name=r[2] + "".join(query.tag), size=0),
            key=lambda r: (r[0], r[1]),
        )

    @routes.route("GET", "/widgets/{widgetId}", access=AUTHENTICATED, response_model=WidgetOut)
    def get_widget(call: Call) -> WidgetOut:
        return WidgetOut(widget_id=call.path_id("widgetId"), name="w", size=1)

    @routes.route(
        "DELETE",
        "/widgets/{widgetId}",
        access=permission("projects:write"),
        audit_action="widget.delete",
    )
    def delete_widget(call: Call) -> None:
        return None

    @routes.route(
        "POST",
        "/session",
        access=PUBLIC,
        request_model=LoginIn,
        audit_action="auth.login",
        idempotent=True,
    )
    def login(call: Call) -> None:
        token = call.body_as(LoginIn).token
        if token not in CONTEXTS:
            raise InvalidCredentials()
        call.audit_actor = CONTEXTS[token].user
        call.set_cookie(call.core.session_cookie_name, token)
        call.set_cookie(call.core.csrf_cookie_name, "csrf-" + token, http_only=False)

    @routes.route("DELETE", "/session", access=AUTHENTICATED, audit_action="auth.logout")
    def logout(call: Call) -> None:
        call.delete_cookie(call.core.session_cookie_name)

    @routes.route("POST", "/users", access=AUTHENTICATED, audit_action="user.create")
    def create_user_then_fail(call: Call) -> None:
        call.session.add(User(email="rolled-back@example.com"))
        call.session.flush()
        raise Conflict("changed my mind")

    @routes.route("GET", "/users/count", access=PUBLIC, response_model=Echo)
    def count_users(call: Call) -> Echo:
        return Echo(value=call.session.scalar(select(func.count()).select_from(User)))

    @routes.route("GET", "/boom", access=PUBLIC)
    def boom(call: Call) -> None:
        raise RuntimeError("secret internals at 10.0.0.5")

    @routes.route("GET", "/integrity", access=PUBLIC)
    def integrity(call: Call) -> None:
        raise IntegrityError("INSERT secret", {}, Exception("duplicate key secret"))

    @routes.route("GET", "/audit", access=platform("platform:audit:read"), response_model=Echo)
    def read_audit(call: Call) -> Echo:
        return Echo(value="audit")

    @routes.route(
        "POST", "/usage", access=api_key("usage:record"), response_model=Echo, audit_action="u"
    )
    def record_usage(call: Call) -> Echo:
        return Echo(value=call.ctx.caller_key)

    @routes.route("POST", "/hooks/{provider}", access=WEBHOOK, response_model=Echo)
    def webhook(call: Call) -> Echo:
        return Echo(value=[call.path["provider"], len(call.request.body), call.ctx.auth_method])

    @routes.route("GET", "/raw", access=PUBLIC)
    def raw(call: Call) -> HttpResponse:
        call.add_header("Cache-Control", "no-store")
        return HttpResponse(200, [("Content-Type", "text/plain")], b"raw bytes")

    return routes
