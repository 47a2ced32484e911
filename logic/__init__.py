"""Business operations grouped by domain; no FastAPI here, commits only by the caller."""
