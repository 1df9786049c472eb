"""What the user reads is whole: no broken characters from byte-level tokens, and an answer cut
at max_tokens says so (`finish_reason`, a warning with the fix). On the real local model."""

from __future__ import annotations

import json

import pytest

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.models.handle import ModelHandle
from tests.support.cli import run_cli

pytestmark = pytest.mark.real_model

JAPANESE = ["日本の首都はどこですか？", "富士山について教えて。", "こんにちは、元気？", "好きな食べ物は何ですか。"]


@pytest.mark.parametrize("template", ["default", "character", "few-shot-keywords"])
@pytest.mark.parametrize("max_tokens", [3, 7, 16])
def test_japanese_output_never_holds_a_broken_character(template, max_tokens, local_chat_model):
    session = ChatSession(
        load_settings(overrides={"model": "local"}),
        template=template,
        models=ModelHandle.given(local_chat_model, "local"),
    )
    session.set_params({"max_tokens": max_tokens, "temperature": 0})
    for question in JAPANESE:
        pieces = list(session.stream_reply(question))
        assert all("\ufffd" not in p for p in pieces), pieces
        assert "\ufffd" not in session.last_turn.text


def test_a_cut_answer_says_so(local_chat_model):
    session = ChatSession(
        load_settings(overrides={"model": "local"}), models=ModelHandle.given(local_chat_model, "local")
    )
    session.set_params({"max_tokens": 4, "temperature": 0})
    turn = session.reply("Tell me a long story about a dragon.")
    assert turn.finish_reason == "length" and turn.as_dict()["finish_reason"] == "length"
    assert any("cut at max_tokens (4)" in w and "max_tokens=8" in w for w in turn.warnings)
    session.set_params({"max_tokens": 200})
    turn = session.reply("Say hi.")
    assert turn.finish_reason == "stop" and not any("cut at" in w for w in turn.warnings)


def test_ask_json_reports_finish_reason(local_chat_model):
    result = run_cli("--model", "local", "-p", "max_tokens=3", "-p", "temperature=0", "ask", "--json", "Count to ten.")
    assert result.code == 0, result.err
    assert json.loads(result.out)["finish_reason"] == "length"


def test_the_japanese_character_template_answers_in_japanese(local_chat_model):
    """Its old no_repeat_ngram_size (on byte tokens) made character soup; now the answer is
    mostly kana and kanji (bench/bench_output_integrity.py: 85% over 50 prompts)."""
    import re

    session = ChatSession(
        load_settings(overrides={"model": "local"}),
        template="character",
        models=ModelHandle.given(local_chat_model, "local"),
    )
    session.set_params({"temperature": 0})
    letters = japanese = 0
    for question in JAPANESE:
        text = session.reply(question).text
        assert "\ufffd" not in text and text.strip()
        found = re.findall(r"[^\W\d_]", text)
        letters += len(found)
        japanese += sum(bool(re.match(r"[\u3040-\u30ff\u3400-\u9fff]", c)) for c in found)
        session.clear()
    assert japanese / letters >= 0.6, (japanese, letters)
