"""The framework-neutral request and response."""

from __future__ import annotations

from saas_core.api.http import (
    Cookie,
    Headers,
    HttpRequest,
    HttpResponse,
    QueryParams,
    parse_cookie_header,
)


def test_headers_are_case_insensitive_and_combine_repeats() -> None:
    headers = Headers([("Accept", "a"), ("accept", "b"), ("Cookie", "x=1"), ("COOKIE", "y=2")])
    assert headers["ACCEPT"] == "a, b"
    assert headers.get("cookie") == "x=1; y=2"
    assert "Accept" in headers
    assert headers.get("missing") is None
    assert len(headers) == 2
    assert "x=1" not in repr(headers)


def test_query_params_keep_order_repeats_and_blanks() -> None:
    query = QueryParams.parse("a=1&b=&a=2&c=%20x")
    assert query.get("a") == "1"
    assert query.getlist("a") == ["1", "2"]
    assert query.get("b") == ""
    assert query.get("c") == " x"
    assert "b" in query
    assert QueryParams.parse("").items() == []


def test_cookie_header_parsing_first_wins_and_unquotes() -> None:
    assert parse_cookie_header('a=1; b="two"; a=3; junk; =x') == {"a": "1", "b": "two"}
    assert parse_cookie_header(None) == {}


def test_request_derived_fields() -> None:
    request = HttpRequest(
        "POST",
        "/api/v1/x",
        Headers(
            [
                ("Content-Type", "Application/JSON; charset=utf-8"),
                ("User-Agent", "ua"),
                ("Cookie", "s=1"),
            ]
        ),
        "q=1",
    )
    assert request.content_type == "application/json"
    assert request.user_agent == "ua"
    assert request.cookies == {"s": "1"}
    assert request.query.get("q") == "1"
    assert HttpRequest("GET", "/", Headers()).content_type is None


def test_set_cookie_header_values() -> None:
    session = Cookie("__Host-session", "tok")
    assert session.header_value() == "__Host-session=tok; Path=/; Secure; HttpOnly; SameSite=Lax"
    gone = Cookie("s", "", max_age=0, secure=False, http_only=False, same_site=None)
    assert gone.deletes
    assert gone.header_value() == "s=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"
    kept = Cookie("s", "v", max_age=60, domain="example.com", same_site="Strict")
    assert "Max-Age=60; Domain=example.com" in kept.header_value()


def test_response_headers_and_cookies() -> None:
    response = HttpResponse(200, [("Content-Type", "application/json")], b"{}")
    assert response.header("content-type") == "application/json"
    assert response.header("x") is None
    assert response.raw_headers() == [("Content-Type", "application/json")]
    response.cookies.append(Cookie("a", "b"))
    assert response.raw_headers()[-1][0] == "Set-Cookie"
