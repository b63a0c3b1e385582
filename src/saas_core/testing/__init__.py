"""Fakes and factories for tests of applications built on saas-core."""
