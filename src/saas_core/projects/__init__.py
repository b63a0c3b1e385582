"""Projects: the example tenant-scoped domain."""
