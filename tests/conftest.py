"""Shared test set-up: every test runs with its own config and data folders, no OpenAI key from
the environment, and no network access for Hugging Face. The converted local model is cached in
the repo's .test-cache/ so it is converted once per checkout, not once per test."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Loopback stand-ins for Open-Meteo and SearxNG (open_meteo, searxng), used by several folders.
pytest_plugins = ["tests.support.service_fixtures", "tests.support.postgres"]

REPO = Path(__file__).resolve().parent.parent
TEST_CACHE = REPO / ".test-cache"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Session fixtures (the shared models below) are set up before the per-test folders of
# `isolated_app_dirs`, so they see these: without them a shared model was converted into, and
# loaded from, the user's own cache, and read the user's own config.
os.environ["AGENT_APP_CACHE_DIR"] = str(TEST_CACHE)
_SESSION_DIRS = Path(tempfile.mkdtemp(prefix="agent-app-tests-"))
os.environ["AGENT_APP_CONFIG_DIR"] = str(_SESSION_DIRS / "config")
os.environ["AGENT_APP_DATA_DIR"] = str(_SESSION_DIRS / "data")


@pytest.fixture(autouse=True)
def isolated_app_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app's folders at temporary ones and drop user credentials."""
    for name in list(os.environ):
        if name.startswith("AGENT_APP_") or name.startswith("OPENAI_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENT_APP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AGENT_APP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGENT_APP_CACHE_DIR", str(TEST_CACHE))
    return tmp_path


# -- real backends, shared by the whole session (loading once keeps the suite fast) ------------
@pytest.fixture(scope="session")
def llama_server():
    """A real OpenAI-compatible server (xllamacpp, 1 thread) serving the bundled GGUF."""
    from tests.support.llama_server import LlamaServer

    server = LlamaServer(threads=1).start()
    yield server
    server.stop()


def _settings(**overrides):
    from agent_app.config import load_settings

    return load_settings(environ={}, overrides=overrides)


@pytest.fixture(scope="session")
def local_chat_model():
    """The default local model: the bundled GGUF's 4-bit weights on ONNX Runtime (`dtype: auto`)."""
    from agent_app.models.factory import build_chat_model, parse_model_spec

    return build_chat_model(parse_model_spec("local"), _settings(threads=2))


@pytest.fixture(scope="session")
def fp32_chat_model():
    """The bundled model on torch with fp32 weights (`--dtype float32`): the torch path's own tests."""
    from agent_app.models.factory import build_chat_model, parse_model_spec

    return build_chat_model(parse_model_spec("local"), _settings(threads=2, dtype="float32"))


@pytest.fixture(scope="session")
def server_chat_model(llama_server):
    from agent_app.models.factory import build_chat_model, parse_model_spec

    return build_chat_model(
        parse_model_spec("openai/smollm2"), _settings(base_url=llama_server.base_url, max_retries=0)
    )


@pytest.fixture(scope="session")
def llamacpp_chat_model():
    """`--model llamacpp`: the bundled GGUF on llama.cpp, served inside this process."""
    from agent_app.models.factory import build_chat_model, parse_model_spec

    return build_chat_model(parse_model_spec("llamacpp"), _settings(threads=1, max_retries=0))


@pytest.fixture(scope="session")
def embeddings():
    """The default bundled embedding model (multilingual-e5-small); it is cached per process,
    so ingest reuses it."""
    from agent_app.retrieval.embedding_models import load_embeddings

    model = load_embeddings("bundled")
    model.embed_query("warm up")
    return model


@pytest.fixture(params=["local", "server", "llamacpp"])
def any_chat_model(request):
    """The same checks against both backends: that is what "interchangeable" means."""
    return request.getfixturevalue(f"{request.param}_chat_model")
