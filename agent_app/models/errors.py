"""Turn exceptions from model providers into the app's one-line `AppError`s.

Kept apart from the providers so the chat loop and `ask` can explain any failure the same way
without importing openai or httpx unless such an error actually happened.
"""

from __future__ import annotations

import sys

from agent_app.errors import AppError, ProviderError

NOT_OPENAI_HINT = "is this URL an OpenAI-compatible API (ending in /v1)?"


def explain(
    exc: BaseException,
    *,
    base_url: str | None = None,
    mid_answer: bool = False,
    timeout_s: float | None = None,
    retries: int = 0,
) -> AppError | None:
    """An `AppError` describing `exc` for the user, or None when it is not a known failure.

    `mid_answer`: part of the answer had already arrived, so a broken connection is a server
    that went away, not one that cannot be reached. `timeout_s` and `retries` (the
    request_timeout and max_retries in force) let a time-out say how long was waited.
    """
    if isinstance(exc, AppError):
        return exc
    from agent_app.monitoring.redact import redact_message

    where = redact_message(base_url) if base_url else "the OpenAI API"
    openai = sys.modules.get("openai")
    if openai is not None:
        if isinstance(exc, openai.AuthenticationError):
            return ProviderError(
                f"{where} rejected the API key (401)", hint="check OPENAI_API_KEY, or use --model local"
            )
        if isinstance(exc, openai.PermissionDeniedError):
            return ProviderError(
                f"{where} denied access to this model (403)",
                hint="check your account's model access, or use --model local",
            )
        if isinstance(exc, openai.RateLimitError):
            if _code(exc) == "insufficient_quota":
                return ProviderError(
                    "the OpenAI account has run out of credit (insufficient_quota)",
                    hint="add credit in your OpenAI billing settings, or use --model local",
                )
            return ProviderError(f"rate-limited by {where} (429)", hint="wait a moment and ask again")
        if isinstance(exc, openai.NotFoundError):
            return ProviderError(
                f"{where} does not know this model (404)",
                hint="check the name after openai/, e.g. --model openai/gpt-4o-mini",
            )
        if isinstance(exc, openai.BadRequestError):
            if _code(exc) == "context_length_exceeded" or "context" in str(exc).lower():
                return ProviderError(
                    "the conversation is longer than the model's context window", hint="use /clear or a shorter input"
                )
            return ProviderError(f"{where} refused the request: {_first_line(exc)}")
        if isinstance(exc, openai.APITimeoutError):
            waited = ""
            if timeout_s is not None:
                tries = f", {retries + 1} tries" if retries else ""
                waited = f" (waited {timeout_s * (retries + 1):g} s: {timeout_s:g} s a try{tries})"
            return ProviderError(
                f"{where} did not answer in time{waited}",
                hint="is the server busy? raise request_timeout in the config, or set AGENT_APP_REQUEST_TIMEOUT=120",
            )
        if isinstance(exc, openai.APIConnectionError):
            if _is_protocol_error(exc) and not mid_answer:
                return ProviderError(f"{where} answered with something that is not HTTP", hint=NOT_OPENAI_HINT)
            if mid_answer:
                return _lost(where)
            return ProviderError(f"cannot reach {where}", hint="is the server running and the URL right?")
        if isinstance(exc, openai.APIResponseValidationError):
            return ProviderError(f"{where} answered in a form that is not the OpenAI API", hint=NOT_OPENAI_HINT)
        if isinstance(exc, openai.APIStatusError):
            return ProviderError(f"{where} failed with HTTP {exc.status_code}: {_first_line(exc)}")
    import json

    if isinstance(exc, json.JSONDecodeError):  # a 200 answer whose body is not JSON
        return ProviderError(f"{where} answered with text that is not JSON", hint=NOT_OPENAI_HINT)
    if isinstance(exc, ValueError) and "No generation chunks" in str(exc) and "openai" in sys.modules:
        # langchain_core's words for a stream that ended without a single chunk, e.g. an HTML
        # page served with status 200.
        return ProviderError(f"{where} sent no answer (its reply was not an OpenAI-style stream)", hint=NOT_OPENAI_HINT)
    if _in_chain(exc, "TransportError", "ProtocolError", "ReadError", "NetworkError"):
        # The stream broke after it started: the server died or the network dropped mid-answer.
        return _lost(where)
    return None


def _lost(where: str) -> ProviderError:
    return ProviderError(
        f"lost the connection to {where} mid-answer", hint="the partial answer was kept; check the server and ask again"
    )


def _is_protocol_error(exc: BaseException) -> bool:
    """True when the connection worked but the answer was not valid HTTP."""
    return _in_chain(exc, "ProtocolError", "DecodingError")


def _in_chain(exc: BaseException, *class_words: str) -> bool:
    """True when `exc` or an exception it was raised from has a class name containing a word.

    By name, because the openai SDK ships its own copy of httpx (`httpx2`), whose exception
    classes are not httpx's.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = [cls.__name__ for cls in type(current).__mro__]
        if any(word in name for word in class_words for name in names):
            return True
        current = current.__cause__ or current.__context__
    return False


def _code(exc: BaseException) -> str | None:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return body.get("code") or (body.get("error") or {}).get("code")
    return getattr(exc, "code", None)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
