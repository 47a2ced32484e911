"""Vendor HTTP clients: typed, retried, no database access."""
