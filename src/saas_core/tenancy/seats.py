"""The seat policy port: may a tenant take one more paying member?

Adding a member whose ``member_type`` is ``member`` (guests and service accounts take no paid
seat) asks the tenancy service's :class:`SeatPolicy` first: when an invitation is sent, when it
is accepted (seats may have filled in between) and when a guest becomes a member. Billing plugs
in a policy that compares the tenant's seat count with its subscription; until then
:class:`AllowAllSeats` lets everyone in. A tenant's creator always takes its first seat.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session


class SeatPolicy(Protocol):
    """Decides whether ``tenant_id`` may add one more member seat."""

    def check_can_add(self, session: Session, tenant_id: int) -> None:
        """Return if a seat is free; raise :class:`~saas_core.errors.SeatLimitReached` if not.

        Called inside the caller's transaction, with the tenant bound.
        """
        ...


class AllowAllSeats:
    """The default policy: no seat limit."""

    def check_can_add(self, session: Session, tenant_id: int) -> None:
        """Always allow."""
