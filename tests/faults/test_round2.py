"""Fault catalogue, round 2: writers racing on a collection or the conversation store (real
processes), a template symlink out of its folder, a URL password on screen, a locked store,
Ctrl-C mid-embedding, unwritable standard output, and edge values of the command line."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_app.memory import store as store_module
from agent_app.memory.store import ConversationStore
from agent_app.retrieval import RetrievalSettings, checkpoint, describe_collections, ingest, open_collection, storage
from tests.support.cli import REPO, assert_one_line_error, run_cli


def _folder(root: Path, name: str, files: int, words: str = "topic") -> Path:
    folder = root / name
    folder.mkdir()
    for i in range(files):
        (folder / f"{name}-{i}.txt").write_text(f"Document {i} of {name} talks about {words} {i}.\n" * 3)
    return folder


def _start(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-u", "main.py", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_line(child: subprocess.Popen[str], fragment: str) -> list[str]:
    """Lines the child printed up to the first holding `fragment` (it must come)."""
    assert child.stdout is not None
    seen = []
    for line in child.stdout:
        seen.append(line)
        if fragment in line:
            return seen
    raise AssertionError(f"{fragment!r} never printed: {seen}")


def _finish(child: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str]:
    out, _ = child.communicate(timeout=timeout)
    return child.returncode, out


# -- 1. writers of one collection exclude each other -------------------------------------------


@pytest.mark.usefixtures("embeddings")
def test_two_ingests_into_one_collection_keep_both(tmp_path):
    """The second ingest waits for the first (which holds the lock while it embeds), then adds
    its files to what the first saved. Before the lock, the last to save dropped the other's files."""
    a = _folder(tmp_path, "a", 120)
    b = _folder(tmp_path, "b", 3)
    first = _start("ingest", str(a), "-c", "k")
    _wait_for_line(first, "embedding")  # holds the lock now
    second = _start("ingest", str(b), "-c", "k")
    code2, out2 = _finish(second)
    code1, out1 = _finish(first)
    assert (code1, code2) == (0, 0), (out1, out2)
    assert "waiting for another ingest" in out2 and "Traceback" not in out1 + out2
    names = {Path(p).parent.name for p in open_collection("k").files}
    assert names == {"a", "b"} and len(open_collection("k").files) == 123


