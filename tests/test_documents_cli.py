"""The user's documents through the CLI and the chat: ingest, /kb, rag answers with sources."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import run_cli


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
    first = run_cli("ingest", str(docs))
    assert first.returncode == 0, first.stderr
    assert "3 added" in first.stdout and "1 skipped" in first.stdout
    assert "broken.pdf" in first.stdout
    again = run_cli("ingest", str(docs), "--json")
    report = json.loads(again.stdout)
    assert report["added"] == [] and len(report["unchanged"]) == 3
    (docs / "engine.txt").write_text("The Zorblax engine now runs at 50 rpm.\n")
    (docs / "birds.md").unlink()
    third = json.loads(run_cli("ingest", str(docs), "--json").stdout)
    assert [p.endswith("engine.txt") for p in third["updated"]] == [True]
    assert [p.endswith("birds.md") for p in third["removed"]] == [True]


def test_ingest_errors_are_one_line(tmp_path):
    missing = run_cli("ingest", str(tmp_path / "nope"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: nothing to ingest")
    (tmp_path / "empty").mkdir()
    empty = run_cli("ingest", str(tmp_path / "empty"))
    assert empty.returncode == 1 and empty.stderr.count("\n") == 1
    bad = run_cli("ingest", str(tmp_path), "--collection", "../escape")
    assert bad.returncode == 1 and "collection" in bad.stderr and "Traceback" not in bad.stderr


def test_chat_kb_lists_collections_and_switches(docs):
    assert run_cli("ingest", str(docs), "--collection", "manuals").returncode == 0
    out = run_cli(
        "--model",
        "fake",
        stdin="/kb\n/kb use manuals\n/kb remove " + str(docs / "birds.md") + "\n/kb\n/kb frobnicate\n/exit\n",
    )
    assert out.returncode == 0, out.stderr
    assert "manuals" in out.stdout and "current collection: manuals" in out.stdout
    assert "1 removed" in out.stdout
    assert "error: use /kb" in out.stdout


def test_rag_answer_cites_sources_in_json_and_chat(docs):
    assert run_cli("ingest", str(docs)).returncode == 0
    out = run_cli("ask", "--model", "fake", "--template", "rag", "--json", "How fast does the Zorblax engine run?")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    paths = [s["path"] for s in data["sources"]]
    assert paths[0].endswith("engine.txt") and data["sources"][0]["index"] == 1
    assert "42 rpm" in data["answer"]  # the echo model repeats the prompt: the context reached it
    chat = run_cli("--model", "fake", "--template", "rag", stdin="Where do kiwis come from?\n/sources\n/exit\n")
    assert chat.returncode == 0, chat.stderr
    assert "[1]" in chat.stdout and "birds.md" in chat.stdout


def test_rag_without_an_index_says_how_to_ingest():
    out = run_cli("ask", "--model", "fake", "--template", "rag", "anything?")
    assert out.returncode == 1
    assert "ingest" in out.stderr and out.stderr.count("\n") == 1


def test_agent_in_ask_and_chat_with_a_scripted_model(tmp_path, docs):
    replies = tmp_path / "r.yaml"
    replies.write_text(
        "- 'Action: calculator\n\n  Action Input: 6 * 7'\n- 'Final Answer: 42'\n"
        "- 'Action: calculator\n\n  Action Input: 2 +'\n- 'Final Answer: oops'\n"
    )
    out = run_cli("ask", "--model", f"fake/{replies}", "--agent", "--json", "What is six times seven?")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["answer"] == "42"
    assert data["steps"] == [{"tool": "calculator", "input": "6 * 7", "observation": "42", "error": False}]
    assert run_cli("ingest", str(docs)).returncode == 0
    script = "/agent on\nsix times seven?\n/steps\nbroken?\n/agent off\n/exit\n"
    chat = run_cli("--model", f"fake/{replies}", stdin=script)
    assert chat.returncode == 0, chat.stderr
    text = chat.stdout
    assert "agent: on · tools: calculator, web_search, weather, knowledge_base" in text
    assert "→ calculator(6 * 7)" in text and "← 42" in text
    assert "1. calculator(6 * 7)" in text  # /steps
    assert "agent: off" in text


@pytest.mark.real_model
def test_rag_smoke_on_the_real_local_model(docs, local_chat_model, tmp_path):
    """The rag template's prompt reaches the real local model (`auto`: the bundled model's
    default, `extractive`, makes no model call)."""
    from langchain_core.callbacks import BaseCallbackHandler

    from agent_app.chat.session import ChatSession
    from agent_app.config import load_settings
    from agent_app.models.handle import ModelHandle
    from agent_app.paths import shipped
    from agent_app.retrieval import ingest

    folder = tmp_path / "templates"
    folder.mkdir()
    rag = (shipped("prompts") / "rag.yaml").read_text(encoding="utf-8")
    (folder / "rag-auto.yaml").write_text(rag.replace("kind: retrieval", "kind: retrieval\n  answer_style: auto"))
    settings = load_settings(overrides={"model": "local", "templates": {"template_dirs": [str(folder)]}})
    ingest([docs], settings=settings.retrieval)
    session = ChatSession(settings, template="rag-auto", models=ModelHandle.given(local_chat_model, "local"))
    session.set_params({"max_tokens": 32, "temperature": 0})
    sent: list[str] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized, messages, **kwargs):
            sent.extend(m.text for m in messages[0])

    with_spy = session.callbacks
    session.callbacks = lambda turn: [*with_spy(turn), Spy()]
    turn = session.reply("How fast does the Zorblax engine run?")
    assert turn.text.strip() and turn.output_tokens > 0
    assert turn.sources and turn.sources[0].path.endswith("engine.txt")
    assert any("[1]" in text and "<data>" in text and "42 rpm" in text for text in sent)


def test_collections_and_tools_commands(tmp_path, embeddings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "meeting.txt").write_text("The meeting is on Tuesday at 10 am in room 4.\n")
    assert run_cli("ingest", str(docs), "--collection", "work").code == 0
    listed = json.loads(run_cli("collections", "--json").out)
    assert [c["name"] for c in listed] == ["work"] and listed[0]["files"][0]["path"].endswith("meeting.txt")
    assert run_cli("collections", "show", "work").out.strip().endswith("meeting.txt")
    tools = {t["name"]: t["source"] for t in json.loads(run_cli("tools", "--json", "--collection", "work").out)}
    assert tools == {
        "calculator": "built-in",
        "web_search": "built-in",
        "weather": "built-in",
        "knowledge_base": "built-in",
    }
    assert "knowledge_base" not in run_cli("tools", "--collection", "empty").out  # absent, not faked
    assert run_cli("collections", "remove", "work").out.startswith("removed collection work")
    assert json.loads(run_cli("collections", "--json").out) == []
    again = run_cli("collections", "remove", "work")
    assert again.code == 1 and again.err == "error: no collection 'work' (`collections` lists them)\n"
    assert docs.joinpath("meeting.txt").is_file()  # the user's file stays
