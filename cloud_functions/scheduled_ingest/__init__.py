"""Cloud Scheduler → this function → the ingest app (`POST /ingest/{source}/{entity}`)."""
