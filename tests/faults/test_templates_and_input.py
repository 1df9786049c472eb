"""Fault catalogue: templates, the system prompt and what users type or pipe in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.errors import TemplateError
from agent_app.memory.store import ConversationStore
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.handle import ModelHandle
from agent_app.templates.loader import parse_template
from tests.support.cli import assert_one_line_error, run_cli

REPO = Path(__file__).resolve().parents[2]

# 610 bytes of nested aliases: expanded, the schema's default would be about a gigabyte.
TEMPLATE_BOMB = """description: alias bomb
output:
  type: json
  schema:
    type: object
    default:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
messages:
  - {role: human, content: "{input}"}
"""


def _session(**kwargs) -> tuple[ChatSession, ScriptedChatModel]:
    model = ScriptedChatModel()
    return ChatSession(load_settings(environ={}), models=ModelHandle.given(model, "fake"), **kwargs), model


# -- templates -------------------------------------------------------------------------------
def test_alias_bomb_template_is_refused_before_expanding():
    with pytest.raises(TemplateError, match=r"line 8: invalid YAML: YAML aliases"):
        parse_template(TEMPLATE_BOMB, source="bomb.yaml")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        pytest.param(TEMPLATE_BOMB, ["aliases"], id="alias-bomb"),
        pytest.param("sytem: hi\n", ["line 1", "sytem", "unknown key"], id="unknown-key"),
        pytest.param("system: [unclosed\n", ["invalid YAML"], id="broken-yaml"),
        pytest.param(b"system: \xff\n", ["not UTF-8"], id="not-utf8"),
        pytest.param("system: Hello {nobody}\n", ["nobody"], id="undeclared-variable"),
        pytest.param("x" * 300_000, ["too large"], id="too-large"),
    ],
)
def test_bad_template_file(tmp_path, content, fragments):
    path = tmp_path / "mine.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_one_line_error(run_cli("--model", "fake", "-t", str(path), "ask", "hi"), *fragments)


def test_unknown_template_name_and_escaping_names():
    assert_one_line_error(run_cli("--model", "fake", "-t", "nosuch", "ask", "hi"), "unknown template")
    assert_one_line_error(run_cli("--model", "fake", "-t", "../../etc/passwd", "ask", "hi"))


def test_broken_template_in_the_chat_keeps_it_running(tmp_path):
    script = "/template nosuch\n/template ../x\nstill here\n/exit\n"
    result = run_cli("--model", "fake", "--no-save", stdin=script)
    assert result.code == 0
    assert result.out.count("error:") == 2 and "You said: still here" in result.out


# -- the system prompt is literal text --------------------------------------------------------
@pytest.mark.parametrize(
    "system",
    ['Reply in JSON like {"a": 1}', "Echo: {input}", "{", "}} {{ {0} {input!r}", "Use {{double}} braces"],
)
def test_system_text_reaches_the_model_exactly_as_typed(system):
    session, model = _session(system_prompt=system)
    session.reply("hello")
    first = model.calls[-1][0]
    assert first.type == "system" and first.text == system


def test_system_with_braces_from_the_command_line():
    result = run_cli("--model", "fake", "--system", 'Reply in JSON like {"a": 1}', "ask", "--json", "hi")
    assert result.code == 0, result.err
    assert json.loads(result.out)["answer"] == "You said: hi"


# -- input ------------------------------------------------------------------------------------
def test_empty_and_blank_input_lines_are_ignored_in_the_chat():
    result = run_cli("--model", "fake", "--no-save", stdin="\n   \n\t\nhi\n/exit\n")
    assert result.code == 0 and result.out.count("You said:") == 1


def test_200_kb_input_is_answered_and_saved(tmp_path):
    text = "word " * 40_000  # 200 KB
    result = run_cli("--model", "fake", stdin=text + "\n/exit\n")
    assert result.code == 0 and "Traceback" not in result.err
    with ConversationStore() as store:
        conversation = store.get("last")
        messages = store.messages(conversation.id)
    assert messages[0].text == text.strip() and messages[1].text.startswith("You said: word word")


def test_control_characters_and_braces_are_kept_literally():
    typed = "a\x07b\x1b[31mred {input} {x} }{"
    session, model = _session()
    turn = session.reply(typed)
    assert model.calls[-1][-1].text == typed
    assert turn.text == f"You said: {typed}"


def test_invalid_utf8_in_the_chat_is_replaced_and_saved(tmp_path):
    stdin = b"caf\xc3\xa9 \xff\xfe ok\n/exit\n"
    result = run_cli("--model", "fake", stdin=stdin)
    assert result.code == 0
    assert "not valid UTF-8" in result.out
    with ConversationStore() as store:
        messages = store.messages(store.get("last").id)
        assert store.integrity_check() == "ok"
    assert messages[0].text == "café \ufffd\ufffd ok"


def test_invalid_utf8_to_ask_keeps_the_event_log_writing(tmp_path, isolated_app_dirs):
    first = run_cli("--model", "fake", "ask", stdin=b"\xff\xfe question\n")
    second = run_cli("--model", "fake", "ask", "a clean question")
    assert first.code == 0 and second.code == 0
    assert "not valid UTF-8" in first.err and "You said: \ufffd\ufffd question" in first.out
    log = isolated_app_dirs / "data" / "logs" / "events.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert "event log switched off" not in first.err + second.err
    assert any("a clean question" in json.dumps(e, ensure_ascii=False) for e in events)


def test_a_closed_pipe_is_not_a_traceback():
    # `ask --json hi | head -c 5`: the reader leaves before the answer is written.
    code = (
        f"import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, 'main.py', '--model', 'fake', 'ask', '--json', 'hi'],"
        f" stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd={str(REPO)!r})\n"
        f"p.stdout.close()\n"
        f"err = p.stderr.read().decode()\n"
        f"print(p.wait(), repr(err))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    status, err = out.stdout.split(" ", 1)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert status.strip() in {"0", "141"}
