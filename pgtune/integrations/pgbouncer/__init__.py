"""PgBouncer: its setting values, its admin console and its ini file — what the pool kind converges."""
