"""Usage meters, append-only usage events, aggregates and overage fees."""
