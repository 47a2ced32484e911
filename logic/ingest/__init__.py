"""Ingest: vendor pages mapped to our models and upserted, one recorded run at a time."""
