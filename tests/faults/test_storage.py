"""Fault catalogue: the conversation database damaged, locked or unwritable, and 20 SIGKILLs of a
real chat mid-answer with every committed message intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent_app.memory import store as store_module
from agent_app.memory.store import ConversationStore
from tests.support.bad_server import BadServer
from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]


def _db(isolated_app_dirs: Path) -> Path:
    return isolated_app_dirs / "data" / "conversations.db"


def _chat(stdin: str, *argv: str):
    return run_cli("--model", "fake", *argv, stdin=stdin)


def test_corrupt_database_gives_one_line_and_is_left_untouched(isolated_app_dirs):
    db = _db(isolated_app_dirs)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not sqlite" * 100)
    result = _chat("hi\n/exit\n")
    assert result.code == 1 and "Traceback" not in result.err
    assert "not a readable conversation database" in result.err and "move it aside" in result.err
    assert db.read_bytes() == b"this is not sqlite" * 100
    # --no-save still lets the user chat.
    assert "You said: hi" in _chat("hi\n/exit\n", "--no-save").out


def test_database_truncated_mid_file(isolated_app_dirs):
    _chat("first\n/exit\n")
    db = _db(isolated_app_dirs)
    for extra in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        extra.unlink(missing_ok=True)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    result = _chat("second\n/exit\n")
    lines = [ln for ln in (result.out + result.err).splitlines() if "error" in ln]
    assert "Traceback" not in result.err and len(lines) >= 1
    assert "conversation database" in lines[0] or "not a readable" in lines[0]


def test_locked_database_is_reported_not_hung(isolated_app_dirs, monkeypatch):
    _chat("first\n/exit\n")
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(_db(isolated_app_dirs), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = _chat("second\n/exit\n")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    shown = result.out + result.err
    assert "Traceback" not in shown and "locked by another process" in shown


def test_data_folder_that_cannot_be_created(isolated_app_dirs, monkeypatch):
    blocker = isolated_app_dirs / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("AGENT_APP_DATA_DIR", str(blocker / "data"))
    result = _chat("hi\n/exit\n")
    assert result.code == 1 and "Traceback" not in result.err
    assert "AGENT_APP_DATA_DIR" in result.err


def test_twenty_sigkills_mid_answer_lose_no_committed_message(isolated_app_dirs):
    """A real chat process, streaming from a loopback server, killed as soon as the answer starts."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": "x"}
    typed: list[str] = []
    with BadServer("stream_then_die", chunks=10_000, chunk_delay=0.02) as server:
        for i in range(20):
            question = f"question number {i}"
            child = subprocess.Popen(
                [sys.executable, "main.py", "--model", "openai/m", "--base-url", server.base_url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=REPO,
                env=env,
            )
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(f"{question}\n".encode())
            child.stdin.flush()
            # The banner line, then the answer starts streaming: the question is committed by now.
            child.stdout.readline()
            assert child.stdout.read(5) == b"part0"
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            assert child.returncode == -signal.SIGKILL
            typed.append(question)
    with ConversationStore(_db(isolated_app_dirs)) as store:
        assert store.integrity_check() == "ok"
        conversations = store.list()
        humans = sorted(m.text for c in conversations for m in store.messages(c.id) if m.type == "human")
    assert humans == sorted(typed)
    assert len(conversations) == 20


@pytest.mark.parametrize("count", [3])
def test_resume_after_kill_continues_the_conversation(isolated_app_dirs, count):
    for i in range(count):
        assert _chat(f"turn {i}\n/exit\n", *(["--resume", "last"] if i else [])).code == 0
    with ConversationStore(_db(isolated_app_dirs)) as store:
        texts = [m.text for m in store.messages(store.get("last").id)]
    assert texts == [t for i in range(count) for t in (f"turn {i}", f"You said: turn {i}")]
