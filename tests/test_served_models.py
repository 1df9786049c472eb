"""`--model llamacpp[/FILE.gguf]` (llama.cpp inside the process), `--model ollama/NAME` (a stand-in
Ollama that relays to a real llama.cpp server) and `models`, the list of choices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent_app.models.factory import ollama_base, parse_model_spec
from agent_app.models.weights import bundled_gguf_path
from tests.support.cli import run_cli
from tests.support.fake_services import FakeOllama
from tests.support.llama_server import free_port


def test_llamacpp_answers_from_the_command_line():
    out = run_cli("ask", "--model", "llamacpp", "--threads", "1", "-p", "max_tokens=12", "--json", "Say hello.")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["answer"].strip() and answer["model"] == "llamacpp"
    assert answer["usage"]["output_tokens"] <= 12


def test_llamacpp_takes_any_gguf_file(tmp_path: Path):
    gguf = tmp_path / "my model.gguf"
    shutil.copy(bundled_gguf_path(), gguf)
    out = run_cli("ask", "--model", f"llamacpp/{gguf}", "--threads", "1", "-p", "max_tokens=5", "--json", "Hi")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["model"] == f"llamacpp/{gguf}"


@pytest.mark.parametrize(
    ("name", "message"),
    [("/nowhere/x.gguf", "error: GGUF file not found: /nowhere/x.gguf"), ("README.md", "error: not a GGUF file")],
)
def test_llamacpp_bad_files_are_one_line_errors(name, message):
    out = run_cli("ask", "--model", f"llamacpp/{name}", "hi")
    assert out.returncode == 1 and out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr


def test_ollama_not_running_says_how_to_start_it(monkeypatch):
    unused_port = free_port()  # nothing listens there
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{unused_port}")
    out = run_cli("ask", "--model", "ollama/llama3.2", "hi")
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert f"Ollama is not running at http://127.0.0.1:{unused_port}" in out.stderr and "ollama serve" in out.stderr


def test_ollama_model_not_pulled_says_how_to_pull_it(monkeypatch, llama_server):
    with FakeOllama(llama_server.base_url.removesuffix("/v1"), ["qwen3:latest"]) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        out = run_cli("ask", "--model", "ollama/llama3.2", "hi")
    assert out.returncode == 1 and "Ollama has no model 'llama3.2' (pulled: qwen3:latest)" in out.stderr
    assert "ollama pull llama3.2" in out.stderr


def test_ollama_answers_through_its_openai_endpoint(monkeypatch, llama_server):
    with FakeOllama(llama_server.base_url.removesuffix("/v1"), ["smollm2:latest"]) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url.removeprefix("http://"))  # as Ollama writes it
        out = run_cli("ask", "--model", "ollama/smollm2", "-p", "max_tokens=8", "--json", "Say hello.")
        paths = [r.path for r in ollama.requests]
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["answer"].strip()
    assert paths[0] == "/api/tags" and "/v1/chat/completions" in paths


def test_ollama_host_forms():
    assert ollama_base("0.0.0.0:11434") == "http://127.0.0.1:11434"
    assert ollama_base("localhost") == "http://localhost:11434"
    assert ollama_base("https://gpu-box:8000/") == "https://gpu-box:8000"
    assert parse_model_spec("llamacpp").label == "llamacpp"


def test_models_lists_bundled_gguf_files_and_ollama(monkeypatch, tmp_path: Path, llama_server):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("AGENT_APP_MODELS_DIR", str(folder))
    with FakeOllama(llama_server.base_url.removesuffix("/v1"), ["qwen3:latest"]) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        out = run_cli("models", "--json")
    assert out.returncode == 0, out.stderr
    listed = {row["model"]: row["source"] for row in json.loads(out.stdout)}
    assert listed["local"] == "bundled" and listed["llamacpp"] == "bundled"
    assert listed[f"llamacpp/{folder / 'tiny.gguf'}"] == "gguf"
    assert listed["ollama/qwen3:latest"] == "ollama"
    text = run_cli("models")  # Ollama stopped: the rest is still listed
    assert text.returncode == 0 and "llamacpp" in text.stdout and "ollama/" not in text.stdout


def test_model_command_reaches_a_compatible_server_by_url(llama_server, tmp_path: Path):
    from agent_app.chat.session import ChatSession
    from agent_app.config import load_settings

    session = ChatSession(load_settings(environ={}, overrides={"model": "fake"}))
    label = session.switch_model(f"openai/smollm2@{llama_server.base_url}")
    assert label == "openai/smollm2" and session.settings.base_url == llama_server.base_url
    session.set_params({"max_tokens": 8})
    assert session.reply("Say hello.").text.strip()  # answered by the llama.cpp server
    with pytest.raises(Exception, match="model folder not found"):
        session.switch_model("./nowhere@http://127.0.0.1:9/v1")
    assert session.settings.base_url == llama_server.base_url  # a failed switch changes nothing


def test_a_gguf_can_be_served_with_another_chat_template(tmp_path: Path):
    import httpx

    from agent_app.errors import ModelNotFoundError
    from agent_app.models.llamacpp import get_server

    gguf = tmp_path / "other.gguf"
    shutil.copy(bundled_gguf_path(), gguf)
    template = tmp_path / "plain.jinja"
    template.write_text("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant] ")
    server = get_server(str(gguf), threads=1, context=512, chat_template=str(template))
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    reply = httpx.post(server.base_url.removesuffix("/v1") + "/apply-template", json=body, timeout=30)
    assert reply.json()["prompt"] == "[user] Hi\n[assistant] "
    with pytest.raises(ModelNotFoundError, match="chat template file not found"):
        get_server(str(gguf), chat_template=str(tmp_path / "missing.jinja"))
