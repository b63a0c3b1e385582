"""Tables of the HTTP layer: idempotency keys."""
