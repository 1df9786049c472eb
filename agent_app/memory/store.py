"""Conversations persisted in SQLite.

One file (default `data_dir()/conversations.db`) holds every conversation and its messages. Each
message is committed in its own transaction as soon as it is appended, so a process killed at any
moment loses at most the message it had not yet appended (the answer still streaming).

Durability and concurrency choices:
- WAL journal: readers never block the writer, and two chats can use the same file at once.
- `synchronous=FULL`: in WAL mode NORMAL already survives a killed process, but FULL also survives
  a power cut; it costs one fsync per message, which is nothing next to generating that message.
- `busy_timeout`: a second writer waits for the lock instead of failing with "database is locked".
- Writes start with `BEGIN IMMEDIATE`, so the next message number is read and written under the
  write lock and two writers can never pick the same one.

Messages are stored as the JSON of `langchain_core.messages.message_to_dict`, so tool calls,
names and metadata round-trip exactly.
"""

from __future__ import annotations

import builtins
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, message_to_dict, messages_from_dict

from agent_app import paths
from agent_app.errors import AppError

SCHEMA_VERSION = 1
SHORT_ID_LENGTH = 8
TITLE_MAX_CHARS = 60
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id        TEXT PRIMARY KEY,           -- 32 hex digits; users type a prefix
    title     TEXT,
    model     TEXT,
    template  TEXT,
    settings  TEXT NOT NULL DEFAULT '{}', -- JSON of further per-conversation choices
    created   REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    type    TEXT NOT NULL,                -- human, ai, tool, system
    content TEXT NOT NULL,                -- plain text, for listings and search
    data    TEXT NOT NULL,                -- JSON of message_to_dict: the whole message
    created REAL NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE TABLE IF NOT EXISTS summaries (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    covered     INTEGER NOT NULL,         -- the summary covers the first `covered` messages
    fingerprint TEXT NOT NULL,            -- of those messages, to notice a changed history
    text        TEXT NOT NULL,
    created     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_last_used ON conversations(last_used);
"""


class ConversationStoreError(AppError):
    """The conversation database cannot be opened, read or written."""


class ConversationNotFoundError(ConversationStoreError):
    """No conversation matches the id, prefix or title given."""


@dataclass(frozen=True)
class Conversation:
    """A conversation's record (without its messages)."""

    id: str
    title: str | None
    model: str | None
    template: str | None
    created: float
    last_used: float
    message_count: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        """The id prefix shown to users and accepted by `get`."""
        return self.id[:SHORT_ID_LENGTH]


# `list()` returns the same records; the alias keeps the name the chat code may expect.
ConversationInfo = Conversation


@dataclass(frozen=True)
class StoredSummary:
    """A cached summary of a conversation's first `covered` messages."""

    covered: int
    fingerprint: str
    text: str


def default_db_path() -> Path:
    return paths.data_dir() / "conversations.db"


def make_title(text: str) -> str:
    """A one-line title from a message: first line, whitespace collapsed, cut to TITLE_MAX_CHARS."""
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line).strip()
    if len(line) > TITLE_MAX_CHARS:
        line = line[: TITLE_MAX_CHARS - 1].rstrip() + "…"
    return line or "untitled"


