"""The OpenAI-compatible HTTP API and the web page, on FastAPI (uvicorn runs it: see `run`).

One warm model serves every request. A local model answers one request at a time: the others
wait their turn (the `X-Queue-Ahead` response header says how many were before them) instead of
two generations sharing two cores. A client that disconnects stops its generation at the next
token. Every error is an OpenAI-style body (`{"error": {"message", "type", "param", "code"}}`)
with a clear message; tracebacks only reach the log, for bugs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from agent_app.agent.run import Observation, ToolCall
from agent_app.errors import AppError, ModelError
from agent_app.serve import catalog

if TYPE_CHECKING:
    from agent_app.config import Settings
    from agent_app.memory.store import ConversationStore
    from agent_app.models.handle import ModelHandle

QUEUE_HEADER = "X-Queue-Ahead"
CONVERSATION_HEADER = "X-Conversation-Id"


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of a chat completion request the server acts on; others (n=1, user, ...) are
    accepted and ignored, as OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0)
    store: bool = False
    """Save the conversation in the app's store (the web page does; `sessions` lists it)."""
    metadata: dict[str, str] | None = None
    """`conversation_id`: continue that saved conversation (its stored messages are the history)."""


class ApiError(Exception):
    """An error the client caused or must know about, sent as an OpenAI error body."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class Engine:
    """The warm model and what every request shares: the store, the queue, the limits."""

    def __init__(self, settings: Settings, models: ModelHandle, store: ConversationStore | None) -> None:
        from agent_app.templates import TemplateRegistry

        self.settings = settings
        self.models = models
        self.store = store
        self.templates = TemplateRegistry.from_settings(settings.templates)
        """One registry for every request: it keeps parsed templates until their file changes."""
        self.queued = not models.spec.provider.startswith("openai")
        """Whether requests take turns: a local (or scripted) model runs one generation at a
        time; a remote one takes concurrent requests."""
        self._turn = threading.Lock()
        self._count_lock = threading.Lock()
        self.in_line = 0
        """Requests running or waiting for the model."""
        self.clients_gone = 0
        """Turns stopped because their client disconnected (since start)."""

    def keys_ok(self, header: str | None) -> bool:
        keys = self.settings.serve.keys()
        if not keys:
            return True
        given = (header or "").removeprefix("Bearer ").strip().encode()
        # compare_digest against every key: the time taken does not tell which key nearly matched
        matches = [hmac.compare_digest(given, key.encode()) for key in keys]
        return any(matches)

    def ahead(self) -> int:
        """How many requests a new one waits for."""
        return self.in_line if self.queued else 0

    def join_line(self) -> None:
        """Count a turn in the line, until `leave_line`."""
        with self._count_lock:
            self.in_line += 1

    def leave_line(self) -> None:
        with self._count_lock:
            self.in_line -= 1

    @contextmanager
    def turn(self) -> Iterator[None]:
        if not self.queued:
            yield
            return
        with self._turn:
            yield


def create_app(settings: Settings, models: ModelHandle, store: ConversationStore | None = None) -> FastAPI:
    """The ASGI app: `/v1/models`, `/v1/chat/completions`, `/health` and the web page at `/`."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

    engine = Engine(settings, models, store)
    app = FastAPI(title="agent-app", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return JSONResponse(error_body(exc.message, exc.kind, exc.code), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(error_body(_first_problem(exc.errors()), "invalid_request_error"), status_code=400)

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            error_body(f"no such endpoint: {request.method} {request.url.path}", "invalid_request_error", "not_found"),
            status_code=404,
        )

    @app.exception_handler(405)
    async def _bad_method(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            error_body(f"{request.method} is not allowed on {request.url.path}", "invalid_request_error"),
            status_code=405,
        )

    def authorize(request: Request) -> None:
        if not engine.keys_ok(request.headers.get("authorization")):
            raise ApiError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer KEY' with a key from serve.api_keys",
                code="invalid_api_key",
            )

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return resources.files("agent_app.serve").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": models.label,
            "loaded": models.ready,
            "in_line": engine.in_line,
            "clients_gone": engine.clients_gone,
        }

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        authorize(request)
        created = int(time.time())
        return {
            "object": "list",
            "data": [
                {
                    "id": w.id,
                    "object": "model",
                    "created": created,
                    "owned_by": "agent-app",
                    "description": w.description,
                }
                for w in catalog.ways(settings)
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        authorize(request)
        chat = await read_request(request, settings.serve.max_request_bytes)
        turn = prepare(engine, chat)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        headers = {QUEUE_HEADER: str(engine.ahead())}
        if chat.stream:
            return StreamingResponse(
                sse(engine, turn, chat, completion_id, request),
                media_type="text/event-stream",
                headers={**headers, "Cache-Control": "no-cache"},
            )
        body = await whole_reply(engine, turn, chat, completion_id, request)
        if turn.conversation_id:
            headers[CONVERSATION_HEADER] = turn.conversation_id
        return JSONResponse(body, headers=headers)

    return app


def _first_problem(errors: Any) -> str:
    """One line for a validation failure: where, and what is wrong."""
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))


