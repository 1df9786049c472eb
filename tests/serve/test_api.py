"""`serve`: the OpenAI-compatible API on a real uvicorn server (loopback, free port), driven by
the `openai` package, LangChain's ChatOpenAI and plain HTTP. The model behind it is scripted,
so answers are exact; the real bundled model is served in test_served_local.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from agent_app.config import load_settings
from agent_app.memory.store import ConversationStore
from agent_app.models.fake import ScriptedChatModel
from tests.support.cli import run_cli
from tests.support.serve_helpers import gated_model, running_server


def settings(**overrides: Any):
    return load_settings(environ={}, overrides={"model": "fake", **overrides})


@pytest.fixture
def served() -> Iterator[tuple[str, ScriptedChatModel]]:
    model = ScriptedChatModel()
    with running_server(settings(), model) as url:
        yield url, model


def client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_models_lists_the_ways_of_answering(served) -> None:
    url, _ = served
    ids = [m.id for m in client(url).models.list()]
    assert ids[0] == "chat" and "agent" in ids
    assert "template:concise" in ids and "template:rag" in ids


def test_a_completion_with_usage(served) -> None:
    url, model = served
    reply = client(url).chat.completions.create(
        model="chat",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada."},
            {"role": "user", "content": "What is my name?"},
        ],
    )
    assert reply.choices[0].message.content == "You said: What is my name?"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens == 6 and reply.usage.prompt_tokens > 0
    sent = [(type(m).__name__, m.text) for m in model.calls[-1]]
    assert sent[0] == ("SystemMessage", "Be brief.")  # the request's system message, as --system
    assert ("HumanMessage", "My name is Ada.") in sent and ("AIMessage", "Hello Ada.") in sent


def test_streaming_sends_the_pieces_and_usage_last(served) -> None:
    url, _ = served
    stream = client(url).chat.completions.create(
        model="template:concise",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: one two three"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # word by word
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_langchain_chat_openai_works_against_it(served) -> None:
    from langchain_openai import ChatOpenAI

    url, _ = served
    llm = ChatOpenAI(base_url=f"{url}/v1", api_key="unused", model="template:concise", max_retries=0)
    assert llm.invoke("Hello server").content == "You said: Hello server"
    assert "".join(c.text for c in llm.stream("streamed hello")) == "You said: streamed hello"


def test_the_app_itself_as_a_client(served) -> None:
    url, _ = served
    result = run_cli("ask", "--server", url, "Through the server?")
    assert result.code == 0, result.err
    assert result.out.strip() == "You said: Through the server?"
    data = json.loads(run_cli("ask", "--server", f"{url}/v1", "--json", "As JSON").out)
    assert data["answer"] == "You said: As JSON" and data["usage"]["completion_tokens"] == 4
    # the app's own OpenAI provider, pointed at it like at any compatible server
    other = run_cli("ask", "--model", "openai/template:concise", "--base-url", f"{url}/v1", "Via ChatOpenAI")
    assert other.code == 0 and other.out.strip() == "You said: Via ChatOpenAI"
    down = run_cli("ask", "--server", "http://127.0.0.1:9", "Anyone there?")
    assert down.code == 1 and "cannot reach" in down.err and "Traceback" not in down.err


def test_rag_answers_carry_their_sources(tmp_path, embeddings) -> None:
    from agent_app.retrieval import ingest

    notes = tmp_path / "notes.md"
    notes.write_text("# Office\n\nThe office plant is a ficus named Gerald.\n", encoding="utf-8")
    config = settings()
    ingest([notes], collection="notes", settings=config.retrieval, embeddings=embeddings)
    model = ScriptedChatModel(replies=["The plant is a ficus named Gerald [1]."], echo=False)
    with running_server(config, model) as url:
        assert "rag:notes" in [m.id for m in client(url).models.list()]
        body = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "rag:notes", "messages": [{"role": "user", "content": "What is the office plant?"}]},
            timeout=60,
        ).json()
    assert "Gerald" in body["choices"][0]["message"]["content"]
    assert body["sources"][0]["path"].endswith("notes.md") and "ficus" in body["sources"][0]["snippet"]


def test_agent_steps_stream_as_events(served) -> None:
    url, model = served
    model.replies = ["Thought: I multiply.\nAction: calculator\nAction Input: 6*7", "Final Answer: 6 times 7 is 42."]
    events = sse_events(url, {"model": "agent", "messages": [{"role": "user", "content": "What is 6*7?"}]})
    steps = [e["agent_step"] for e in events if e.get("agent_step")]
    assert steps[0] == {"type": "tool_call", "tool": "calculator", "input": "6*7"}
    assert steps[1]["type"] == "observation" and steps[1]["text"] == "42"
    text = "".join(c["delta"].get("content", "") for e in events for c in e.get("choices", []))
    assert text == "6 times 7 is 42."
    assert events[-1]["steps"][0]["tool"] == "calculator"


def test_a_tool_that_asks_for_approval_is_refused_in_the_server() -> None:
    config = settings(tools={"approval": {"calculator": "ask"}})
    model = ScriptedChatModel(
        replies=["Thought: I multiply.\nAction: calculator\nAction Input: 6*7", "Final Answer: I could not compute it."]
    )
    with running_server(config, model) as url:
        events = sse_events(url, {"model": "agent", "messages": [{"role": "user", "content": "What is 6*7?"}]})
    observation = next(e["agent_step"] for e in events if e.get("agent_step", {}).get("type") == "observation")
    assert "refused" in observation["text"] and "42" not in observation["text"]


def sse_events(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    events = []
    request = {**body, "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=request, headers=headers, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    return events


# -- errors: OpenAI-style bodies, one clear message each ------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"model": "nope", "messages": [{"role": "user", "content": "x"}]}), 404, "unknown model 'nope'"),
        (json.dumps({"model": "chat"}), 400, "messages"),
        (json.dumps({"model": "chat", "messages": []}), 400, "messages"),
        (json.dumps({"model": "chat", "messages": [{"role": "assistant", "content": "x"}]}), 400, "last message"),
        (
            json.dumps({"model": "chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**6}),
            400,
            "limit",
        ),
        (
            json.dumps({"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": 9}),
            400,
            "temperature",
        ),
    ],
)
def test_bad_requests_get_an_openai_error_body(served, body, status, words) -> None:
    url, _ = served
    response = httpx.post(f"{url}/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error["message"] and error["type"] == "invalid_request_error"
    assert "Traceback" not in response.text


def test_a_too_large_body_is_refused(tmp_path) -> None:
    config = settings()
    config.serve.max_request_bytes = 2048
    with running_server(config, ScriptedChatModel()) as url:
        big = {"model": "chat", "messages": [{"role": "user", "content": "x" * 5000}]}
        response = httpx.post(f"{url}/v1/chat/completions", json=big)
    assert response.status_code == 413 and "over 2048 bytes" in response.json()["error"]["message"]


def test_the_openai_client_sees_errors_as_its_own_exceptions(served) -> None:
    url, _ = served
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        client(url).chat.completions.create(model="template:nope", messages=[{"role": "user", "content": "x"}])


# -- keys -------------------------------------------------------------------------------------
def test_keys_are_required_when_configured(monkeypatch) -> None:
    monkeypatch.setenv("AGENT_APP_SERVE_KEYS", "k-one, k-two")
    config = load_settings(overrides={"model": "fake"})
    with running_server(config, ScriptedChatModel()) as url:
        with pytest.raises(openai.AuthenticationError, match="API key"):
            client(url, "wrong").models.list()
        with pytest.raises(openai.AuthenticationError):
            client(url, "k-one-and-more").chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "x"}]
            )
        assert next(m.id for m in client(url, "k-two").models.list()) == "chat"
        assert httpx.get(f"{url}/").status_code == 200  # the page itself; its requests carry the key
        assert "k-one" not in json.dumps(config.redacted())


def test_binding_beyond_loopback_needs_keys() -> None:
    result = run_cli("serve", "--model", "fake", "--host", "0.0.0.0", "--port", "0")
    assert result.code == 1
    assert "needs API keys" in result.err and "AGENT_APP_SERVE_KEYS" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


# -- one model, taking turns; a client that leaves stops its generation ---------------------------
def test_a_client_that_disconnects_stops_its_generation() -> None:
    model = gated_model("w1 w2 w3 w4 w5 w6 w7 w8 w9 w10")
    with running_server(settings(), model) as url:
        body = {"model": "chat", "messages": [{"role": "user", "content": "go"}], "stream": True}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            for line in response.iter_lines():
                if '"content": "w1 "' in line:
                    break  # leave after the first word
        for _ in range(600):  # until the server has noticed (a state, not a time)
            if httpx.get(f"{url}/health").json()["clients_gone"] == 1:
                break
            threading.Event().wait(0.05)
        model.gate.set()  # the generation could now run to its end, unless it was stopped
        for _ in range(600):
            if httpx.get(f"{url}/health").json()["in_line"] == 0:
                break
            threading.Event().wait(0.05)
    assert model.log[-1] == "end" and "w10" not in model.log
    assert len([w for w in model.log if w.startswith("w")]) <= 3


def test_requests_to_the_local_model_take_turns() -> None:
    model = gated_model("a b")
    with running_server(settings(), model) as url:
        first_body = {"model": "chat", "messages": [{"role": "user", "content": "first"}], "stream": True}
        results: dict[str, Any] = {}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=first_body) as first:
            results["first_ahead"] = first.headers["x-queue-ahead"]
            lines = first.iter_lines()
            next(line for line in lines if '"content": "a "' in line)  # the first is generating

            def second() -> None:
                reply = httpx.post(
                    f"{url}/v1/chat/completions",
                    json={"model": "chat", "messages": [{"role": "user", "content": "second"}]},
                    timeout=60,
                )
                results["second"] = reply

            waiting = threading.Thread(target=second)
            waiting.start()
            for _ in range(600):  # until the second request waits in line (a state, not a time)
                if httpx.get(f"{url}/health").json()["in_line"] == 2:
                    break
                model.gate.wait(0.05)
            model.gate.set()
            rest = "".join(lines)
            waiting.join(60)
    assert results["first_ahead"] == "0" and '"content": "b"' in rest
    assert results["second"].headers["x-queue-ahead"] == "1"
    assert results["second"].json()["choices"][0]["message"]["content"] == "a b"
    # the second generation began only after the first one ended
    assert model.log == ["start", "a", "b", "end", "start", "a", "b", "end"]


# -- conversations of the web page are saved like the terminal's ----------------------------------
def test_stored_conversations_continue_and_show_in_sessions() -> None:
    model = ScriptedChatModel()
    with ConversationStore() as store, running_server(settings(), model, store=store) as url:
        first = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "chat", "store": True, "messages": [{"role": "user", "content": "Remember kiwi."}]},
        )
        conversation = first.headers["x-conversation-id"]
        assert first.json()["conversation_id"] == conversation
        second = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "chat",
                "store": True,
                "metadata": {"conversation_id": conversation},
                "messages": [{"role": "user", "content": "What fruit?"}],
            },
        )
        assert second.status_code == 200
        assert [m.text for m in model.calls[-1][-3:]] == ["Remember kiwi.", "You said: Remember kiwi.", "What fruit?"]
        # the request's model decides how the next answer is made, not the stored conversation's
        third = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "template:concise",
                "store": True,
                "metadata": {"conversation_id": conversation},
                "messages": [{"role": "user", "content": "Shorter?"}],
            },
        )
        assert third.status_code == 200 and third.json()["choices"][0]["message"]["content"] == "You said: Shorter?"
        assert "one or two short sentences" in model.calls[-1][0].text  # concise's system prompt
        missing = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "chat",
                "store": True,
                "metadata": {"conversation_id": "zzzz"},
                "messages": [{"role": "user", "content": "x"}],
            },
        )
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "conversation_not_found"
    listed = run_cli("sessions")
    assert conversation[:8] in listed.out and "Remember kiwi" in listed.out
    shown = run_cli("sessions", "show", conversation[:8])
    assert "What fruit?" in shown.out
