"""Secret redaction rules, the settings model and the combined set-up."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydantic import ValidationError
from rich.console import Console

from agent_app.models.fake import ScriptedChatModel
from agent_app.monitoring.redact import Redactor
from agent_app.monitoring.settings import LoggingSettings
from agent_app.monitoring.setup import build_monitoring
from tests.support.monitoring_helpers import make_chain, read_events


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-abcdefghijklmnop end", "key sk-*** end"),
        ("Authorization: Bearer eyJhbGciOi.payload", "Authorization: Bearer ***"),
        ("url?api_key=abc123&x=1", "url?api_key=***&x=1"),
        ('{"OPENAI_API_KEY": "abc123"}', '{"OPENAI_API_KEY": "***"}'),
        ("password = hunter2", "password = ***"),
        ("max_tokens=50 and input_tokens: 3", "max_tokens=50 and input_tokens: 3"),  # not secrets
        ("ask-me sk-short", "ask-me sk-short"),
    ],
)
def test_patterns(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_known_values_and_secret_keys_in_data() -> None:
    redactor = Redactor(["configured-secret", "abc", None])  # too short to mask safely: ignored
    data = {"prompt": "use configured-secret", "api_key": "whatever", "n": 3, "items": ["abc configured-secret"]}
    assert redactor.data(data) == {"prompt": "use ***", "api_key": "***", "n": 3, "items": ["abc ***"]}


def test_settings_defaults_and_unknown_keys() -> None:
    settings = LoggingSettings()
    assert (settings.enabled, settings.log_content, settings.verbose) == (True, True, "off")
    with pytest.raises(ValidationError):
        LoggingSettings(verbosity="info")
    with pytest.raises(ValidationError):
        LoggingSettings(verbose="loud")


def test_build_monitoring_wires_all_three(log_path: Path) -> None:
    out = io.StringIO()
    monitoring = build_monitoring(
        LoggingSettings(verbose="info", log_content=False),
        secrets=["configured-secret"],
        console=Console(file=out, width=200),
        log_path=log_path,
    )
    monitoring.stats.begin_turn()
    make_chain(ScriptedChatModel(replies=["answer"])).invoke(
        {"question": "configured-secret"}, config={"callbacks": monitoring.callbacks}
    )
    monitoring.close()
    assert "model done" in out.getvalue()
    assert monitoring.stats.last_turn is not None and monitoring.stats.last_turn.output_tokens == 1
    assert all("messages" not in e for e in read_events(log_path))
    assert build_monitoring(LoggingSettings(enabled=False)).log is None
