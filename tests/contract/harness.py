"""One small client API over the three adapters' own test clients.

Each adapter serves the same :class:`~saas_core.core.Core`; :meth:`Adapters.same` sends one
request through all three and asserts that status and body bytes agree, so every contract test
checks parity as a side effect. Cookies travel as a raw ``Cookie`` header (no client-side jars:
their rules differ between the three clients and would hide what the server does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from saas_core.core import Core

ADAPTERS = ("fastapi", "flask", "django")
REQUEST_ID = "contract-test-request"


@dataclass
class Result:
    """What a test sees of a response."""

    adapter: str
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def cookie(self, name: str) -> str:
        """The ``Set-Cookie`` value for cookie ``name`` (normalised to lower-case attributes)."""
        for raw in self.set_cookies:
            if raw.split("=", 1)[0] == name:
                return raw
        raise AssertionError(f"no Set-Cookie for {name!r} in {self.set_cookies!r}")


class Client(Protocol):
    """Sends one request through one adapter."""

    name: str

    def send(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Result: ...


class FastApiClient:
    name = "fastapi"

    def __init__(self, core: Core) -> None:
        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        from saas_core_fastapi import saas_router

        app = FastAPI()
        app.include_router(saas_router(core))
        self.app = app
        self.client = TestClient(app)

    def send(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Result:
        self.client.cookies.clear()
        url = f"{path}?{query}" if query else path
        response = self.client.request(method, url, headers=headers, content=body)
        return Result(
            self.name,
            response.status_code,
            {k.lower(): v for k, v in response.headers.items() if k.lower() != "set-cookie"},
            response.content,
            response.headers.get_list("set-cookie"),
        )


class FlaskClient:
    name = "flask"

    def __init__(self, core: Core) -> None:
        from flask import Flask

        from saas_core_flask import SaasCore

        app = Flask("contract")
        SaasCore(app, core=core)
        self.app = app
        self.client = app.test_client(use_cookies=False)

    def send(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Result:
        response = self.client.open(
            path, method=method, query_string=query, headers=headers, data=body
        )
        return Result(
            self.name,
            response.status_code,
            {k.lower(): v for k, v in response.headers.items() if k.lower() != "set-cookie"},
            response.get_data(),
            response.headers.getlist("Set-Cookie"),
        )


class DjangoClient:
    name = "django"

    def __init__(self, core: Core) -> None:
        import saas_core_django

        saas_core_django.configure(core)

    def send(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Result:
        from django.test import Client as TestClient

        # enforce_csrf_checks: Django's CsrfViewMiddleware is on and must not get in the way.
        client = TestClient(enforce_csrf_checks=True)
        extra = dict(headers)
        content_type = extra.pop("Content-Type", "application/octet-stream")
        url = f"{path}?{query}" if query else path
        response = client.generic(method, url, body, content_type=content_type, headers=extra)
        return Result(
            self.name,
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
            [morsel.OutputString() for morsel in response.cookies.values()],
        )


class Adapters:
    """The three adapters serving one core."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.clients: list[Client] = [FastApiClient(core), FlaskClient(core), DjangoClient(core)]

    def each(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | str | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        content_type: str | None = None,
        cookies: Mapping[str, str] | None = None,
    ) -> list[Result]:
        """Send the request through every adapter; one result per adapter."""
        sent = {"X-Request-ID": REQUEST_ID, **(headers or {})}
        raw = body or b""
        if json_body is not None:
            raw = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        if content_type is not None:
            sent["Content-Type"] = content_type
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        qs = query if isinstance(query, str) else urlencode(query or {}, doseq=True)
        return [client.send(method, path, qs, dict(sent), raw) for client in self.clients]

    def same(self, method: str, path: str, **options: Any) -> Result:
        """Send through every adapter, assert identical status and body bytes, return one."""
        results = self.each(method, path, **options)
        first = results[0]
        for other in results[1:]:
            assert other.status == first.status, (first.adapter, other.adapter, results)
            assert other.body == first.body, (first.adapter, other.adapter, first.body, other.body)
            for name in ("content-type", "x-request-id", "allow", "www-authenticate"):
                assert other.headers.get(name) == first.headers.get(name), (name, results)
        return first
