"""Who is asking (tokens, passwords, sessions), how often (rate limits), and the audit
trail of health data."""
