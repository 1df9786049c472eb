"""Every command README shows that needs no network runs as written (on the scripted model,
set through the environment as a user could) without an error line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.support.cli import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"
# Commands that need what a test machine does not have: a key, a server (Ollama, a team's
# PostgreSQL), a model file, files at made-up paths, or that never end on their own. (`postgres
# start` starts a server that outlives the command: tests/retrieval/test_pg_store.py starts and
# stops one in a folder of its own.)
NEEDS_MORE = (
    "openai/", "--base-url", "local/path", "--follow", "~/notes", "~/models", "ollama/", "db.example", "postgres st",
)  # fmt: skip


def readme_commands() -> list[tuple[str, str]]:
    """(stdin, argv text) of each `python main.py ...` line in README's bash blocks."""
    text = README.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            stdin = ""
            if "| python main.py" in command:
                echo, _, command = command.partition("|")
                stdin = shlex.split(echo)[1] + "\n"
            if command.startswith("python main.py") and not any(x in command for x in NEEDS_MORE):
                out.append((stdin, command.removeprefix("python main.py").strip()))
    return out


COMMANDS = readme_commands()


def test_readme_has_the_examples_this_test_expects():
    assert len(COMMANDS) >= 10
    assert any("--var target=French" in c for _, c in COMMANDS)


@pytest.mark.parametrize(("stdin", "command"), COMMANDS, ids=[c or "(chat)" for _, c in COMMANDS])
def test_readme_command_runs(stdin, command, monkeypatch, tmp_path, embeddings):
    monkeypatch.setenv("AGENT_APP_MODEL", "fake")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "meeting.txt").write_text("The meeting is on Tuesday at 10 am in room 4.\n")
    assert run_cli("ingest", str(docs), "--collection", "work").code == 0
    assert run_cli(stdin="hello\n/exit\n").code == 0  # a saved conversation, for --resume last
    argv = shlex.split(command)
    if argv[:1] == ["ingest"]:
        argv = ["ingest", str(docs), "--collection", "work"]
    result = run_cli(*argv, stdin=stdin or "Hello there\n/exit\n")
    assert result.code == 0, result.err
    assert "error:" not in result.out + result.err and "Traceback" not in result.err
