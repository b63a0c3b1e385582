"""Permission catalog, roles, assignments and ``authorize()``."""