@pytest.mark.usefixtures("embeddings")
def test_remove_waits_for_a_running_ingest(tmp_path):
    a = _folder(tmp_path, "a", 120)
    ingesting = _start("ingest", str(a), "-c", "k")
    _wait_for_line(ingesting, "embedding")
    code_r, out_r = _finish(_start("collections", "remove", "k"))
    code_i, out_i = _finish(ingesting)
    assert (code_i, code_r) == (0, 0), (out_i, out_r)
    assert "waiting for another ingest or removal" in out_r and "removed collection k" in out_r
    # The removal came after the ingest's save: nothing of the collection is left, not half of it.
    assert storage.collection_names() == [] and not storage.collection_dir("k").exists()


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    """flock dies with its process: a killed writer never leaves the collection locked."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from agent_app.retrieval import storage\n"
            "with storage.writer_lock('k'):\n    print('held', flush=True); time.sleep(600)",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    waited: list[bool] = []
    with storage.writer_lock("k", on_wait=lambda: waited.append(True)):
        assert waited == []  # acquired at once: the dead holder's lock went with it


def test_two_chats_writing_one_store_lose_nothing():
    lines = "".join(f"message {i}\n" for i in range(15)) + "/exit\n"
    chats = [
        subprocess.Popen(
            [sys.executable, "main.py", "--model", "fake"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for chat in chats:
        assert chat.stdin is not None
        chat.stdin.write(lines)
        chat.stdin.close()
    for chat in chats:
        assert chat.wait(timeout=120) == 0 and "Traceback" not in (chat.stderr.read() if chat.stderr else "")
    with ConversationStore() as store:
        conversations = store.list()
        assert len(conversations) == 2
        for conversation in conversations:
            texts = [m.content for m in store.messages(conversation.id)]
            assert texts[::2] == [f"message {i}" for i in range(15)]
            assert texts[1::2] == [f"You said: message {i}" for i in range(15)]


# -- 2. templates show keeps to the template folders --------------------------------------------


def test_templates_show_refuses_a_symlink_out_of_the_folder(tmp_path, monkeypatch):
    secret = tmp_path / "elsewhere" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text("root:SECRET-HASH:19000\n")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "sh.yaml").symlink_to(secret)
    monkeypatch.setenv("AGENT_APP_TEMPLATE_DIRS", str(folder))
    for argv in (("templates", "show", "sh"), ("templates", "show", "sh", "--json")):
        result = run_cli(*argv)
        assert_one_line_error(result, "outside the template folders")
        assert "SECRET-HASH" not in result.out + result.err
    assert "SECRET-HASH" not in run_cli("templates", "--json").out


# -- 3. a URL password never shown ----------------------------------------------------------------


def test_model_url_password_is_masked_in_the_chat():
    result = run_cli(
        "--model", "fake", "--no-save", stdin="/model openai/y@http://user:hunter2@127.0.0.1:9/v1\n/model\n/exit\n"
    )
    shown = result.out + result.err
    assert "hunter2" not in shown and "Traceback" not in shown
    assert "model: openai/y" in shown  # switched: the URL went to base_url, not into the name


# -- 4. a locked conversation store loses no message -------------------------------------------


def _hold(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_locked_store_answers_and_saves_once_free(isolated_app_dirs, monkeypatch):
    from agent_app.chat.session import ChatSession
    from agent_app.config import load_settings

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr("agent_app.chat.conversation_log.STORE_RETRY_S", 0.0)  # the next message tries again
    store = ConversationStore()
    session = ChatSession(load_settings(overrides={"model": "fake"}), store=store)
    session.reply("first")
    holder = _hold(store.path)
    try:
        turn = session.reply("second while locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert turn.text == "You said: second while locked"
    assert any("not saved yet" in w and "locked" in w for w in turn.warnings)
    assert len(session.log.unsaved) == 2
    turn = session.reply("third")
    assert any("saved again" in w for w in turn.warnings) and session.log.unsaved == []
    assert session.log.conversation is not None
    texts = [m.content for m in store.messages(session.log.conversation.id)]
    assert texts == [
        "first",
        "You said: first",
        "second while locked",
        "You said: second while locked",
        "third",
        "You said: third",
    ]
    session.close()
    store.close()


def test_locked_store_through_the_chat_says_what_was_not_saved(isolated_app_dirs, monkeypatch):
    run_cli("--model", "fake", stdin="first\n/exit\n")
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 100)
    holder = _hold(isolated_app_dirs / "data" / "conversations.db")
    try:
        result = run_cli("--model", "fake", stdin="second\n/exit\n")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.code == 0 and "Traceback" not in result.err
    assert "You said: second" in result.out
    assert "2 messages of this conversation could not be saved" in result.err


# -- 5. Ctrl-C during the embedding stage ---------------------------------------------------------


@pytest.mark.usefixtures("embeddings")
def test_ctrl_c_while_embedding_stops_at_once_and_keeps_the_index(tmp_path):
    before = _folder(tmp_path, "before", 1, words="zebra")
    ingest([before])
    many = _folder(tmp_path, "many", 400)
    child = _start("ingest", str(many))
    _wait_for_line(child, "embedding")
    child.send_signal(signal.SIGINT)
    # A 64-chunk batch finishes in the background; the process itself answers Ctrl-C at once
    # (it waited 50-60 s for a 512-chunk batch before). The bound is generous, not a benchmark.
    code, out = _finish(child, timeout=10)
    assert code == 130 and "Traceback" not in out
    assert "collection default is as it was before" in out
    assert [Path(p).parent.name for p in open_collection().files] == ["before"]
    # What it had embedded is kept (the progress line comes after a batch is written), and the
    # same ingest again finishes from there.
    assert re.search(r"the [\d,]+ chunks embedded so far are kept", out)
    report = ingest([many])
    assert len(report.added) == 400 and not checkpoint.folder("default", RetrievalSettings()).exists()


# -- 6. standard output that cannot be written ----------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("--model", "fake", "ask", "hi"),
        ("sessions",),
        ("sessions", "export", "last"),
        ("templates",),
        ("logs",),
    ],
    ids=["ask", "sessions", "export", "templates", "logs"],
)
def test_unwritable_stdout_is_one_line(argv):
    run_cli("--model", "fake", stdin="hello\n/exit\n")  # a conversation and some events to print
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "main.py", *argv], cwd=REPO, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert lines == ["error: cannot write the output: No space left on device"]


# -- 7-9. edge values of the command line --------------------------------------------------------


def test_logs_with_a_huge_count_prints_everything():
    run_cli("--model", "fake", stdin="hello\n/exit\n")
    result = run_cli("logs", "-n", "99999999999999999999")
    assert result.code == 0 and "Traceback" not in result.err and result.out.strip()


@pytest.mark.usefixtures("embeddings")
def test_search_bounds_the_query_and_k(tmp_path):
    ingest([_folder(tmp_path, "docs", 2, words="library")], "work")
    line = assert_one_line_error(run_cli("search", "library " * 14000, "-c", "work"), "characters long")
    assert "at most 2,000" in line
    for k in ("0", "-1", "51"):
        assert_one_line_error(run_cli("search", "library", "-c", "work", "-k", k), "from 1 to 50")
    assert run_cli("search", "library", "-c", "work", "-k", "1").code == 0


# -- 10. smaller ----------------------------------------------------------------------------------


def test_cli_errors_name_the_command_not_the_chat_command():
    line = assert_one_line_error(run_cli("sessions", "show", "nosuchconversation"), "no conversation matches")
    assert "`sessions` lists them" in line


@pytest.mark.usefixtures("embeddings")
def test_search_scores_are_not_negative_and_the_best_is_not_zero(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):  # "library" in every chunk: rank-bm25 gives it a negative idf
        (folder / f"{i}.txt").write_text(f"The library holds book {i}. The library opens at {i + 8}.\n")
    ingest([folder], "work")
    result = run_cli("search", "library library library", "-c", "work", "--json")
    rows = json.loads(result.out)
    assert rows and all(row["keyword"] >= 0 for row in rows)
    assert rows[0]["fused"] > 0


def test_a_time_out_says_how_long_was_waited(monkeypatch):
    from tests.support.bad_server import BadServer

    monkeypatch.setenv("AGENT_APP_REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("AGENT_APP_MAX_RETRIES", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-000")
    with BadServer("hang") as server:
        started = time.monotonic()
        result = run_cli("--model", "openai/m", "--base-url", server.base_url, "ask", "hi")
        took = time.monotonic() - started
    line = assert_one_line_error(result, "did not answer in time", "waited 2 s: 1 s a try, 2 tries")
    assert took >= 2 and "request_timeout" in line


def test_a_collection_in_the_old_layout_asks_for_a_rebuild(isolated_app_dirs):
    old = storage.collections_root() / "old"
    old.mkdir(parents=True)
    (old / "index.faiss").write_bytes(b"\0" * 64)
    (old / "index.pkl").write_bytes(b"not loaded")
    line = assert_one_line_error(run_cli("--model", "fake", "-t", "rag", "-c", "old", "ask", "hi"), "--rebuild")
    assert "older version" in line and "no documents ingested" not in line
    infos = {info.name: info for info in describe_collections()}
    assert "--rebuild" in (infos["old"].error or "")
