"""Fake vendor APIs (one ASGI app) that speak the documented contracts, for local runs and tests."""
