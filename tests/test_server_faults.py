"""Failures of a remote model become one-line messages; the session survives them."""

from __future__ import annotations

import pytest

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.errors import ProviderError
from tests.support.llama_server import ALIAS, LlamaServer, free_port

pytestmark = [pytest.mark.server]


def _session(base_url: str) -> ChatSession:
    settings = load_settings(environ={}, overrides={"base_url": base_url, "max_retries": 0, "request_timeout": 20})
    settings.model = f"openai/{ALIAS}"
    return ChatSession(settings)


def test_server_killed_mid_stream_keeps_partial_answer_and_session():
    with LlamaServer(threads=1) as server:
        session = _session(server.base_url)
        session.set_params({"max_tokens": 400, "temperature": 0})
        stream = session.stream_reply("Write a very long story about a dragon.")
        received = [next(stream), next(stream)]
        server.stop(kill=True)
        with pytest.raises(ProviderError) as info:
            for piece in stream:
                received.append(piece)
    message = str(info.value)
    assert "\n" not in message and ("lost the connection" in message or "cannot reach" in message)
    # The partial answer is kept in the history; the session is usable for the next turn.
    assert session.log.history[-1].text == "".join(received)
    with pytest.raises(ProviderError, match="cannot reach"):
        session.reply("Are you there?")
    # A failed turn keeps what the user typed and adds no answer.
    assert [m.type for m in session.log.history[-2:]] == ["ai", "human"]
    assert session.log.history[-1].text == "Are you there?" and session.log.history[-2].text == "".join(received)


def test_connection_refused_is_explained():
    session = _session(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ProviderError) as info:
        session.reply("hello")
    assert "cannot reach http://127.0.0.1" in str(info.value)
    assert [(m.type, m.text) for m in session.log.history] == [("human", "hello")]


class _ErrorServer:
    """A loopback HTTP server that answers every request with one fixed OpenAI-style error."""

    def __init__(self, status: int, body: dict) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            401,
            {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"},
            "rejected the API key (401)",
        ),
        (
            429,
            {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"},
            "run out of credit",
        ),
        (429, {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}, "rate-limited"),
        (
            404,
            {"message": "The model does not exist", "type": "invalid_request_error", "code": "model_not_found"},
            "does not know this model",
        ),
        (
            400,
            {
                "message": "This model's maximum context length is 8192 tokens",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            },
            "context window",
        ),
    ],
)
def test_provider_errors_become_one_line_messages(status, error, expected):
    with _ErrorServer(status, {"error": error}) as base_url:
        session = _session(base_url)
        with pytest.raises(ProviderError) as info:
            session.reply("hello")
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "Traceback" not in message
