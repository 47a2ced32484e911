"""Database layer: engine and sessions, column types, retries and bulk upserts."""