async def read_request(request: Request, limit: int) -> ChatRequest:
    """The body as a ChatRequest: too large, not JSON or not a chat request each get their own
    message."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body over {limit} bytes: send a shorter conversation", code="too_large")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise ApiError(413, f"request body over {limit} bytes: send a shorter conversation", code="too_large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, _first_problem(exc.errors())) from None


class TurnCancelled(Exception):
    """The client went away: raised inside the model's own loop by `StopWhenCancelled`."""


def stop_when_cancelled(cancel: threading.Event) -> Any:
    """A callback handler that ends the turn at its next token, model call or tool call once
    `cancel` is set. (Closing LangChain's stream generator does not stop the model's own loop:
    a chain drains it. Raising from a callback does, on every backend.)"""
    from langchain_core.callbacks import BaseCallbackHandler

    class StopWhenCancelled(BaseCallbackHandler):
        raise_error = True

        def _check(self, *args: Any, **kwargs: Any) -> None:
            if cancel.is_set():
                raise TurnCancelled()

        on_llm_new_token = on_chat_model_start = on_llm_start = on_tool_start = _check

    return StopWhenCancelled()


class Turn:
    """One request's work: the session that answers it, and what it produced."""

    def __init__(self, session: Any, question: str) -> None:
        self.session = session
        self.question = question
        self.conversation_id: str | None = None
        self.cancel = threading.Event()
        session.extra_callbacks.append(stop_when_cancelled(self.cancel))


def prepare(engine: Engine, chat: ChatRequest) -> Turn:
    """Check the request against the catalogue and limits, and build its session."""
    from langchain_core.messages import AIMessage, HumanMessage

    from agent_app.models.params import GenerationParams

    settings = engine.settings
    try:
        way = catalog.find_way(settings, chat.model, engine.templates)
    except catalog.UnknownModelError as exc:
        raise ApiError(404, str(exc), code="model_not_found") from None
    last = chat.messages[-1]
    if last.role != "user" or not last.text.strip():
        raise ApiError(400, "the last message must be the user's, with text: it is the question")
    max_tokens = chat.max_completion_tokens or chat.max_tokens
    if max_tokens is not None and max_tokens > settings.serve.max_tokens:
        raise ApiError(400, f"max_tokens {max_tokens} is over this server's limit of {settings.serve.max_tokens}")
    try:
        params = GenerationParams(
            temperature=chat.temperature, top_p=chat.top_p, max_tokens=max_tokens, stop=chat.stop, seed=chat.seed
        )
    except ValidationError as exc:
        raise ApiError(400, _first_problem(exc.errors())) from None
    system = "\n\n".join(m.text for m in chat.messages[:-1] if m.role in ("system", "developer")) or None
    history = [
        HumanMessage(m.text) if m.role == "user" else AIMessage(m.text)
        for m in chat.messages[:-1]
        if m.role in ("user", "assistant") and m.text
    ]
    store = engine.store if chat.store else None
    session = catalog.session_for(
        settings, way, engine.models, params, system=system, history=history, store=store, templates=engine.templates
    )
    turn = Turn(session, last.text)
    conversation = (chat.metadata or {}).get("conversation_id")
    if conversation and store is not None:
        try:
            turn.conversation_id = session.resume(conversation, adopt_choices=False).id
        except AppError as exc:
            raise ApiError(404, str(exc), code="conversation_not_found") from None
    return turn


def produce(engine: Engine, turn: Turn, put: Callable[[tuple[str, Any]], None]) -> None:
    """Run the turn (worker thread): each piece goes to `put`; then ("end", TurnResult) or
    ("error", exception). Stops at the next piece once `turn.cancel` is set."""
    session = turn.session
    try:
        with engine.turn():
            if turn.cancel.is_set():  # gone while waiting in line
                put(("end", None))
                return
            pieces = session.stream_reply(turn.question)
            try:
                for piece in pieces:
                    put(("piece", piece))
                    if turn.cancel.is_set():
                        break
            finally:
                pieces.close()  # a cancelled generation stops here (and keeps its partial answer)
            if session.log.conversation is not None:
                turn.conversation_id = session.log.conversation.id
            put(("end", session.last_turn))
    except TurnCancelled:
        put(("end", session.last_turn))  # nobody is listening; the partial answer is kept
    except Exception as exc:  # reported to the client (`_failure` logs what is a bug)
        if isinstance(exc.__cause__, TurnCancelled) or isinstance(exc.__context__, TurnCancelled):
            put(("end", session.last_turn))
        else:
            put(("error", exc))
    finally:
        session.close()
        engine.leave_line()


