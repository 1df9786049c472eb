"""Fault catalogue: configuration files, flags and generation parameters.

Each case runs the CLI in-process as a user would and asserts one clear line on stderr, a
non-zero exit and no traceback (an exception escaping `main` fails the test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_app.models.params import parse_assignments
from tests.support.cli import assert_one_line_error, run_cli

ALIAS_BOMB = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
)


def _file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        pytest.param("model: [1\n", ["line 2"], id="yaml-syntax"),
        pytest.param("nosuch: 1\n", ["line 1 (nosuch): unknown key"], id="unknown-key"),
        pytest.param(ALIAS_BOMB, ["line 2", "aliases"], id="alias-bomb"),
        pytest.param("- just\n- a list\n", ["mapping"], id="not-a-mapping"),
        pytest.param(b"model: \xff\xfe\n", ["not UTF-8"], id="not-utf8"),
        pytest.param("request_timeout: -3\n", ["request_timeout"], id="out-of-range"),
    ],
)
def test_bad_config_file(tmp_path, content, fragments):
    config = _file(tmp_path, "config.yaml", content)
    assert_one_line_error(run_cli("--config", str(config), "--model", "fake", "ask", "hi"), *fragments)


def test_config_given_a_folder_says_so(tmp_path):
    assert_one_line_error(run_cli("--config", str(tmp_path), "--model", "fake", "ask", "hi"), "is a folder")


def test_config_that_does_not_exist(tmp_path):
    assert_one_line_error(run_cli("--config", str(tmp_path / "no.yaml"), "ask", "hi"), "not found")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        pytest.param(["--bogus"], ["unrecognized arguments: --bogus", "--help"], id="unknown-flag"),
        pytest.param(["--threads", "abc", "ask", "hi"], ["--threads", "abc"], id="threads-not-a-number"),
        pytest.param(["--dtype", "int3", "ask", "hi"], ["--dtype"], id="dtype-choice"),
        pytest.param(["logs", "-n", "-5"], ["-5 is negative"], id="logs-negative-tail"),
        pytest.param(["logs", "-n", "many"], ["not a whole number"], id="logs-tail-not-a-number"),
        pytest.param(["--model", "fake", "--var", "novalue", "ask", "hi"], ["KEY=VALUE"], id="var-malformed"),
        pytest.param(["--model", "nosuch/x", "ask", "hi"], ["unknown model provider 'nosuch'"], id="unknown-provider"),
        pytest.param(["--model", "fake", "--resume", "last", "ask", "hi"], ["--resume", "chat"], id="resume-with-ask"),
        pytest.param(["--model", "fake", "ask"], ["no question given"], id="ask-without-question"),
        pytest.param(["--model", "openai/gpt-4o-mini", "ask", "hi"], ["no OpenAI API key"], id="openai-without-key"),
    ],
)
def test_bad_flags(argv, fragments):
    assert_one_line_error(run_cli(*argv), *fragments)


@pytest.mark.parametrize(
    ("param", "fragments"),
    [
        pytest.param("stop=\\x", ["unknown escape", "\\uXXXX"], id="stop-bad-escape"),
        pytest.param("stop=\\u12", ["unknown escape"], id="stop-short-unicode-escape"),
        pytest.param("temperature=hot", ["temperature", "number"], id="not-a-number"),
        pytest.param("top_p=7", ["top_p"], id="out-of-range"),
        pytest.param("nosuch=1", ["unknown parameter 'nosuch'"], id="unknown-parameter"),
        pytest.param("temperature", ["name=value"], id="no-equals"),
    ],
)
def test_bad_generation_parameter(param, fragments):
    assert_one_line_error(run_cli("--model", "fake", "-p", param, "ask", "hi"), *fragments)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("。", ["。"]),
        ("\\u3002", ["。"]),
        ("\\n\\nUser:", ["\n\nUser:"]),
        ("a\\\\nb", ["a\\nb"]),
        ("終わり", ["終わり"]),
    ],
)
def test_stop_strings_keep_non_ascii_and_known_escapes(typed, expected):
    assert parse_assignments([f"stop={typed}"])["stop"] == expected


def test_japanese_stop_string_fires_in_an_answer(tmp_path):
    replies = _file(tmp_path, "replies.yaml", "- 最初の文です。二番目の文です。\n")
    result = run_cli("--model", f"fake/{replies}", "-p", "stop=。", "ask", "質問")
    assert result.code == 0, result.err
    assert result.out.strip() == "最初の文です"


def test_bad_params_in_the_chat_keep_it_running():
    script = "/params stop=\\x\n/params stop=\\u12\n/params temperature=0.5\nhello\n/exit\n"
    result = run_cli("--model", "fake", "--no-save", stdin=script)
    assert result.code == 0 and "Traceback" not in result.out + result.err
    assert result.out.count("unknown escape") == 2
    assert "temperature=0.5" in result.out and "You said: hello" in result.out
