"""`ask --server URL`: one question to a running server (`serve`, or any OpenAI-compatible one).

Only the standard library's HTTP client is used: a script that asks through a warm server pays
neither the model's load nor LangChain's import (nor httpx's: measured 0.3 s of a 0.85 s `ask`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from agent_app.errors import AppError, ConfigError

TIMEOUT_S = 300.0
"""How long the server may stay silent: a request queued behind others on one local model
waits its turn before its first token."""


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
    timeout_s: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Stream the answer to `question` from `server`; returns the last chunk's extras (usage,
    sources, finish_reason) with the whole `answer`."""
    import urllib.error
    import urllib.request

    url = chat_url(server)
    key = os.environ.get("OPENAI_API_KEY")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    body = json.dumps({"model": model, "messages": messages, "stream": True, **params}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    parts: list[str] = []
    last: dict[str, Any] = {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=timeout_s) as response:
            lines = (raw.decode("utf-8", "replace").rstrip("\r\n") for raw in response)
            for data in _events(lines):
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
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        raise ServerError(f"{url} answered {exc.code}: {_message(text)}") from None
    except TimeoutError:
        raise ServerError(f"{url} did not answer within {timeout_s:g} s", hint="is the server busy?") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerError(
            f"cannot reach {url}: {reason}", hint="start one with `python main.py serve`, or check the URL"
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
