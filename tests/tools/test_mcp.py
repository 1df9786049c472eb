"""MCP servers' tools in the agent, with approval, against real MCP servers.

The server (tests/support/mcp_server.py, written with the `mcp` SDK) runs as a real process:
over stdio, started by the app, and over streamable HTTP, started by the test. The agent runs
with the scripted model (deterministic steps) and, once, with the real local model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.handle import ModelHandle
from agent_app.tools.approval import ApprovalGate
from tests.support.cli import REPO, run_cli

SERVER = str(REPO / "tests" / "support" / "mcp_server.py")


def react(*steps: tuple[str, str], answer: str = "done") -> list[str]:
    """Scripted ReAct replies: each (tool, input) step, then the final answer."""
    return [f"Action: {tool}\nAction Input: {text}" for tool, text in steps] + [f"Final Answer: {answer}"]


@pytest.fixture
def pid_file(tmp_path: Path) -> Path:
    return tmp_path / "mcp.pids"


def write_config(tmp_path: Path, servers: dict, approval: dict | None = None) -> Path:
    config = tmp_path / "config" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    tools: dict = {"mcp_servers": servers}
    if approval:
        tools["approval"] = approval
    config.write_text(yaml.safe_dump({"tools": tools}), encoding="utf-8")
    return config


def stdio_server(pid_file: Path, **extra) -> dict:
    return {
        "command": sys.executable,
        "args": [SERVER],
        "env": {"MCP_TEST_PID_FILE": str(pid_file), "MCP_TEST_WORD": "plum"},
        **extra,
    }


def session_with(replies: list[str], *, asker=None) -> ChatSession:
    session = ChatSession(load_settings(), models=ModelHandle.given(ScriptedChatModel(replies=replies), "fake"))
    session.agent_mode = True
    session.ask_approval = asker
    return session


def started(pid_file: Path) -> list[int]:
    return [int(line) for line in pid_file.read_text().split()] if pid_file.exists() else []


@pytest.fixture
def http_server(tmp_path: Path):
    """The same server over streamable HTTP, requiring a bearer token."""
    process = subprocess.Popen(
        [sys.executable, SERVER, "--http"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MCP_TEST_TOKEN": "s3cret", "MCP_TEST_PID_FILE": str(tmp_path / "http.pids")},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("ready "), line
    yield f"http://127.0.0.1:{line.split()[1]}/mcp"
    process.terminate()
    process.wait(timeout=10)


def test_stdio_tools_join_the_agent_with_one_server_process_for_the_whole_chat(tmp_path, pid_file):
    write_config(tmp_path, {"test": stdio_server(pid_file, approval="allow")})
    session = session_with(
        react(("shout", "good morning"), answer="GOOD MORNING!")
        + react(("add_numbers", '{"a": 2, "b": 40}'), answer="42")
        + react(("secret_word", ""), answer="plum")
    )
    try:
        names = [tool.name for tool in session.tools()]
        assert names[:3] == ["calculator", "web_search", "weather"]
        assert {"shout", "add_numbers", "secret_word", "fail_always"} <= set(names)
        first = session.reply("Shout good morning")
        assert [(s.tool, s.observation, s.error) for s in first.steps] == [("shout", "GOOD MORNING!", False)]
        second = session.reply("What is 2 + 40 with the adding tool?")
        assert [(s.tool, s.observation) for s in second.steps] == [("add_numbers", "42")]
        third = session.reply("What is the secret word?")
        assert third.steps[0].observation == "plum"  # the configured env reached the server
        assert len(started(pid_file)) == 1  # one session (one process) for all three calls
    finally:
        session.close()
    (pid,) = started(pid_file)
    with pytest.raises(ProcessLookupError):  # closing the chat ended the server
        os.kill(pid, 0)


def test_a_tool_error_is_an_observation_and_the_answer_goes_on(tmp_path, pid_file):
    write_config(tmp_path, {"test": stdio_server(pid_file, approval="allow")})
    session = session_with(react(("fail_always", "because"), answer="It failed."))
    try:
        turn = session.reply("Try the failing tool")
    finally:
        session.close()
    (step,) = turn.steps
    assert step.error and step.observation.startswith("fail_always failed:")
    assert "cannot do that: because" in step.observation


def test_a_server_killed_mid_chat_is_reported_once_and_its_tools_drop_out(tmp_path, pid_file):
    write_config(tmp_path, {"test": stdio_server(pid_file, approval="allow")})
    session = session_with(
        react(("shout", "one"), answer="ONE!") + react(("shout", "two"), answer="x") + react(("shout", "three"))
    )
    try:
        assert session.reply("shout one").steps[0].observation == "ONE!"
        (pid,) = started(pid_file)
        os.kill(pid, signal.SIGKILL)
        turn = session.reply("shout two")
        (step,) = turn.steps
        assert step.error and "MCP server 'test' stopped" in step.observation
        assert any("MCP server 'test' stopped" in w and "left out" in w for w in turn.warnings)
        assert "shout" not in [tool.name for tool in session.tools()]
        later = session.reply("shout three")  # the chat goes on; the model's call finds no tool
        assert later.steps[0].error and "no tool named 'shout'" in later.steps[0].observation
        assert not any("stopped" in w for w in later.warnings)  # said once
    finally:
        session.close()


def test_a_server_that_cannot_start_is_one_line_and_the_others_still_work(tmp_path, pid_file):
    write_config(
        tmp_path,
        {"missing": {"command": "no-such-mcp-server-here"}, "test": stdio_server(pid_file, approval="allow")},
    )
    replies = tmp_path / "r.yaml"
    replies.write_text(yaml.safe_dump(react(("shout", "hi"), answer="HI!")), encoding="utf-8")
    out = run_cli("--model", f"fake/{replies}", stdin="/agent on\nshout hi\n/exit\n")
    assert out.code == 0, out.err
    assert "Traceback" not in out.out + out.err
    warning = [line for line in out.out.splitlines() if "missing" in line]
    assert warning == [
        "warning: MCP server 'missing' did not start: command not found: no-such-mcp-server-here; "
        "its tools are left out"
    ]
    assert "← HI!" in out.out


def test_http_server_with_headers(tmp_path, http_server):
    write_config(
        tmp_path,
        {"remote": {"url": http_server, "headers": {"Authorization": "Bearer s3cret"}, "approval": "allow"}},
    )
    session = session_with(react(("add_numbers", '{"a": 20, "b": 22}'), answer="42"))
    try:
        assert [(s.tool, s.observation) for s in session.reply("add 20 and 22").steps] == [("add_numbers", "42")]
    finally:
        session.close()
    # A wrong token: the server refuses the session; one notice, the built-ins remain.
    write_config(tmp_path, {"remote": {"url": http_server, "headers": {"Authorization": "Bearer wrong"}}})
    session = session_with([])
    try:
        assert [tool.name for tool in session.tools()] == ["calculator", "web_search", "weather"]
        (notice,) = session.take_notices()
        assert notice.startswith("MCP server 'remote' did not start:") and "401" in notice
    finally:
        session.close()


def test_tools_command_lists_sources_and_policies(tmp_path, pid_file):
    write_config(tmp_path, {"test": stdio_server(pid_file)}, approval={"fail_always": "deny", "weather": "ask"})
    out = run_cli("tools", "--json")
    assert out.code == 0, out.err
    rows = {row["name"]: (row["source"], row["approval"]) for row in json.loads(out.out)}
    assert rows["calculator"] == ("built-in", "allow")
    assert rows["weather"] == ("built-in", "ask")
    assert rows["shout"] == ("mcp:test", "ask")  # MCP tools ask by default
    assert rows["fail_always"] == ("mcp:test", "deny")
    assert len(started(pid_file)) == 1


# -- approval --------------------------------------------------------------------------------
def test_approval_yes_no_and_always(tmp_path, pid_file):
    write_config(tmp_path, {"test": stdio_server(pid_file)}, approval={"fail_always": "deny"})
    answers = iter(["no", "yes", "always", "yes"])
    asked: list[tuple[str, object]] = []

    def asker(tool, arguments):
        asked.append((tool, arguments))
        return next(answers)

    session = session_with(
        react(("shout", "a"), answer="refused")
        + react(("shout", "b"))
        + react(("shout", "c"))
        + react(("shout", "d"), ("secret_word", "")),
        asker=asker,
    )
    try:
        assert "fail_always" not in [tool.name for tool in session.tools()]  # deny: not offered
        refused = session.reply("shout a").steps[0]
        assert refused.error and refused.observation == "shout refused: the user did not allow this call"
        assert session.reply("shout b").steps[0].observation == "B!"
        assert session.reply("shout c").steps[0].observation == "C!"  # "always"
        last = session.reply("shout d, then the word")
        assert [s.observation for s in last.steps] == ["D!", "plum"]
    finally:
        session.close()
    # "d" was not asked about (always for shout); secret_word was.
    assert asked == [("shout", {"text": "a"}), ("shout", {"text": "b"}), ("shout", {"text": "c"}), ("secret_word", {})]


def test_without_a_terminal_ask_is_refused_unless_yes(tmp_path, pid_file):
    write_config(tmp_path, {"test": stdio_server(pid_file)})
    replies = tmp_path / "r.yaml"
    replies.write_text(yaml.safe_dump(react(("shout", "hi"), answer="ok") * 2), encoding="utf-8")
    refused = run_cli("ask", "--json", "--agent", "--model", f"fake/{replies}", "shout hi")
    assert refused.code == 0, refused.err
    (step,) = json.loads(refused.out)["steps"]
    assert step["error"] and step["observation"].startswith("shout refused:") and "--yes" in step["observation"]
    allowed = run_cli("ask", "--json", "--agent", "--yes", "--model", f"fake/{replies}", "shout hi")
    (step,) = json.loads(allowed.out)["steps"]
    assert (step["observation"], step["error"]) == ("HI!", False)


def test_the_gate_remembers_always_per_tool():
    answers = iter(["always", "no"])
    gate = ApprovalGate({}, ask=lambda tool, args: next(answers))
    assert gate.check("shout", {"text": "x"}) is None
    assert gate.check("shout", {"text": "y"}) is None  # not asked again
    assert gate.check("secret_word", {}) == "secret_word refused: the user did not allow this call"
    assert ApprovalGate({}, assume_yes=True).check("anything", {}) is None


def test_a_bad_server_entry_is_a_one_line_configuration_error(tmp_path):
    write_config(tmp_path, {"both": {"command": "x", "url": "http://127.0.0.1:1/mcp"}})
    out = run_cli("tools")
    assert out.code != 0 and "Traceback" not in out.err
    assert "give either command" in out.err and out.err.count("\n") == 1


def test_approval_in_a_real_terminal_yes_no_always(tmp_path, pid_file):
    """The chat on a pseudo-terminal: the call is shown, the answer typed, the chat goes on."""
    pexpect = pytest.importorskip("pexpect")
    from tests.support.cli import spawn_chat

    write_config(tmp_path, {"test": stdio_server(pid_file)})
    replies = tmp_path / "r.yaml"
    steps = react(("shout", "one"), answer="first") + react(("shout", "two"), answer="second")
    steps += react(("shout", "three"), answer="third") + react(("shout", "four"), answer="fourth")
    replies.write_text(yaml.safe_dump(steps), encoding="utf-8")
    child = spawn_chat("--model", f"fake/{replies}", "--no-save", env=dict(os.environ))
    try:
        child.expect("›")
        child.sendline("/agent on")
        child.expect("agent: on")
        child.sendline("shout one")
        child.expect(r'shout\("one"\)')
        child.expect(r"\[a\]lways")
        child.sendline("n")
        child.expect(r"✗ shout \(the user did not allow this call\)")  # the step, collapsed
        child.expect("›")
        for text, answer, observation in (("two", "y", "TWO!"), ("three", "a", "THREE!")):
            child.sendline(f"shout {text}")
            child.expect(r"\[a\]lways")
            child.sendline(answer)
            child.expect("›")
            child.sendline("/steps")
            child.expect(observation)
            child.expect("›")
        child.sendline("shout four")
        index = child.expect([r"\[a\]lways", "FOUR!"])  # the answer gives the result
        assert index == 1, "asked again after 'always'"
        child.expect("›")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


@pytest.mark.real_model
def test_the_local_model_calls_an_mcp_tool_and_answers_with_its_result(tmp_path, pid_file, local_chat_model):
    """The bundled 135M model has no worked example of `shout`: it is routed there because the
    question names it, and its answer is the tool's result (bench: bench_agent.py --mcp)."""
    write_config(tmp_path, {"test": stdio_server(pid_file, approval="allow")})
    session = ChatSession(load_settings(), models=ModelHandle.given(local_chat_model, "local"))
    session.agent_mode = True
    try:
        turn = session.reply("Use the shout tool on: good night")
    finally:
        session.close()
    assert [s.tool for s in turn.steps][:1] == ["shout"]
    assert not turn.steps[0].error and "NIGHT" in turn.steps[0].observation
    assert turn.steps[0].observation.rstrip("!") in turn.text


def test_a_call_is_shown_the_way_a_person_reads_it():
    from agent_app.tools.approval import describe_call

    assert describe_call("shout", {"text": "hi"}) == 'shout("hi")'
    assert describe_call("add_numbers", {"a": 2, "b": 3}) == 'add_numbers({"a": 2, "b": 3})'
    assert describe_call("secret_word", {}) == "secret_word()"
    assert describe_call("calculator", "2+2") == 'calculator("2+2")'
