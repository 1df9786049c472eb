"""The user's documents through the CLI and the chat: ingest, /kb, rag answers with sources."""

from __future__ import annotations

import json

import pytest

from tests.test_chat_cli import run_main


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "engine.txt").write_text("The Zorblax engine runs at 42 rpm.\nIt was designed in Osaka in 1987.\n")
    (folder / "birds.md").write_text("# Birds\n\nKiwis are flightless birds from New Zealand.\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / "notes.txt").write_bytes("メモ: 会議は金曜日です。".encode("cp932"))  # not UTF-8
    return folder


def test_ingest_reports_skips_and_is_incremental(docs):
    first = run_main("ingest", str(docs))
    assert first.returncode == 0, first.stderr
    assert "3 added" in first.stdout and "1 skipped" in first.stdout
    assert "broken.pdf" in first.stdout
    again = run_main("ingest", str(docs), "--json")
    report = json.loads(again.stdout)
    assert report["added"] == [] and len(report["unchanged"]) == 3
    (docs / "engine.txt").write_text("The Zorblax engine now runs at 50 rpm.\n")
    (docs / "birds.md").unlink()
    third = json.loads(run_main("ingest", str(docs), "--json").stdout)
    assert [p.endswith("engine.txt") for p in third["updated"]] == [True]
    assert [p.endswith("birds.md") for p in third["removed"]] == [True]


def test_ingest_errors_are_one_line(tmp_path):
    missing = run_main("ingest", str(tmp_path / "nope"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: nothing to ingest")
    (tmp_path / "empty").mkdir()
    empty = run_main("ingest", str(tmp_path / "empty"))
    assert empty.returncode == 1 and empty.stderr.count("\n") == 1
    bad = run_main("ingest", str(tmp_path), "--collection", "../escape")
    assert bad.returncode == 1 and "collection" in bad.stderr and "Traceback" not in bad.stderr


def test_chat_kb_lists_collections_and_switches(docs):
    assert run_main("ingest", str(docs), "--collection", "manuals").returncode == 0
    out = run_main("--model", "fake", stdin="/kb\n/kb use manuals\n/kb remove " + str(docs / "birds.md")
                   + "\n/kb\n/kb frobnicate\n/exit\n")
    assert out.returncode == 0, out.stderr
    assert "manuals" in out.stdout and "current collection: manuals" in out.stdout
    assert "1 removed" in out.stdout
    assert "error: use /kb" in out.stdout
