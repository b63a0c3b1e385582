"""Database layer: declarative base, column types, mixins, sessions and PostgreSQL extras."""
