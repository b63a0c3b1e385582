"""saas-core's HTTP API in a FastAPI app, driven through FastAPI's test client.

Signs up, signs in with a bearer token, creates a tenant, switches to it, creates a project
(with an ``Idempotency-Key``, then retries it) and lists the projects; then shows two problem
responses, and the cookie transport with its CSRF header. Everything runs in-process, on a new
SQLite file in a temporary directory. Run it from anywhere (``pip install "saas-core[fastapi]"``
first)::

    python examples/snippets/http_quickstart.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from saas_core import migrations
from saas_core.config import Settings
from saas_core.core import Core
from saas_core_fastapi import saas_router

# --8<-- [start:app]
url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='saas-core-')) / 'app.sqlite3'}"
migrations.upgrade(url)  # saas-core's tables; a no-op once the schema is current

core = Core(Settings(database_url=url))
app = FastAPI()
app.include_router(saas_router(core))  # every saas-core route, under /api/v1
# --8<-- [end:app]

results: dict[str, Any] = {}

# --8<-- [start:flow]
client = TestClient(app)
credentials = {"email": "ada@example.com", "password": "correct horse battery"}

# Sign up, then sign in: the default transport is a bearer token in the response body.
user = client.post("/api/v1/auth/register", json=credentials)
assert user.status_code == 201, user.text
login = client.post("/api/v1/auth/login", json=credentials).json()
auth = {"Authorization": f"Bearer {login['token']}"}

# A new user has no tenant. Create one (the caller becomes its owner), then make it the
# session's active tenant: tenant-scoped routes act in it from the next request on.
tenant = client.post("/api/v1/tenants", json={"name": "Acme", "slug": "acme"}, headers=auth)
assert tenant.status_code == 201, tenant.text
tenant_id = tenant.json()["id"]
switched = client.put("/api/v1/me/active-tenant", json={"tenant_id": tenant_id}, headers=auth)
assert switched.status_code == 200, switched.text

# Create a project. With an Idempotency-Key, a retry replays the first answer instead of
# creating a second project.
keyed = {**auth, "Idempotency-Key": "create-website-1"}
created = client.post("/api/v1/projects", json={"name": "Website"}, headers=keyed)
retried = client.post("/api/v1/projects", json={"name": "Website"}, headers=keyed)
assert created.status_code == retried.status_code == 201, created.text
assert retried.content == created.content
assert retried.headers["Idempotent-Replayed"] == "true"

# List the active tenant's projects, one cursor page at a time.
page = client.get("/api/v1/projects", params={"limit": 10}, headers=auth).json()
assert [p["name"] for p in page["items"]] == ["Website"]
assert page["next_cursor"] is None  # the last page
# --8<-- [end:flow]

results.update(login=login, tenant=tenant.json(), project=created.json(), page=page)

# --8<-- [start:errors]
# A body that breaks the model: 422, one entry per field in `errors`.
invalid = client.post(
    "/api/v1/projects",
    json={"name": "", "colour": "blue"},
    headers={**auth, "X-Request-ID": "req-invalid-1"},
)
assert invalid.status_code == 422
assert invalid.headers["Content-Type"] == "application/problem+json"

# An id that names nothing in the active tenant: 404.
missing = client.get(
    "/api/v1/projects/00000000-0000-0000-0000-000000000000",
    headers={**auth, "X-Request-ID": "req-missing-1"},
)
assert missing.status_code == 404
assert missing.headers["X-Request-ID"] == "req-missing-1"
# --8<-- [end:errors]

results.update(invalid=invalid.json(), missing=missing.json())

# --8<-- [start:cookies]
# Cookie mode, as a browser uses it: Secure cookies, so the client talks HTTPS.
browser = TestClient(app, base_url="https://testserver")
signed_in = browser.post("/api/v1/auth/login", json={**credentials, "transport": "cookie"})
assert signed_in.json()["token"] is None  # the token is in the HttpOnly session cookie
csrf = browser.cookies["__Host-csrftoken"]  # readable by the page's scripts

# Unsafe methods must echo the CSRF cookie in the X-CSRF-Token header...
refused = browser.post("/api/v1/projects", json={"name": "Blog"})
assert (refused.status_code, refused.json()["code"]) == (403, "auth.csrf_failed")
accepted = browser.post("/api/v1/projects", json={"name": "Blog"}, headers={"X-CSRF-Token": csrf})
assert accepted.status_code == 201, accepted.text
# ...reads need nothing more than the cookies.
assert browser.get("/api/v1/me").json()["email"] == "ada@example.com"
# --8<-- [end:cookies]

results.update(set_cookie=signed_in.headers.get_list("set-cookie"), csrf_refused=refused.json())
browser.close()
client.close()
core.dispose()

if __name__ == "__main__":
    print(f"signed in as {user.json()['email']}, session {login['session_id']}")
    print(f"tenant {tenant_id}: {json.dumps(page, indent=2)}")
    print(f"422 problem: {json.dumps(results['invalid'], indent=2)}")
    print(f"404 problem: {json.dumps(results['missing'], indent=2)}")
