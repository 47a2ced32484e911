"""The BigQuery warehouse: the table registry, the incremental export and its BigQuery client."""
