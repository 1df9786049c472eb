"""Conversations in PostgreSQL: the same store as the SQLite file (`memory.store`), for several
people's chats on one server. The tables (conversations, messages, summaries) live in a schema
of their own, `agent_app`, so they cannot meet another application's tables of those names.

Each message is committed in its own transaction as it completes, as on SQLite. Two writers
appending to one conversation are serialised by a row lock on the conversation (`FOR UPDATE`),
so each reads the last sequence number after the other's commit: neither loses a message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agent_app.memory.store import ConversationStore, ConversationStoreError, StoredSummary
from agent_app.postgres import PostgresUnavailableError, connect, first_line, lost_connection, shown_url

SCHEMA = "agent_app"
_TABLES = """
CREATE TABLE IF NOT EXISTS conversations (
    seq       bigserial,                  -- creation order (SQLite's rowid)
    id        text PRIMARY KEY,
    title     text,
    model     text,
    template  text,
    settings  text NOT NULL DEFAULT '{}',
    created   double precision NOT NULL,
    last_used double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id text NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    type    text NOT NULL,
    content text NOT NULL,
    data    text NOT NULL,
    created double precision NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE TABLE IF NOT EXISTS summaries (
    conversation_id text PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    covered     integer NOT NULL,
    fingerprint text NOT NULL,
    text        text NOT NULL,
    created     double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_last_used ON conversations(last_used);
"""


class _Sql:
    """The SQLite statements of `ConversationStore`, run on psycopg: `?` -> `%s`, rowid -> seq."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, query: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self.conn.execute(query.replace("?", "%s").replace("c.rowid", "c.seq"), params)


class PgConversationStore(ConversationStore):
    """`ConversationStore` on PostgreSQL (see the module docstring)."""

    _ROW_LOCK = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = shown_url(url)  # type: ignore[assignment]  # what messages name
        self._lock = threading.RLock()
        self._conn: Any = self._open()

    def _open(self) -> Any:
        try:
            conn = connect(self.url)
        except PostgresUnavailableError as exc:
            raise ConversationStoreError(exc.message, hint=exc.hint) from None
        try:
            import psycopg

            if not _has_schema(conn):  # (creating needs a right that using does not)
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.execute(f"SET search_path TO {SCHEMA}")
            if conn.execute("SELECT to_regclass('summaries')").fetchone()[0] is None:
                with conn.transaction():  # one creator at a time: the statements are idempotent
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('agent_app:conversations'))")
                    for statement in filter(str.strip, _TABLES.split(";")):
                        conn.execute(statement)
        except psycopg.Error as exc:
            conn.close()
            raise ConversationStoreError(
                f"cannot use PostgreSQL at {self.path} for conversations ({first_line(exc)})",
                hint="the user needs the right to create a schema and tables in that database",
            ) from None
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _connection(self) -> Any:
        if self._conn.closed:  # dropped earlier: try once more now
            self._conn = self._open()
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock, self._errors("write"):
            conn = self._connection()
            with conn.transaction():
                yield _Sql(conn)

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock, self._errors("read"):
            yield _Sql(self._connection())

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """psycopg's errors as the store's one-line ones (a lost connection is reopened next time)."""
        import psycopg

        try:
            yield
        except psycopg.OperationalError as exc:
            self._conn.close()
            error = lost_connection(self.url, exc)
            raise ConversationStoreError(error.message, hint=error.hint) from None
        except psycopg.Error as exc:
            raise ConversationStoreError(f"cannot {doing} conversations at {self.path}: {first_line(exc)}") from None

    def save_summary(self, conv_id: str, summary: StoredSummary) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO summaries (conversation_id, covered, fingerprint, text, created) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (conversation_id) DO UPDATE SET covered = EXCLUDED.covered,"
                " fingerprint = EXCLUDED.fingerprint, text = EXCLUDED.text, created = EXCLUDED.created",
                (conv_id, summary.covered, summary.fingerprint, summary.text, time.time()),
            )

    def integrity_check(self) -> str:
        """PostgreSQL keeps its own data sound; this checks the messages' numbering instead."""
        with self._read() as db:
            gaps = db.execute(
                "SELECT count(*) FROM (SELECT conversation_id, count(*) AS n, max(seq) AS top FROM messages"
                " GROUP BY conversation_id) s WHERE n <> top + 1"
            ).fetchone()[0]
        return "ok" if gaps == 0 else f"{gaps} conversation(s) with gaps in their messages"


def _has_schema(conn: Any) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone() is not None
