"""Station fixtures: a real PostgreSQL cluster for the PostgreSQL store backend (tests/pgserver.py)."""
from pgserver import pg_server, pg_url  # noqa: F401
