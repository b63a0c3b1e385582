"""Framework-neutral HTTP request and response.

Adapters translate their native request into an :class:`HttpRequest` and write an
:class:`HttpResponse` back; everything between (parsing, auth, CSRF, validation, errors) happens
in core, so the three adapters cannot drift apart. The query string and the ``Cookie`` header are
parsed here rather than by each framework: the frameworks disagree on edge cases (blank values,
quoted cookies) and the answers must be byte-for-byte identical.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal
from urllib.parse import parse_qsl

SameSite = Literal["Lax", "Strict", "None"]


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers.

    Repeated headers are combined as RFC 9110 section 5.3 allows (``", "``), except ``Cookie``,
    whose pieces are joined with ``"; "`` (RFC 6265 section 5.4).
    """

    __slots__ = ("_data",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        data: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            if key in data:
                data[key] = f"{data[key]}{'; ' if key == 'cookie' else ', '}{value}"
            else:
                data[key] = value
        self._data = data

    def __getitem__(self, name: str) -> str:
        return self._data[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """The header's value, or ``default``; ``name`` is case-insensitive."""
        return self._data.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        # Header values may hold credentials; never print them.
        return f"Headers({sorted(self._data)!r})"


class QueryParams:
    """Query parameters in order, with repeated names kept (``?tag=a&tag=b``)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    @classmethod
    def parse(cls, query_string: str) -> QueryParams:
        """Parse a raw (percent-encoded) query string; blank values are kept."""
        return cls(parse_qsl(query_string, keep_blank_values=True)) if query_string else cls([])

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``."""
        for key, value in self._items:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        return [value for key, value in self._items if key == name]

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs, in order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """Parse a ``Cookie`` header into a dict; the first occurrence of a name wins.

    Browsers send the most specific cookie first (RFC 6265 section 5.4), so the first one is
    the one to trust when an attacker plants a duplicate on a parent path.
    """
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for piece in header.split(";"):
        name, sep, value = piece.partition("=")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name and name not in cookies:
            cookies[name] = value
    return cookies


@dataclass(slots=True, eq=False)
class HttpRequest:
    """One HTTP request as every adapter presents it to core.

    ``path`` is the full path the client asked for (with the API prefix): problem details use it
    as ``instance``. ``body`` is the raw bytes, read once by the adapter.
    """

    method: str
    path: str
    headers: Headers
    query_string: str = ""
    body: bytes = b""
    client_ip: str | None = None
    _query: QueryParams | None = field(default=None, init=False, repr=False)
    _cookies: dict[str, str] | None = field(default=None, init=False, repr=False)

    @property
    def query(self) -> QueryParams:
        """The parsed query string (parsed on first use)."""
        if self._query is None:
            self._query = QueryParams.parse(self.query_string)
        return self._query

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies from the ``Cookie`` header (parsed on first use)."""
        if self._cookies is None:
            self._cookies = parse_cookie_header(self.headers.get("cookie"))
        return self._cookies

    @property
    def user_agent(self) -> str | None:
        """The ``User-Agent`` header, if any, with NUL characters replaced by U+FFFD.

        It is stored as text (sessions, audit and security records) and PostgreSQL text cannot
        hold NUL; not every server refuses a header carrying one.
        """
        agent = self.headers.get("user-agent")
        if agent is not None and "\x00" in agent:
            return agent.replace("\x00", "\ufffd")
        return agent

    @property
    def content_type(self) -> str | None:
        """The media type of the body, lower-cased, without parameters."""
        raw = self.headers.get("content-type")
        if raw is None:
            return None
        return raw.split(";", 1)[0].strip().lower()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cookie:
    """An instruction to set (or, with ``max_age=0``, delete) a cookie."""

    name: str
    value: str
    max_age: int | None = None
    path: str = "/"
    domain: str | None = None
    secure: bool = True
    http_only: bool = True
    same_site: SameSite | None = "Lax"

    @property
    def deletes(self) -> bool:
        """True when this instruction removes the cookie."""
        return self.max_age is not None and self.max_age <= 0

    def header_value(self) -> str:
        """The ``Set-Cookie`` header value (attributes in a fixed order)."""
        parts = [f"{self.name}={self.value}"]
        if self.max_age is not None:
            parts.append(f"Max-Age={max(self.max_age, 0)}")
            if self.deletes:
                # Old clients ignore Max-Age; an expiry in the past removes the cookie for them.
                parts.append(f"Expires={format_datetime(_EPOCH, usegmt=True)}")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        parts.append(f"Path={self.path}")
        if self.secure:
            parts.append("Secure")
        if self.http_only:
            parts.append("HttpOnly")
        if self.same_site:
            parts.append(f"SameSite={self.same_site}")
        return "; ".join(parts)


@dataclass(slots=True)
class HttpResponse:
    """What core answers: status, headers (no ``Set-Cookie``), body bytes and cookies.

    Cookies are kept apart from ``headers`` because Django sets them through its own API; the
    other adapters append :meth:`Cookie.header_value` as ``Set-Cookie`` headers.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    cookies: list[Cookie] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def raw_headers(self) -> list[tuple[str, str]]:
        """Headers with one ``Set-Cookie`` per cookie appended."""
        if not self.cookies:
            return self.headers
        return [*self.headers, *(("Set-Cookie", c.header_value()) for c in self.cookies)]
