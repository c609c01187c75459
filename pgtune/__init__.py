"""pgtune: PostgreSQL performance configuration as code — plan, review, apply."""

__version__ = "0.1.0"
