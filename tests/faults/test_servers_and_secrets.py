"""Fault catalogue: model servers that refuse, babble, hang, fail or die; secrets never shown.

The servers are loopback stand-ins (tests/support/bad_server.py) that misbehave on purpose;
`request_timeout` is 1 s and retries are off so that a hang costs a second.
"""

from __future__ import annotations

import json

import pytest

from tests.support.bad_server import BadServer
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.llama_server import free_port

KEY = "sk-test-abcdefghijklmnop0123456789"


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch):
    monkeypatch.setenv("AGENT_APP_REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("AGENT_APP_MAX_RETRIES", "0")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def _ask(base_url: str, *extra: str):
    return run_cli("--model", "openai/m", "--base-url", base_url, *extra, "ask", "hi")


@pytest.mark.parametrize(
    ("mode", "options", "fragments"),
    [
        pytest.param("garbage", {}, ["not HTTP", "OpenAI-compatible"], id="garbage"),
        pytest.param("not_json", {}, ["not an OpenAI-style stream"], id="html-page"),
        pytest.param("hang", {}, ["did not answer in time", "request_timeout"], id="hang"),
        pytest.param("status", {"status": 401}, ["rejected the API key (401)"], id="401"),
        pytest.param("status", {"status": 429}, ["rate-limited", "429"], id="429"),
        pytest.param("status", {"status": 429, "code": "insufficient_quota"}, ["run out of credit"], id="quota"),
        pytest.param("status", {"status": 500}, ["HTTP 500"], id="500"),
        pytest.param("status", {"status": 503}, ["HTTP 503"], id="503"),
        pytest.param("status", {"status": 404}, ["does not know this model"], id="404"),
    ],
)
def test_misbehaving_server_gives_one_line(mode, options, fragments):
    with BadServer(mode, **options) as server:
        line = assert_one_line_error(_ask(server.base_url), *fragments)
    assert KEY not in line


def test_connection_refused():
    assert_one_line_error(_ask(f"http://127.0.0.1:{free_port()}/v1"), "cannot reach")


def test_server_dying_mid_stream_keeps_the_partial_answer():
    with BadServer("stream_then_die", chunks=3) as server:
        result = _ask(server.base_url)
    assert_one_line_error(result, "lost the connection", "mid-answer")
    assert result.out == "part0 part1 part2 "


def test_chat_survives_server_faults_and_keeps_every_message():
    with BadServer("status", status=500) as server:
        result = run_cli("--model", "openai/m", "--base-url", server.base_url, stdin="one\ntwo\n/params\n/exit\n")
    assert result.code == 0 and "Traceback" not in result.out + result.err
    assert result.out.count("HTTP 500") == 2 and "params:" in result.out
    from agent_app.memory.store import ConversationStore

    with ConversationStore() as store:
        texts = [m.text for m in store.messages(store.get("last").id)]
    assert texts == ["one", "two"]  # what was typed is kept; no invented answers


# -- secrets -----------------------------------------------------------------------------------
def test_key_echoed_by_the_server_is_masked_in_the_error_line():
    with BadServer("status", status=500, echo_auth=True) as server:
        line = assert_one_line_error(_ask(server.base_url), "HTTP 500")
    assert KEY not in line and "***" in line


def test_password_in_the_base_url_is_never_printed():
    url = f"http://alice:hunter2-secret@127.0.0.1:{free_port()}/v1"
    line = assert_one_line_error(_ask(url), "cannot reach")
    assert "hunter2-secret" not in line and "alice:" not in line and "***@127.0.0.1" in line


def test_key_never_in_log_db_or_verbose_output(isolated_app_dirs, monkeypatch):
    secret, password = "unprefixed-secret-value-42", "pw-in-url-777"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with BadServer("status", status=500, echo_auth=True) as server:
        url = server.base_url.replace("http://", f"http://bob:{password}@")
        result = run_cli("--model", "openai/m", "--base-url", url, "--verbose", stdin="hello there\n/exit\n")
    data = isolated_app_dirs / "data"
    log = (data / "logs" / "events.jsonl").read_text(encoding="utf-8")
    shown = result.out + result.err
    assert "HTTP 500" in shown and "hello there" in log
    import sqlite3

    with sqlite3.connect(data / "conversations.db") as db:
        stored = " ".join(
            str(row) for table in ("conversations", "messages") for row in db.execute(f"SELECT * FROM {table}")
        )
    assert "hello there" in stored
    for where in (log, shown, stored):
        assert secret not in where and password not in where
    for line in log.splitlines():
        json.loads(line)  # every line is valid JSON
