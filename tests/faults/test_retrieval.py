"""Fault catalogue: documents that are missing, binary, corrupt, looping or planted, a damaged
index, an unwritable data folder, and ingest killed 5 times mid-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent_app.retrieval import ingest, open_collection, storage
from tests.support.cli import assert_one_line_error, run_cli

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("embeddings")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("The backup server is called atlas. It runs at 2 am.\n")
    return folder


def _ingest(*argv: str):
    return run_cli("ingest", *argv)


def test_missing_path(tmp_path):
    assert_one_line_error(_ingest(str(tmp_path / "nothing-here")), "nothing to ingest")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        pytest.param("blob.txt", bytes(range(256)) * 8, "binary", id="binary"),
        pytest.param("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "PDF", id="corrupt-pdf"),
        pytest.param("empty.pdf", b"", "", id="empty-pdf"),
        pytest.param("broken.json", b'{"unclosed": [1, 2', "JSON", id="corrupt-json"),
    ],
)
def test_bad_files_are_skipped_by_name_and_the_rest_ingested(docs, name, content, reason):
    (docs / name).write_bytes(content)
    result = _ingest(str(docs))
    assert result.code == 0, result.err
    assert "1 added" in result.out and "skipped" in result.out and name in result.out
    skipped = [line for line in result.out.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and reason.lower() in skipped[0].lower()


def test_symlink_loop_does_not_hang(docs):
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    (docs / "self.txt").symlink_to(docs / "self.txt")  # a link to itself
    result = _ingest(str(docs))
    assert result.code == 0, result.err
    assert "1 added" in result.out and "Traceback" not in result.err


def test_planted_pickle_is_refused_and_never_run(docs, isolated_app_dirs):
    assert _ingest(str(docs)).code == 0
    version = storage.current_version(storage.collection_dir("default"))
    marker = isolated_app_dirs / "pwned"
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (version / "docstore.json").unlink()
    (version / "index.pkl").write_bytes(payload)
    result = run_cli("--model", "fake", "-t", "rag", "ask", "Where is the backup?")
    line = assert_one_line_error(result, "pickle", "--rebuild")
    assert "damaged" in line
    assert not marker.exists()


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        pytest.param(lambda v: (v / "docstore.json").write_text("{not json"), "cannot read the index", id="docstore"),
        pytest.param(lambda v: (v / "index.faiss").write_bytes(b"garbage"), "cannot read the index", id="faiss"),
        pytest.param(lambda v: (v / "manifest.json").unlink(), "manifest", id="manifest"),
    ],
)
def test_damaged_index_says_how_to_rebuild(docs, damage, fragment):
    assert _ingest(str(docs)).code == 0
    damage(storage.current_version(storage.collection_dir("default")))
    assert_one_line_error(run_cli("--model", "fake", "-t", "rag", "ask", "backup?"), fragment, "--rebuild")
    rebuilt = _ingest(str(docs), "--rebuild")
    assert rebuilt.code == 0 and "1 added" in rebuilt.out


def test_unwritable_data_folder_fails_before_any_work(docs, isolated_app_dirs, monkeypatch):
    blocker = isolated_app_dirs / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("AGENT_APP_DATA_DIR", str(blocker / "data"))
    line = assert_one_line_error(_ingest(str(docs)), "cannot save documents", "AGENT_APP_DATA_DIR")
    assert "reading" not in line


def test_read_only_collection_folder_is_checked_first(docs, monkeypatch):
    """A folder whose writes fail (as chmod does for a normal user; root ignores chmod)."""
    calls: list[str] = []
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if ".write-test-" in self.name:
            raise PermissionError(13, "Permission denied")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    monkeypatch.setattr("agent_app.retrieval.ingestion.discover", lambda *a: calls.append("discover"))
    assert_one_line_error(_ingest(str(docs)), "cannot save documents", "Permission denied")
    assert calls == []  # nothing was read or embedded


def test_five_sigkills_mid_ingest_leave_a_loadable_index(tmp_path, isolated_app_dirs):
    """A real `ingest` process killed while it embeds: the previous index stays whole every time."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"f{i}.txt").write_text(f"Document {i} talks about topic {i}.\n")
    first = tmp_path / "first"
    first.mkdir()
    (first / "a.txt").write_text("The first collection holds the word zebra.\n")
    ingest([first])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, "main.py", "ingest", str(folder)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout is not None
        for line in child.stdout:  # progress lines: kill as embedding begins
            if "embedding" in line:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        collection = open_collection()
        assert [Path(p).name for p in collection.files] == ["a.txt"]
        assert "zebra" in collection.search("zebra", k=1)[0].page_content
    leftovers = [p.name for p in storage.collection_dir("default").iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) <= 5  # staging folders of killed runs; the next save removes them
    assert ingest([folder]).added and not [
        p for p in storage.collection_dir("default").iterdir() if p.name.startswith(".tmp-")
    ]
