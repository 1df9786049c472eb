"""`serve` with the real bundled model (q4 on ONNX Runtime): an answer streams through the API,
and a client that leaves stops the generation on the model's own loop."""

from __future__ import annotations

import json
import threading

import httpx
import openai

from agent_app.config import load_settings
from tests.support.serve_helpers import running_server


def test_the_bundled_model_answers_through_the_server(local_chat_model) -> None:
    settings = load_settings(environ={}, overrides={"model": "local"})
    with running_server(settings, local_chat_model, label="local") as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        stream = client.chat.completions.create(
            model="template:concise",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            stream=True,
            max_tokens=24,
            temperature=0,
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 24


def test_leaving_mid_answer_stops_the_bundled_model(local_chat_model) -> None:
    settings = load_settings(environ={}, overrides={"model": "local"})
    runtime = local_chat_model.runtime
    with running_server(settings, local_chat_model, label="local") as url:
        body = {
            "model": "chat",
            "messages": [{"role": "user", "content": "Write a long story about a dragon and a knight."}],
            "stream": True,
            "max_tokens": 400,
            "temperature": 0,
        }
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                    break  # leave at the first piece of text
        for _ in range(600):  # until the turn has ended (a state, not a time)
            if httpx.get(f"{url}/health").json()["in_line"] == 0:
                break
            threading.Event().wait(0.05)
    result = runtime.last_result
    assert result is not None and result.finish_reason == "cancelled"
    assert result.output_tokens < 400
