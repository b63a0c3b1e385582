"""Tenants, members, invitations and seats."""
