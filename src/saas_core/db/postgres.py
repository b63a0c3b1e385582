"""PostgreSQL-only schema features: Row Level Security, append-only triggers, partitions."""
