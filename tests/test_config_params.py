"""Configuration layering, parameter validation, model-spec parsing: the fast, pure parts."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_app.config import load_settings
from agent_app.errors import ConfigError, MissingCredentialsError, ModelNotFoundError
from agent_app.models.factory import build_chat_model, parse_model_spec, resolve_model_spec
from agent_app.models.params import GenerationParams, parse_assignments, validate_params
from agent_app.models.text import StopStringFilter, cut_at_stop


def test_file_then_env_then_flags(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: local\nthreads: 1\nparams:\n  temperature: 0.5\n  max_tokens: 64\n")
    monkeypatch.setenv("AGENT_APP_THREADS", "2")
    monkeypatch.setenv("AGENT_APP_PARAMS__MAX_TOKENS", "32")
    s = load_settings(cfg, {"model": "fake", "dtype": None})
    assert s.model == "fake"  # flag beats file
    assert s.threads == 2  # env beats file
    assert s.params.temperature == 0.5 and s.params.max_tokens == 32


def test_openai_variables_and_redaction(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    s = load_settings()
    assert s.openai_api_key.get_secret_value() == "sk-secret-123"
    assert s.base_url == "http://127.0.0.1:9/v1"
    assert "sk-secret" not in str(s.redacted()) and "sk-secret" not in repr(s)
    assert resolve_model_spec(s).provider == "openai"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert resolve_model_spec(load_settings()).provider == "local"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modle: local\n", "line 1 (modle): unknown key"),
        ("threads: many\n", "threads"),
        ("params: {temperature: 9}\n", "temperature"),
        ("model: local\n\tbad: tab\n", "line 2"),
        ("- a list\n", "must hold a mapping"),
        ("decode_threads: 0\n", "line 1 (decode_threads): decode_threads must be auto or a thread count"),
    ],
)
def test_bad_config_file_is_one_clear_line(tmp_path, text, message):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_explicit_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_parse_assignments_and_validation():
    values = parse_assignments(["temperature=0.7", "max-tokens=20", "stop=\\n", "stop=User:", "seed="])
    params = GenerationParams().merged(values)
    assert params.temperature == 0.7 and params.max_tokens == 20
    assert params.stop == ["\n", "User:"] and params.seed is None
    for bad, fragment in [
        ("temperature", "malformed"),
        ("temp=1", "unknown parameter"),
        ("top_p=2", "top_p"),
        ("max_tokens=lots", "max_tokens"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            GenerationParams().merged(parse_assignments([bad]))
    with pytest.raises(ConfigError, match="invalid parameters"):
        validate_params({"stop": [""]})


def test_merged_override_resets_with_none():
    base = GenerationParams(temperature=0.2, max_tokens=5)
    assert base.merged({"temperature": None}).temperature is None
    assert base.merged(GenerationParams(max_tokens=9)).model_dump(exclude_none=True) == {
        "temperature": 0.2,
        "max_tokens": 9,
    }


@pytest.mark.parametrize(
    ("text", "provider", "name", "label"),
    [
        ("local", "local", "", "local/SmolLM2-135M-Instruct"),
        ("openai", "openai", "", "openai/gpt-4o-mini"),
        ("openai/gpt-4.1", "openai", "gpt-4.1", "openai/gpt-4.1"),
        (
            "local/HuggingFaceTB/SmolLM2-360M-Instruct",
            "local",
            "HuggingFaceTB/SmolLM2-360M-Instruct",
            "local/HuggingFaceTB/SmolLM2-360M-Instruct",
        ),
        ("fake", "fake", "", "fake"),
    ],
)
def test_model_specs(text, provider, name, label):
    spec = parse_model_spec(text)
    assert (spec.provider, spec.name, spec.label) == (provider, name, label)


def test_model_spec_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="unknown model provider 'anthropic'"):
        parse_model_spec("anthropic/claude")
    with pytest.raises(ModelNotFoundError, match="model folder not found"):
        parse_model_spec("./no/such/folder")
    assert parse_model_spec(str(tmp_path)).provider == "local"  # a bare existing folder
    with pytest.raises(ModelNotFoundError, match="model folder not found"):
        build_chat_model(parse_model_spec("local/./missing-model"), load_settings())


def test_missing_openai_key_says_what_to_do():
    with pytest.raises(MissingCredentialsError) as info:
        build_chat_model(parse_model_spec("openai"), load_settings())
    assert "OPENAI_API_KEY" in str(info.value) and "--model local" in str(info.value)
    # A compatible server needs no real key.
    model = build_chat_model(
        parse_model_spec("openai/x"), load_settings(overrides={"base_url": "http://127.0.0.1:1/v1"})
    )
    assert model.model_name == "x"


@given(
    text=st.text(alphabet="ab\nObsrvtion:", max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=8),
    stop=st.lists(st.sampled_from(["\nObservation", "ab", "b\n", "tion:"]), max_size=2),
)
def test_stop_filter_matches_cut_for_any_chunking(text, cuts, stop):
    """However the text arrives in pieces, the visible output is the text cut at the first stop."""
    bounds = sorted({0, len(text), *[c for c in cuts if c <= len(text)]})
    f = StopStringFilter(stop)
    shown = "".join(f.feed(text[a:b]) for a, b in itertools.pairwise(bounds)) + f.flush()
    assert shown == cut_at_stop(text, stop)[0]


def test_config_errors_name_the_line_only_when_the_key_is_in_the_file(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model: local\nparams:\n  temperature: hot\n")
    with pytest.raises(ConfigError, match=r"config.yaml line 3 \(params.temperature\): Input should be a valid number"):
        load_settings(cfg, environ={})
    cfg.write_text("model: local\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={"AGENT_APP_THREADS": "x"})
    assert str(info.value).startswith("invalid configuration (threads):") and "config.yaml" not in str(info.value)
