"""The chat loop and `ask`, driven end to end as a user would: piped input and a real terminal."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli, run_main, spawn_chat

REPO = Path(__file__).resolve().parent.parent


def test_help_lists_every_subcommand_and_option_quickly():
    started = time.perf_counter()
    out = run_main("--help")
    assert out.returncode == 0
    for word in ["chat", "ask", "ingest", "search", "models", "logs", "--model", "--base-url", "--param", "--config"]:
        assert word in out.stdout
    assert (
        out.stdout.count("--model PROVIDER/MODEL") == 1 and len(out.stdout.splitlines()) < 80
    )  # once, not per command
    ask, logs = run_main("ask", "--help"), run_main("logs", "--help")
    assert "--json" in ask.stdout and "--model" in ask.stdout
    assert "--follow" in logs.stdout and "--template" not in logs.stdout and "--agent" not in logs.stdout
    refused = run_main("logs", "--template", "x")  # means nothing there
    assert refused.returncode == 2 and "unrecognized arguments: --template" in refused.stderr
    # --help must not import the heavy stack (checked directly, not by timing).
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, contextlib, io\nfrom agent_app.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "heavy = ('torch', 'transformers', 'langchain_core', 'pydantic', 'openai')\n"
            "heavy = [m for m in heavy if m in sys.modules]\n"
            "print(heavy)",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    assert time.perf_counter() - started < 30  # sanity only; speed is measured in bench/


def test_piped_chat_streams_switches_model_sets_params_and_exits(tmp_path):
    replies = tmp_path / ("a-long-folder-name-" * 4) / "replies.yaml"  # longer than 80 columns
    replies.parent.mkdir()
    replies.write_text("- First scripted answer.\n- 二番目の答えです。\n")
    script = "\n".join(
        [
            "Hello there",  # echo model
            "",  # empty line: ignored
            "/params temperature=0.5 max_tokens=9",
            "/params top_p=7",  # invalid: one line, chat goes on
            "/params temp=1",
            f"/model fake/{replies}",
            "日本語で答えて",
            "/model",
            "/model nosuch/thing",
            "/frobnicate",
            "/clear",
            "second question",
            "exit",
            "never read",
        ]
    )
    out = run_main("--model", "fake", stdin=script + "\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    text = out.stdout
    assert "You said: Hello there" in text
    assert "params: temperature=0.5 max_tokens=9" in text
    assert any(line.startswith("error: invalid parameters: top_p") for line in lines)
    assert any(line.startswith("error: unknown parameter 'temp'") for line in lines)
    assert f"model: fake/{replies} (history kept: 2 messages)" in lines  # whole, not wrapped
    assert "First scripted answer." in text
    assert any(line.startswith("error: unknown model provider 'nosuch'") for line in lines)
    assert any(line.startswith("error: unknown command /frobnicate") for line in lines)
    assert "history cleared" in text
    assert "二番目の答えです。" in text
    assert "never read" not in text
    assert "Traceback" not in out.stderr


def test_ask_json_and_stdin(tmp_path):
    out = run_cli("ask", "--model", "fake", "--json", "What is LangChain?")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["answer"] == "You said: What is LangChain?"
    assert data["model"] == "fake"
    assert data["usage"]["output_tokens"] == 5
    assert set(data["timings"]) >= {"load_s", "first_token_s", "total_s", "tokens_per_s"}
    piped = run_cli("--model", "fake", "ask", stdin="質問は標準入力から\n")
    assert piped.stdout.strip() == "You said: 質問は標準入力から"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "--model", "fake"], "error: no question given"),
        (["ask", "--model", "openai", "hi"], "error: no OpenAI API key is set"),
        (["ask", "--model", "./missing-folder", "hi"], "error: model folder not found"),
        (["ask", "--model", "fake", "-p", "temperature=hot", "hi"], "error: invalid parameters: temperature"),
    ],
)
def test_ask_errors_are_one_line_and_non_zero(args, message):
    out = run_cli(*args)
    assert out.returncode == 1
    assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.real_model
def test_terminal_chat_with_real_model_ctrl_c_and_exit():
    """A real pseudo-terminal: prompt_toolkit input, streamed answer, Ctrl-C mid-answer, exit."""
    pexpect = pytest.importorskip("pexpect")
    child = spawn_chat("--threads", "2", "-p", "max_tokens=300", "-p", "temperature=0")
    try:
        child.expect("›")
        child.sendline("Write a long story about a brave knight and a dragon.")
        child.expect("● local/SmolLM2")  # the answer has started
        child.sendintr()  # Ctrl-C while the answer streams
        child.expect("stopped")
        child.expect("›")  # back at the prompt: the chat goes on
        child.sendline("/model")
        child.expect("local/SmolLM2-135M-Instruct")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


@pytest.mark.real_model
def test_text_typed_while_an_answer_streams_is_not_echoed_and_not_lost():
    pexpect = pytest.importorskip("pexpect")
    child = spawn_chat("--threads", "2", "--no-save", "-p", "max_tokens=120", "-p", "temperature=0")
    try:
        child.expect("›")
        child.sendline("Write a long story about a brave knight and a dragon.")
        child.expect("● local/SmolLM2")  # the answer is streaming now
        child.send("/stats")  # typed while the answer streams, no Enter yet
        child.expect("›", timeout=120)  # the answer ended and the next prompt is up
        before = child.before
        child.sendline("")  # Enter: the typed text was kept for the prompt and runs now
        child.expect("last turn:")  # /stats ran
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert "/stats" not in before  # not echoed into the answer
    assert child.exitstatus == 0


@pytest.mark.real_model
def test_first_run_converts_in_the_foreground_then_prompts(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    child = spawn_chat("--threads", "2", timeout=120, env={"AGENT_APP_CACHE_DIR": str(tmp_path / "fresh-cache")})
    child.logfile_read = seen = io.StringIO()
    try:
        child.expect("First run: preparing the bundled model once")
        child.expect(r"converting \d/3")  # the stage shows while it works
        child.expect("usually about")  # with the measured estimate
        child.expect("The bundled model .* is small")  # said once, with the way to a bigger one
        child.expect("--base-url")
        child.expect("›")  # the prompt comes after the conversion
        child.sendline("/model")
        child.expect("model: local/SmolLM2-135M-Instruct")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert list((tmp_path / "fresh-cache" / "models").glob("*/config.json"))
    assert "GGUF tensors" not in seen.getvalue()  # no library progress bar tearing the display


def test_help_question_mark_and_clear_without_a_slash_are_commands():
    out = run_cli("--model", "fake", stdin="hello\nhelp\n?\nclear\n/exit\n")
    assert out.code == 0, out.err
    assert out.out.count("Ctrl-C stops an answer while it streams.") == 2  # help, then ?
    assert "history cleared" in out.out
    lines = [line.strip() for line in out.out.splitlines()]
    said = [line for line in lines if line.startswith("You said:")]
    assert said == ["You said: hello"]  # the echoing model saw only "hello"


def test_templates_and_sessions_commands_work_without_the_chat():
    shipped = json.loads(run_cli("templates", "--json").out)
    assert {"concise", "rag", "default"} <= {t["name"] for t in shipped} and all(t["shipped"] for t in shipped)
    assert run_cli("templates", "show", "concise").out.startswith("description: Very short answers")
    missing = run_cli("templates", "show", "nope")
    assert missing.code == 1 and missing.err == "error: no template 'nope' (`templates` lists them)\n"

    assert run_cli("--model", "fake", stdin="remember the kiwi\n/exit\n").code == 0
    listed = json.loads(run_cli("sessions", "--json").out)
    assert len(listed) == 1 and listed[0]["title"] == "remember the kiwi" and listed[0]["message_count"] == 2
    assert "human: remember the kiwi" in run_cli("sessions", "show", "last").out
    exported = json.loads(run_cli("sessions", "export", listed[0]["id"][:8]).out)
    assert [m["role"] for m in exported["messages"]] == ["human", "ai"]
    assert run_cli("sessions", "delete", "last").out.startswith(f"deleted {listed[0]['id'][:8]}")
    assert json.loads(run_cli("sessions", "--json").out) == []
    needs_id = run_cli("sessions", "show")
    assert needs_id.code == 1 and needs_id.err.startswith("error: sessions show needs an id")
