"""`ask --server URL`: one question to a running server (`serve`, or any OpenAI-compatible one).

Only httpx is imported: a script that asks through a warm server pays neither the model's load
nor LangChain's import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from agent_app.errors import AppError, ConfigError


class ServerError(AppError):
    """The server refused the request or could not be reached."""


def chat_url(server: str) -> str:
    """`http://host:port`, `.../v1` or `.../v1/chat/completions`: the completions endpoint."""
    url = server.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--server {server!r} is not an http(s) URL", hint="e.g. --server http://127.0.0.1:8000")
    if url.endswith("/chat/completions"):
        return url
    return f"{url}/chat/completions" if url.endswith("/v1") else f"{url}/v1/chat/completions"


def ask(
    server: str,
    question: str,
    *,
    system: str | None = None,
    model: str,
    params: dict[str, Any],
    on_text: Callable[[str], None],
    on_step: Callable[[dict[str, Any]], None],
    timeout_s: float,
) -> dict[str, Any]:
    """Stream the answer to `question` from `server`; returns the last chunk's extras (usage,
    sources, finish_reason) with the whole `answer`."""
    import httpx

    url = chat_url(server)
    key = os.environ.get("OPENAI_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    body = {"model": model, "messages": messages, "stream": True, **params}
    parts: list[str] = []
    last: dict[str, Any] = {}
    try:
        with httpx.stream("POST", url, json=body, headers=headers, timeout=timeout_s) as response:
            if response.status_code != 200:
                response.read()
                raise ServerError(f"{url} answered {response.status_code}: {_message(response.text)}")
            for data in _events(response.iter_lines()):
                if "error" in data:
                    raise ServerError(f"{url}: {_message(json.dumps(data))}")
                if data.get("agent_step"):
                    on_step(data["agent_step"])
                for choice in data.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        on_text(text)
                    if choice.get("finish_reason"):
                        last = {**data, "finish_reason": choice["finish_reason"]}
                if data.get("usage") and not data.get("choices"):
                    last["usage"] = data["usage"]
    except httpx.TimeoutException:
        raise ServerError(f"{url} did not answer within {timeout_s:g} s", hint="is the server busy?") from None
    except httpx.HTTPError as exc:
        raise ServerError(
            f"cannot reach {url}: {exc}", hint="start one with `python main.py serve`, or check the URL"
        ) from None
    return {
        "answer": "".join(parts),
        "model": model,
        **{k: last[k] for k in ("usage", "sources", "steps", "finish_reason") if k in last},
    }


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            data = json.loads(payload)
        except ValueError:
            raise ServerError(f"the server sent an event that is not JSON: {payload[:80]!r}") from None
        if isinstance(data, dict):
            yield data


def _message(text: str) -> str:
    """The error message of an OpenAI-style error body, or the start of whatever it was."""
    try:
        data = json.loads(text)
        return str(data["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return " ".join(text.split())[:200] or "(no body)"