async def pieces_of(engine: Engine, turn: Turn, request: Request) -> AsyncIterator[tuple[str, Any]]:
    """The turn's pieces as they come, from a worker thread; a client that goes away cancels it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    worker = threading.Thread(
        target=produce,
        args=(engine, turn, lambda item: loop.call_soon_threadsafe(queue.put_nowait, item)),
        name="serve-turn",
        daemon=True,
    )
    engine.join_line()  # `produce` leaves it
    worker.start()
    watcher = asyncio.create_task(_watch_disconnect(engine, request, turn))
    try:
        while True:
            kind, value = await queue.get()
            yield kind, value
            if kind in ("end", "error"):
                return
    finally:
        turn.cancel.set()  # normal end: a no-op; a disconnect or an error: stop generating
        watcher.cancel()


async def _watch_disconnect(engine: Engine, request: Request, turn: Turn) -> None:
    """Set `turn.cancel` when the client disconnects (a non-streaming client has no stream to
    break: this notices it)."""
    while not turn.cancel.is_set():
        message = await request.receive()
        if message["type"] == "http.disconnect":
            if not turn.cancel.is_set():
                engine.clients_gone += 1
            turn.cancel.set()
            return


def _failure(exc: BaseException) -> ApiError:
    """The client's view of a failed turn: the app's own message; a traceback only in the log."""
    if isinstance(exc, ModelError):  # the model could not answer (not loaded, upstream down)
        return ApiError(502, str(exc), kind="api_error", code="model_error")
    if isinstance(exc, AppError):
        return ApiError(400, str(exc))
    import logging

    logging.getLogger("agent_app.serve").error("a request failed", exc_info=exc)
    return ApiError(500, f"internal error ({type(exc).__name__}): see the server's log", kind="server_error")


def _usage(result: Any) -> dict[str, int]:
    n_in = getattr(result, "input_tokens", 0) or 0
    n_out = getattr(result, "output_tokens", 0) or 0
    return {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}


def _finish(result: Any) -> str:
    return "length" if getattr(result, "finish_reason", None) == "length" else "stop"


def _extras(result: Any, turn: Turn) -> dict[str, Any]:
    """What the app adds to an OpenAI reply: sources of a RAG answer, the agent's steps, the
    saved conversation's id (clients that do not know these fields ignore them)."""
    extras: dict[str, Any] = {}
    if result is not None and result.sources:
        extras["sources"] = [s.model_dump(exclude_none=True) for s in result.sources]
    if result is not None and result.steps:
        extras["steps"] = [s.as_dict() for s in result.steps]
    if turn.conversation_id:
        extras["conversation_id"] = turn.conversation_id
    return extras


def _step(piece: ToolCall | Observation) -> dict[str, Any]:
    if isinstance(piece, ToolCall):
        return {"type": "tool_call", "tool": piece.tool, "input": piece.input}
    return {"type": "observation", "tool": piece.tool, "text": piece.text, "error": piece.error}


async def whole_reply(engine: Engine, turn: Turn, chat: ChatRequest, completion_id: str, request: Request) -> dict:
    parts: list[str] = []
    result = None
    async for kind, value in pieces_of(engine, turn, request):
        if kind == "piece" and isinstance(value, str):
            parts.append(value)
        elif kind == "error":
            raise _failure(value)
        elif kind == "end":
            result = value
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(parts)},
                "finish_reason": _finish(result),
            }
        ],
        "usage": _usage(result),
        **_extras(result, turn),
    }


async def sse(
    engine: Engine, turn: Turn, chat: ChatRequest, completion_id: str, request: Request
) -> AsyncIterator[str]:
    """The reply as server-sent events, OpenAI's chunk format; the last chunk carries usage."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": chat.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    async for kind, value in pieces_of(engine, turn, request):
        if kind == "piece":
            if isinstance(value, str):
                yield chunk({"content": value})
            else:  # an agent step
                yield chunk({}, agent_step=_step(value))
        elif kind == "error":
            error = _failure(value)
            yield f"data: {json.dumps(error_body(error.message, error.kind, error.code))}\n\n"
            break
        elif kind == "end":
            extras = _extras(value, turn)
            yield chunk({}, _finish(value), usage=_usage(value), **extras)
            if chat.stream_options and chat.stream_options.include_usage:
                body = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": chat.model,
                    "choices": [],
                    "usage": _usage(value),
                }
                yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


def check_binding(settings: Settings, host: str) -> None:
    """Binding beyond loopback needs API keys: an open port on a network with no key would let
    anyone there use the model, the tools and the documents."""
    from agent_app.errors import ConfigError
    from agent_app.serve.settings import LOOPBACK_HOSTS

    if host not in LOOPBACK_HOSTS and not settings.serve.keys():
        raise ConfigError(
            f"serving on {host} needs API keys: anyone who can reach it could use your model, tools and documents",
            hint="set serve.api_keys in config.yaml or AGENT_APP_SERVE_KEYS=KEY1,KEY2, or bind to 127.0.0.1",
        )


def run(settings: Settings, models: ModelHandle, *, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until interrupted (Ctrl-C)."""
    import uvicorn

    from agent_app.memory import open_store

    check_binding(settings, host)
    with open_store(settings.memory.store) as store:
        app = create_app(settings, models, store)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        server = uvicorn.Server(config)

        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets)
            for bound in server.servers:
                for sock in bound.sockets:
                    address = sock.getsockname()
                    shown = f"[{address[0]}]" if ":" in address[0] else address[0]
                    on_ready(f"http://{shown}:{address[1]}")

        server.startup = startup  # type: ignore[method-assign]  # to say where it listens once bound
        server.run()
