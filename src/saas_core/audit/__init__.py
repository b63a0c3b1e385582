"""Audit log, security events and security incidents."""
