"""Password hashing (argon2id) and the password policy.

Hashes are argon2id in the PHC string format (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``), so
every stored hash carries the parameters it was made with. When the configured parameters rise,
:meth:`PasswordHasher.needs_rehash` turns true for older hashes and the login path stores a fresh
hash while it holds the clear password (the only moment it can).

The policy follows NIST SP 800-63B: a minimum length, a generous maximum, no composition rules
(no "one digit, one symbol"), and a refusal of values that are trivially guessable from context
(the account's own email, a single repeated character).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from saas_core.config import Settings
from saas_core.errors import WeakPassword

#: OWASP's floor for argon2id (Password Storage Cheat Sheet): 19 MiB, 2 iterations, 1 lane.
OWASP_MIN_MEMORY_COST_KIB = 19_456
OWASP_MIN_TIME_COST = 2
OWASP_MIN_PARALLELISM = 1

#: Longer inputs are refused: hashing megabytes per attempt would be a cheap denial of service.
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """The cost parameters of argon2id."""

    memory_cost_kib: int
    time_cost: int
    parallelism: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Argon2Parameters:
        """The parameters configured in ``settings``."""
        return cls(
            memory_cost_kib=settings.password_memory_cost_kib,
            time_cost=settings.password_time_cost,
            parallelism=settings.password_parallelism,
        )

    @property
    def meets_owasp_floor(self) -> bool:
        """True when every parameter is at or above OWASP's minimum for argon2id."""
        return (
            self.memory_cost_kib >= OWASP_MIN_MEMORY_COST_KIB
            and self.time_cost >= OWASP_MIN_TIME_COST
            and self.parallelism >= OWASP_MIN_PARALLELISM
        )


class PasswordHasher:
    """argon2id hashing with the configured parameters.

    ``verify`` compares in constant time (argon2 recomputes the hash and compares the digests),
    and :meth:`dummy_verify` spends the same work on a throw-away hash so that a login for an
    unknown email takes as long as one with a wrong password.
    """

    def __init__(self, parameters: Argon2Parameters) -> None:
        self.parameters = parameters
        self._hasher = argon2.PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost_kib,
            parallelism=parameters.parallelism,
            type=argon2.Type.ID,
        )
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        """A hasher with the parameters configured in ``settings``."""
        return cls(Argon2Parameters.from_settings(settings))

    def hash(self, password: str) -> str:
        """Hash ``password`` with a fresh random salt."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches ``password_hash``; False on mismatch or a bad hash."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when ``password_hash`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def dummy_verify(self, password: str) -> None:
        """Verify ``password`` against a throw-away hash: the cost of a real failure, no result.

        Used when there is no hash to check (unknown email, account without a password), so the
        failure path cannot be told apart from a wrong password by its timing.
        """
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy_hash, password)


def check_password_policy(password: str, *, email: str | None, min_length: int) -> None:
    """Raise :class:`~saas_core.errors.WeakPassword` unless ``password`` is acceptable.

    Rules: at least ``min_length`` characters (Unicode code points) and at most
    :data:`MAX_PASSWORD_LENGTH`; not one character repeated; not the account's email address nor
    its local part (case-insensitive). Deliberately no composition rules (NIST SP 800-63B 5.1.1.2).
    """
    if len(password) < min_length:
        raise WeakPassword(f"use at least {min_length} characters", rule="min_length")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"use at most {MAX_PASSWORD_LENGTH} characters", rule="max_length")
    if len(set(password)) == 1:
        raise WeakPassword("do not repeat a single character", rule="repeated_character")
    if email:
        folded = password.strip().casefold()
        address = email.strip().casefold()
        if folded in (address, address.partition("@")[0]):
            raise WeakPassword("do not use your email address", rule="email")
