"""Password hashing parameters, verification, rehash detection and the password policy."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters

from saas_core.config import Settings
from saas_core.errors import WeakPassword
from saas_core.identity.passwords import (
    MAX_PASSWORD_LENGTH,
    OWASP_MIN_MEMORY_COST_KIB,
    Argon2Parameters,
    PasswordHasher,
    check_password_policy,
)
from saas_core.testing import fast_settings

CHEAP = Argon2Parameters(memory_cost_kib=64, time_cost=1, parallelism=1)


def test_default_parameters_meet_the_owasp_floor() -> None:
    params = Argon2Parameters.from_settings(Settings())
    assert params.meets_owasp_floor
    assert params.memory_cost_kib >= OWASP_MIN_MEMORY_COST_KIB == 19 * 1024
    assert params.time_cost >= 2
    assert params.parallelism >= 1


def test_default_hasher_writes_argon2id_at_the_configured_cost() -> None:
    hasher = PasswordHasher.from_settings(Settings())
    encoded = hasher.hash("a long enough passphrase")
    assert encoded.startswith("$argon2id$")
    stored = extract_parameters(encoded)
    assert (stored.memory_cost, stored.time_cost, stored.parallelism) == (19_456, 2, 1)


def test_test_settings_are_below_the_floor_on_purpose() -> None:
    assert not Argon2Parameters.from_settings(fast_settings()).meets_owasp_floor


def test_verify_accepts_the_password_and_rejects_others() -> None:
    hasher = PasswordHasher(CHEAP)
    encoded = hasher.hash("correct horse battery staple")
    assert hasher.verify(encoded, "correct horse battery staple")
    assert not hasher.verify(encoded, "correct horse battery stapler")
    assert not hasher.verify("not a hash", "anything")


def test_each_hash_has_its_own_salt() -> None:
    hasher = PasswordHasher(CHEAP)
    assert hasher.hash("same password here") != hasher.hash("same password here")


def test_needs_rehash_when_parameters_rise() -> None:
    old = PasswordHasher(CHEAP)
    new = PasswordHasher(Argon2Parameters(memory_cost_kib=128, time_cost=2, parallelism=1))
    encoded = old.hash("a long enough passphrase")
    assert not old.needs_rehash(encoded)
    assert new.needs_rehash(encoded)
    assert not new.needs_rehash(new.hash("a long enough passphrase"))
    assert new.needs_rehash("garbage")


def test_dummy_verify_does_the_work_and_returns_nothing() -> None:
    hasher = PasswordHasher(CHEAP)
    assert hasher.dummy_verify("whatever") is None
    assert hasher._dummy_hash is not None
    assert hasher._dummy_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short", "min_length"),
        ("a" * 12, "repeated_character"),
        ("ada.lovelace@example.com", "email"),
        ("  ADA.Lovelace@Example.com ", "email"),
        ("ada.lovelace", "email"),
        ("x" + "y" * MAX_PASSWORD_LENGTH, "max_length"),
    ],
)
def test_policy_refuses(password: str, rule: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        check_password_policy(password, email="ada.lovelace@example.com", min_length=10)
    assert caught.value.extra["rule"] == rule


@pytest.mark.parametrize(
    "password",
    [
        "all lowercase words are fine",
        "ünïcödé-pässwörd",
        "0123456789",
        "z" * 9 + "y",
    ],
)
def test_policy_has_no_composition_rules(password: str) -> None:
    check_password_policy(password, email="ada@example.com", min_length=10)


def test_policy_counts_characters_not_bytes() -> None:
    with pytest.raises(WeakPassword):
        check_password_policy("ééééééééé", email=None, min_length=10)
    check_password_policy("éééééééééa", email=None, min_length=10)
