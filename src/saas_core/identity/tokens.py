"""Opaque tokens and API keys: generated from :mod:`secrets`, stored only as SHA-256 digests.

Session tokens and single-use tokens (email verification, password reset, email change) are 32
random bytes, URL-safe base64 encoded (43 characters). The database keeps their SHA-256 hex
digest, so a copy of the database (a backup, a replica, a leaked dump) holds nothing that
authenticates: a lookup hashes what the client sends, and a stored digest sent as a token is
hashed again and matches nothing. A fast hash is enough here because the tokens carry 256 bits of
entropy; slow hashes exist for low-entropy passwords.

An API key reads ``sk_live_<8 chars>.<secret>``. The part before the dot is the visible prefix:
stored in clear, shown in listings, used to find the row. The secret is shown once, at creation;
only its SHA-256 is stored, and it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from typing import NamedTuple

#: Random bytes behind every token and API key secret.
TOKEN_BYTES = 32

#: The visible start of every API key.
API_KEY_PREFIX = "sk_live_"
#: Random characters after :data:`API_KEY_PREFIX` in the visible part.
API_KEY_PREFIX_RANDOM_CHARS = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_API_KEY_SEPARATOR = "."


def hash_token(raw: str) -> str:
    """The SHA-256 hex digest of ``raw``: the only form of a token the database holds."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings in time independent of where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class IssuedToken(NamedTuple):
    """A new token: ``raw`` goes to the client once; ``hash`` goes to the database."""

    raw: str
    hash: str


def new_token() -> IssuedToken:
    """Generate a session or single-use token (32 random bytes)."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    return IssuedToken(raw, hash_token(raw))


class IssuedApiKey(NamedTuple):
    """A new API key: ``key`` is shown once; ``prefix`` and ``secret_hash`` are stored."""

    key: str
    prefix: str
    secret_hash: str


def new_api_key() -> IssuedApiKey:
    """Generate an API key ``sk_live_<8 chars>.<secret>``."""
    random_part = "".join(
        secrets.choice(_PREFIX_ALPHABET) for _ in range(API_KEY_PREFIX_RANDOM_CHARS)
    )
    prefix = f"{API_KEY_PREFIX}{random_part}"
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    return IssuedApiKey(f"{prefix}{_API_KEY_SEPARATOR}{secret}", prefix, hash_token(secret))


def split_api_key(key: str) -> tuple[str, str] | None:
    """Split ``key`` into ``(prefix, secret)``; ``None`` when it is not shaped like an API key."""
    prefix, separator, secret = key.strip().partition(_API_KEY_SEPARATOR)
    if (
        not separator
        or not secret
        or not prefix.startswith(API_KEY_PREFIX)
        or len(prefix) != len(API_KEY_PREFIX) + API_KEY_PREFIX_RANDOM_CHARS
    ):
        return None
    return prefix, secret


def looks_like_api_key(credential: str) -> bool:
    """True when ``credential`` has the shape of an API key (rather than a session token)."""
    return split_api_key(credential) is not None
