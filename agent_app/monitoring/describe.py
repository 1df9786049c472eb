"""One-line, human-readable descriptions of events, shared by the live notes and the log viewer."""

from __future__ import annotations

from typing import Any, Literal

Level = Literal["off", "info", "debug"]
LEVELS: tuple[Level, ...] = ("off", "info", "debug")

_SNIPPET_CHARS = 60


def describe(event: dict[str, Any], level: Level = "debug") -> str | None:
    """The event as one line, or None when the level does not show it.

    "info" shows model calls, tools, retrievals and errors; "debug" adds chains and app events.
    """
    if level == "off":
        return None
    kind, phase, name = event.get("kind"), event.get("phase"), event.get("name", "?")
    duration = _duration(event.get("duration_ms"))
    if phase == "cancelled":
        if kind == "chain" and level != "debug" and event.get("depth", 0) > 0:
            return None  # said once, by the outermost run
        what = {"chat_model": "model", "llm": "model"}.get(str(kind), f"{kind} {name}")
        return f"{what} cancelled after {duration}"
    if phase == "error":
        err = event.get("error") or {}
        if kind == "chain" and level != "debug" and event.get("depth", 0) > 0:
            return None  # the same error climbs through every enclosing chain
        what = {"chat_model": "model", "llm": "model"}.get(str(kind), f"{kind} {name}")
        return f"{what} failed after {duration}: {err.get('type', 'Error')}: {err.get('message', '')}"
    if kind in ("chat_model", "llm"):
        return _describe_model(event, phase, duration)
    if kind == "tool":
        if phase == "start":
            return f"tool {name} ← {_snippet(event.get('input'))}"
        return f"tool {name} → {_snippet(event.get('output'))} ({duration})"
    if kind == "retriever":
        if phase == "start":
            return f"retrieving {_snippet(event.get('query'))}" if level == "debug" else None
        return f"retrieved {event.get('n_docs', 0)} docs in {duration}"
    if level != "debug":
        return None
    if kind == "chain":
        return f"{name} started" if phase == "start" else f"{name} done in {duration}"
    fields = ", ".join(f"{k}={_snippet(v)}" for k, v in event.items() if k not in ("ts", "event", "kind", "depth"))
    return f"{event.get('event')}" + (f": {fields}" if fields else "")


def _describe_model(event: dict[str, Any], phase: str | None, duration: str) -> str:
    model = model_label(event)
    if phase == "start":
        n = len(event["messages"]) if isinstance(event.get("messages"), list) else None
        return f"model started ({model})" + (f", {n} messages" if n else "")
    usage = event.get("usage") or {}
    out = usage.get("output_tokens")
    approx = ""
    if out is None and event.get("chunks"):
        out, approx = event["chunks"], "~"  # no usage reported: streamed chunks are about tokens
    parts = [f"model done: {approx}{out} tokens" if out is not None else "model done", duration]
    seconds = (event.get("duration_ms") or 0) / 1000
    if out and seconds > 0:
        parts.append(f"{out / seconds:.0f} tok/s")
    if event.get("ttft_ms") is not None:
        parts.append(f"first token {_duration(event['ttft_ms'])}")
    return ", ".join(parts)


def model_label(event: dict[str, Any]) -> str:
    model, provider = event.get("model"), event.get("provider")
    if model and provider and not str(model).startswith(f"{provider}/"):
        return f"{provider}/{model}"
    return str(model or provider or event.get("name", "?"))


def _duration(ms: float | None) -> str:
    if ms is None:
        return "?"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _snippet(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    text = " ".join(text.split())
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 1] + "…"
    return repr(text)