class ConversationStore:
    """Conversations and their messages in one SQLite file. Safe to share between threads;
    several stores (in one or several processes) may open the same file at once."""

    _ROW_LOCK = ""
    """Appended to the SELECT that starts an append (see `PgConversationStore`)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self._lock = threading.RLock()  # one connection, used by one thread at a time
        self._conn = self._open()

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConversationStoreError(
                f"cannot create the folder for {self.path}: {exc.strerror}",
                hint="check its permissions or set AGENT_APP_DATA_DIR to a writable folder",
            ) from None
        conn: sqlite3.Connection | None = None
        try:
            # isolation_level=None: no implicit transactions; `_write` opens them explicitly.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # The first real read: fails here on a file that is not an SQLite database.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConversationStoreError(
                    f"{self.path} was written by a newer version of the app (schema {version})",
                    hint="upgrade the app or set AGENT_APP_DATA_DIR to another folder",
                )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if version < SCHEMA_VERSION:
                # One transaction, so a second process creating the file at the same time waits
                # and then finds everything in place (the statements are idempotent).
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            return conn
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise self._unusable(exc) from None

    def _unusable(self, exc: sqlite3.Error) -> ConversationStoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return ConversationStoreError(
                f"the conversation database {self.path} stayed locked by another process",
                hint="close the other chat or try again",
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return ConversationStoreError(
                f"{self.path} is not a readable conversation database ({text})",
                hint="move it aside (it is left untouched) to start a new one, or restore a backup",
            )
        return ConversationStoreError(
            f"cannot use the conversation database {self.path}: {text}",
            hint="check the disk space and the file's permissions",
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on success, rolled back on any error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._unusable(exc) from None

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._unusable(exc) from None

    # -- conversations -----------------------------------------------------------------------

    def create(
        self,
        title: str | None = None,
        *,
        model: str | None = None,
        template: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Conversation:
        """Start a new conversation. Without a title, the first human message gives one."""
        now = time.time()
        conv_id = uuid.uuid4().hex
        with self._write() as db:
            db.execute(
                "INSERT INTO conversations (id, title, model, template, settings, created, last_used)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conv_id, title, model, template, json.dumps(settings or {}), now, now),
            )
        return self.get(conv_id)

    def list(self, limit: int | None = None) -> list[Conversation]:
        """All conversations, most recently used first."""
        sql = _SELECT_CONVERSATIONS + " ORDER BY c.last_used DESC, c.rowid DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        with self._read() as db:
            return [_conversation(row) for row in db.execute(sql, params)]

    def get(self, ref: str) -> Conversation:
        """A conversation by full id, id prefix, exact title (case-insensitive) or "last"."""
        ref = ref.strip()
        if not ref:
            raise ConversationNotFoundError(
                "no conversation id given", hint="`sessions` lists them (in the chat: /sessions)"
            )
        with self._read() as db:
            if ref.lower() == "last":
                rows = db.execute(_SELECT_CONVERSATIONS + " ORDER BY c.last_used DESC, c.rowid DESC LIMIT 1").fetchall()
                if not rows:
                    raise ConversationNotFoundError("there is no conversation to resume yet")
                return _conversation(rows[0])
            rows = []
            if re.fullmatch(r"[0-9a-fA-F]+", ref):
                pattern = ref.lower() + "%"
                rows = db.execute(_SELECT_CONVERSATIONS + " WHERE c.id LIKE ?", (pattern,)).fetchall()
            if not rows:
                rows = db.execute(_SELECT_CONVERSATIONS + " WHERE lower(c.title) = lower(?)", (ref,)).fetchall()
        if not rows:
            raise ConversationNotFoundError(
                f"no conversation matches {ref!r}", hint="`sessions` lists them (in the chat: /sessions)"
            )
        if len(rows) > 1:
            ids = ", ".join(_conversation(r).short_id for r in rows[:5])
            raise ConversationNotFoundError(
                f"{ref!r} matches {len(rows)} conversations ({ids})", hint="type more of the id"
            )
        return _conversation(rows[0])

    def rename(self, ref: str, title: str) -> Conversation:
        title = title.strip()
        if not title:
            raise ConversationStoreError("a conversation title cannot be empty")
        conv = self.get(ref)
        with self._write() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conv.id))
        return self.get(conv.id)

    def delete(self, ref: str) -> Conversation:
        """Delete a conversation and its messages; returns what was deleted."""
        conv = self.get(ref)
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ?", (conv.id,))
            db.execute("DELETE FROM summaries WHERE conversation_id = ?", (conv.id,))
            db.execute("DELETE FROM conversations WHERE id = ?", (conv.id,))
        return conv

    def update_settings(
        self, ref: str, *, model: str | None = None, template: str | None = None, **extra: Any
    ) -> Conversation:
        """Record the model, template or other choices (merged into `settings`) to restore on resume.
        Arguments left as None are unchanged."""
        conv = self.get(ref)
        merged = {**conv.settings, **extra}
        with self._write() as db:
            db.execute(
                "UPDATE conversations SET model = coalesce(?, model), template = coalesce(?, template),"
                " settings = ? WHERE id = ?",
                (model, template, json.dumps(merged), conv.id),
            )
        return self.get(conv.id)

    def touch(self, ref: str) -> None:
        """Mark a conversation as just used (so that "last" finds it), e.g. on resume."""
        conv = self.get(ref)
        with self._write() as db:
            db.execute("UPDATE conversations SET last_used = ? WHERE id = ?", (time.time(), conv.id))

    # -- messages ----------------------------------------------------------------------------

    def append(self, conv_id: str, message: BaseMessage) -> int:
        """Commit one message at the end of a conversation; returns its sequence number.
        The first human message titles an untitled conversation."""
        now = time.time()
        data = json.dumps(message_to_dict(message), ensure_ascii=False)
        with self._write() as db:
            # (PostgreSQL: the row lock serialises two writers of one conversation, as SQLite's
            # BEGIN IMMEDIATE does, so both pick different sequence numbers.)
            row = db.execute(f"SELECT title FROM conversations WHERE id = ?{self._ROW_LOCK}", (conv_id,)).fetchone()
            if row is None:
                raise ConversationNotFoundError(f"no conversation with id {conv_id!r}")
            seq = db.execute(
                "SELECT coalesce(max(seq), -1) + 1 FROM messages WHERE conversation_id = ?", (conv_id,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO messages (conversation_id, seq, type, content, data, created) VALUES (?, ?, ?, ?, ?, ?)",
                (conv_id, seq, message.type, message.text, data, now),
            )
            title = row[0]
            if title is None and isinstance(message, HumanMessage):
                title = make_title(message.text)
            db.execute("UPDATE conversations SET last_used = ?, title = ? WHERE id = ?", (now, title, conv_id))
        return seq

    def extend(self, conv_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append several messages, each in its own transaction (as `append`)."""
        for message in messages:
            self.append(conv_id, message)

    def messages(self, conv_id: str) -> builtins.list[BaseMessage]:  # (`list` is a method here)
        """Every message of a conversation, in order, as LangChain messages."""
        with self._read() as db:
            rows = db.execute("SELECT data FROM messages WHERE conversation_id = ? ORDER BY seq", (conv_id,)).fetchall()
        return messages_from_dict([json.loads(data) for (data,) in rows])

    # -- cached summaries (used by the summarising memory) -----------------------------------

    def load_summary(self, conv_id: str) -> StoredSummary | None:
        with self._read() as db:
            row = db.execute(
                "SELECT covered, fingerprint, text FROM summaries WHERE conversation_id = ?", (conv_id,)
            ).fetchone()
        return StoredSummary(*row) if row else None

    def save_summary(self, conv_id: str, summary: StoredSummary) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO summaries (conversation_id, covered, fingerprint, text, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (conv_id, summary.covered, summary.fingerprint, summary.text, time.time()),
            )

    def summary_cache(self, conv_id: str) -> StoreSummaryCache:
        """A summary cache for one conversation, to pass to the summarising memory."""
        return StoreSummaryCache(self, conv_id)

    # -- maintenance -------------------------------------------------------------------------

    def integrity_check(self) -> str:
        """SQLite's own check: "ok" for a sound file."""
        with self._read() as db:
            return "\n".join(row[0] for row in db.execute("PRAGMA integrity_check"))


@dataclass
class StoreSummaryCache:
    """The summary cache of one conversation, kept in the database."""

    store: ConversationStore
    conv_id: str

    def load(self) -> StoredSummary | None:
        return self.store.load_summary(self.conv_id)

    def save(self, summary: StoredSummary) -> None:
        self.store.save_summary(self.conv_id, summary)


_SELECT_CONVERSATIONS = (
    "SELECT c.id, c.title, c.model, c.template, c.created, c.last_used,"
    " (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), c.settings"
    " FROM conversations c"
)


def _conversation(row: tuple[Any, ...]) -> Conversation:
    conv_id, title, model, template, created, last_used, count, settings = row
    return Conversation(conv_id, title, model, template, created, last_used, count, json.loads(settings or "{}"))
