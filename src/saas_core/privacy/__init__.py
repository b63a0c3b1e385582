"""Consents, data subject requests, the personal-data registry and retention."""
