"""The one mapping from errors to RFC 9457 problem details.

Every error an adapter answers goes through :func:`problem_response`, so the three adapters send
the same bytes. The body is::

    {"type": "https://saas-core.dev/problems/<code>", "title": ..., "status": ..., "detail": ...,
     "instance": "<request path>", "code": "<code>", "request_id": "...", "errors": [...]}

``type`` is an absolute URI derived from the stable ``code`` (RFC 9457 section 3.1.1), so clients
can switch on either; the documentation site publishes a page per code under that base. ``errors``
is present only for validation problems: each item has ``loc`` (a path such as
``["body", "members", 0, "email"]``), ``msg`` and ``type``.

Members are written in a fixed order with compact separators, so the bytes are deterministic.
Errors of 500 and above never show their message (it may name internals): ``detail`` is the title.
Unexpected exceptions become a plain 500 and are logged with the request id.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from saas_core.api.http import HttpResponse
from saas_core.errors import (
    DatabaseError,
    IntegrityViolation,
    MethodNotAllowed,
    RateLimited,
    SaasCoreError,
    Unauthenticated,
)

PROBLEM_TYPE_BASE = "https://saas-core.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

logger = logging.getLogger("saas_core.api")


def as_saas_error(exc: BaseException) -> SaasCoreError:
    """The library error that stands for ``exc`` (database errors wrapped, others a plain 500)."""
    if isinstance(exc, SaasCoreError):
        return exc
    if isinstance(exc, IntegrityError):
        return IntegrityViolation()
    if isinstance(exc, SQLAlchemyError):
        return DatabaseError()
    return SaasCoreError()


def problem_for(error: SaasCoreError, *, instance: str, request_id: str) -> dict[str, Any]:
    """The problem document for ``error`` as a dict (members in their fixed order)."""
    detail = error.title if error.status >= 500 else error.detail
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": detail,
        "instance": instance,
        "code": error.code,
        "request_id": request_id,
    }
    errors = error.extra.get("errors")
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(exc: BaseException, *, instance: str, request_id: str) -> HttpResponse:
    """Turn any exception into a problem response (logging the unexpected ones)."""
    error = as_saas_error(exc)
    if error is not exc or error.status >= 500:
        logger.error("request %s failed: %s", request_id, type(exc).__name__, exc_info=exc)
    body = problem_for(error, instance=instance, request_id=request_id)
    headers = [("Content-Type", PROBLEM_CONTENT_TYPE)]
    if isinstance(error, Unauthenticated) and error.status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="saas-core"'))
    if isinstance(error, MethodNotAllowed):
        headers.append(("Allow", ", ".join(error.extra.get("allow", ()))))
    retry_after = error.extra.get("retry_after")
    if retry_after is not None or isinstance(error, RateLimited):
        headers.append(("Retry-After", str(int(retry_after or 1))))
    return HttpResponse(status=error.status, headers=headers, body=dump_json(body))


def dump_json(value: Any) -> bytes:
    """Compact, deterministic JSON bytes (UTF-8, no ASCII escaping)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
