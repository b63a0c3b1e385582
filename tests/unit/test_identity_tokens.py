"""Token and API key generation: entropy, stored form, parsing."""

from __future__ import annotations

import hashlib

import pytest

from saas_core.identity.tokens import (
    API_KEY_PREFIX,
    constant_time_equals,
    hash_token,
    looks_like_api_key,
    new_api_key,
    new_token,
    split_api_key,
)


def test_tokens_are_32_random_bytes_stored_as_sha256() -> None:
    token = new_token()
    assert len(token.raw) == 43  # 32 bytes, URL-safe base64 without padding
    assert token.hash == hashlib.sha256(token.raw.encode()).hexdigest()
    assert len(token.hash) == 64
    assert len({new_token().raw for _ in range(100)}) == 100


def test_hash_of_a_hash_is_not_the_hash() -> None:
    token = new_token()
    assert hash_token(token.hash) != token.hash


def test_api_key_shape_and_stored_parts() -> None:
    issued = new_api_key()
    prefix, secret = issued.key.split(".", 1)
    assert prefix == issued.prefix
    assert prefix.startswith(API_KEY_PREFIX)
    assert len(prefix) == len(API_KEY_PREFIX) + 8
    assert prefix[len(API_KEY_PREFIX) :].isalnum()
    assert issued.secret_hash == hash_token(secret)
    assert secret not in issued.prefix
    assert split_api_key(issued.key) == (prefix, secret)
    assert looks_like_api_key(issued.key)


@pytest.mark.parametrize(
    "value",
    ["", "sk_live_abc.def", "pk_live_abcdefgh.secret", "sk_live_abcdefgh", "sk_live_abcdefgh."],
)
def test_split_api_key_rejects_malformed_keys(value: str) -> None:
    assert split_api_key(value) is None


def test_a_session_token_does_not_look_like_an_api_key() -> None:
    assert not looks_like_api_key(new_token().raw)


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "abcd")
