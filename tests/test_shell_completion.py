"""Shell completion (argcomplete), driven as bash drives it: the program runs with `_ARGCOMPLETE`
and `COMP_LINE` set and writes the candidates to a file, then exits before doing anything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_app.memory.store import ConversationStore
from tests.support.cli import REPO, run_cli

IFS = "\013"  # argcomplete's separator between candidates


def complete(line: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",  # the words start with the program's name
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    text = out.read_text(encoding="utf-8")
    return [word.strip() for word in text.split(IFS) if word.strip()]


def test_commands_and_each_commands_own_options_complete(tmp_path: Path):
    assert sorted(complete("main.py se", tmp_path)) == ["search", "serve", "sessions"]
    logs = complete("main.py logs --", tmp_path)
    assert "--follow" in logs and "--tail" in logs
    assert "--template" not in logs and "--model" not in logs  # not options of `logs`
    assert complete("main.py --dtype i", tmp_path) == ["int8"]


def test_template_names_and_model_choices_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert complete("main.py --template few-shot-", tmp_path) == ["few-shot-keywords", "few-shot-translate"]
    assert complete("main.py templates show con", tmp_path) == ["concise"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "concierge.yaml").write_text("description: mine\nsystem: Be a concierge.\n", encoding="utf-8")
    monkeypatch.setenv("AGENT_APP_TEMPLATE_DIRS", str(mine))
    assert complete("main.py ask -t con", tmp_path) == ["concierge", "concise"]
    assert complete("main.py --model llama", tmp_path) == ["llamacpp"]


def test_conversation_ids_and_collections_complete_from_this_machine(tmp_path: Path):
    with ConversationStore() as store:
        conversation = store.create(title="trip plans", model="fake")
    ids = complete("main.py sessions show ", tmp_path)
    assert "last" in ids and conversation.short_id in ids
    assert complete(f"main.py --resume {conversation.short_id[:3]}", tmp_path) == [conversation.short_id]
    doc = tmp_path / "packing.txt"
    doc.write_text("Pack a raincoat and walking shoes for the trip.\n", encoding="utf-8")
    assert run_cli("ingest", "--collection", "travel", str(doc)).code == 0
    assert complete("main.py collections show tr", tmp_path) == ["travel"]


def test_a_broken_configuration_offers_nothing_instead_of_a_traceback(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n", encoding="utf-8")
    assert complete(f"main.py --config {bad} --template con", tmp_path) == []
