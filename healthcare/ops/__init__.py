"""Running the service: HTTP middleware (request ids, headers, the log line), logging,
metrics, memory tuning, and the migration check."""
