"""Fakes and factories for tests of applications built on saas-core.

``FakeClock`` moves only when told to; ``InMemoryOutbox`` keeps sent emails (read the tokens out
of ``outbox.last(kind="verify_email").token``); :func:`fast_settings` makes password hashing
cheap; :func:`make_user` creates a user ready to sign in.
"""

from __future__ import annotations

from saas_core.clock import FakeClock
from saas_core.identity.ports import InMemoryOutbox
from saas_core.testing.factories import fast_settings, identity_service, make_user

__all__ = ["FakeClock", "InMemoryOutbox", "fast_settings", "identity_service", "make_user"]
