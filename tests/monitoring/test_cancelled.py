"""A stopped answer (Ctrl-C, a consumer that stops reading) is logged as cancelled, not failed."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.handle import ModelHandle
from agent_app.monitoring.describe import describe
from agent_app.monitoring.setup import build_monitoring
from tests.support.monitoring_helpers import read_events


class CtrlC(ScriptedChatModel):
    """Streams one word, then the user presses Ctrl-C (raised where the real model waits)."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        yield ChatGenerationChunk(message=AIMessageChunk(content="one "))
        raise KeyboardInterrupt


def test_ctrl_c_is_cancelled_in_the_log(isolated_app_dirs):
    settings = load_settings(environ={})
    monitoring = build_monitoring(settings.logging)
    session = ChatSession(settings, models=ModelHandle.given(CtrlC(), "fake"), monitoring=monitoring)
    with pytest.raises(KeyboardInterrupt):
        for _ in session.stream_reply("count"):
            pass
    monitoring.close()
    events = read_events(isolated_app_dirs / "data" / "logs" / "events.jsonl")
    ends = [e for e in events if e["phase"] != "start"]
    assert not [e for e in ends if e["phase"] == "error"]
    assert {e["event"] for e in ends if e["phase"] == "cancelled"} == {"chat_model_cancelled", "chain_cancelled"}
    assert not any("KeyboardInterrupt" in str(e) or "GeneratorExit" in str(e) for e in events)
    top = next(e for e in ends if e["depth"] == 0 and e["phase"] == "cancelled")
    assert describe(top, "info").startswith("chain chat_turn cancelled after")
    assert session.last_turn.interrupted and session.last_turn.as_dict()["finish_reason"] == "cancelled"
