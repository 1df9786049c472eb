"""One usage and timing path: the figures `ask --json` prints and the ones `/stats` shows come
from the same count, for chat and completion templates, streamed and invoked model calls, on the
real local model (whose completion model reports usage in two different places)."""

from __future__ import annotations

import pytest

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.models.handle import ModelHandle
from agent_app.monitoring.stats import format_stats

pytestmark = pytest.mark.real_model

COMPLETION_COT = """mode: completion
prompt: "Question: {input}\\nLet's think step by step.\\n"
chain:
  kind: chain-of-thought
  answer_marker: "Answer:"
"""


@pytest.mark.parametrize(
    ("template", "question"),
    [
        ("default", "Name a colour."),  # chat mode, streamed
        ("character", "こんにちは"),  # completion mode, streamed
        ("zero-shot-cot", "What is 2 plus 3?"),  # chain-of-thought: the chat model is invoked
        ("completion-cot", "What is 2 plus 3?"),  # the completion model is invoked
    ],
)
def test_ask_json_and_stats_show_the_same_turn(template, question, local_chat_model, tmp_path):
    (tmp_path / "completion-cot.yaml").write_text(COMPLETION_COT, encoding="utf-8")
    settings = load_settings(overrides={"model": "local", "templates": {"template_dirs": [str(tmp_path)]}})
    session = ChatSession(settings, template=template, models=ModelHandle.given(local_chat_model, "local"))
    session.set_params({"max_tokens": 12, "temperature": 0})
    turn = session.reply(question)
    usage = turn.as_dict()["usage"]
    stats = session.stats.last_turn
    assert stats is not None
    assert usage["output_tokens"] > 0 and usage["input_tokens"] > 0, usage
    assert (usage["input_tokens"], usage["output_tokens"], usage["model_calls"]) == (
        stats.input_tokens,
        stats.output_tokens,
        len(stats.calls),
    )
    assert not stats.estimated  # real counts from the model, not "~" guesses
    assert turn.total_s == stats.seconds and turn.first_token_s == stats.ttft_seconds
    shown = format_stats(session.stats)
    assert f"tokens in {usage['input_tokens']}, out {usage['output_tokens']}" in shown


def test_the_local_agent_counts_its_tokens(local_chat_model):
    """The agent's constrained generations run outside LangChain's models; they report their
    tokens too (they showed 0 in and 0 out for 2 model calls)."""
    session = ChatSession(
        load_settings(overrides={"model": "local"}), models=ModelHandle.given(local_chat_model, "local")
    )
    session.agent_mode = True
    # A question the calculator cannot read whole: the model writes the input (a constrained
    # generation), then the answer.
    turn = session.reply("A ticket costs 12.75. How much do 4 tickets cost?")
    usage = turn.as_dict()["usage"]
    assert usage["model_calls"] >= 2, usage
    assert usage["input_tokens"] > 50 and usage["output_tokens"] > 0, usage
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
