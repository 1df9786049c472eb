"""`--model llamacpp[/PATH.gguf]`: any GGUF file served by llama.cpp inside this process.

llama.cpp reads the quantised GGUF as it is (no fp32 conversion, no torch) and decodes several
times faster than the transformers path on a CPU. xllamacpp ships it prebuilt (AVX2, no
compiler): `xllamacpp.Server` starts llama.cpp's own OpenAI-compatible HTTP server on threads
of this process. The app reaches it like any compatible server (`OpenAIChatModel` with a
loopback `base_url`), so streaming, usage counts, errors and the agent work as they do on a
remote server. One server per (file, threads, context, template) for the life of the process:
started on first use, stopped at exit.

Tool calls: llama.cpp returns real `tool_calls` when the chat template describes tools (it reads
the call format back from the template). The bundled GGUF's own ChatML template does not, so it
is served with `chat_templates/chatml_tools.jinja`, the same prompt plus tools; any other GGUF
keeps its own template unless the `chat_template` setting names a file.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_app.errors import ModelNotFoundError, ProviderError

DEFAULT_CONTEXT = 8192
"""Context when the settings give none: room for RAG prompts and history, about 200 MB of KV
cache on the bundled model; a bigger model's own limit is used when it is smaller."""
READY_TIMEOUT_S = 120.0
MAX_TOKENS = 2048
"""Answer length when a request sets none (llama.cpp's own default is: until the context is full)."""
BUNDLED_CHAT_TEMPLATE = Path(__file__).parent / "chat_templates" / "chatml_tools.jinja"


@dataclass
class LlamaCppServer:
    """A running llama.cpp server for one GGUF file."""

    path: Path
    alias: str
    port: int
    threads: int
    context: int
    chat_template: Path | None = None
    _server: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        """Stop serving (llama.cpp stops when the server object is released)."""
        self._server = None


_servers: dict[tuple[str, int, int, str], LlamaCppServer] = {}
_lock = threading.Lock()


def gguf_path(name: str) -> Path:
    """The GGUF file `name` chooses: "" means the bundled model's file."""
    if not name:
        from agent_app.models.weights import bundled_gguf_path

        return bundled_gguf_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"GGUF file not found: {name}", hint="give the path of a .gguf file, e.g. --model llamacpp/~/models/x.gguf"
        )
    if path.suffix.lower() != ".gguf":
        raise ModelNotFoundError(f"not a GGUF file: {name}", hint="llamacpp/ takes a .gguf file")
    return path.resolve()


def default_threads() -> int:
    """All cores but never more than 4 (llama.cpp decoding stops scaling at the memory bus)."""
    return max(1, min(4, os.cpu_count() or 1))


def chat_template_path(name: str, chat_template: str | None) -> Path | None:
    """The template file GGUF `name` is served with: the setting's, the bundled tools template
    for the bundled GGUF, else None (the GGUF's own)."""
    if chat_template:
        path = Path(chat_template).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(
                f"chat template file not found: {chat_template}", hint="give the path of a Jinja chat template file"
            )
        return path.resolve()
    return None if name else BUNDLED_CHAT_TEMPLATE


def get_server(
    name: str, *, threads: int | None = None, context: int | None = None, chat_template: str | None = None
) -> LlamaCppServer:
    """The server for GGUF `name` ("" = bundled), started on first use and reused after."""
    path = gguf_path(name)
    template = chat_template_path(name, chat_template)
    threads = threads or default_threads()
    context = context or DEFAULT_CONTEXT
    key = (str(path), threads, context, str(template or ""))
    with _lock:
        server = _servers.get(key)
        if server is None:
            server = _start(path, threads=threads, context=context, chat_template=template)
            _servers[key] = server
        return server


def stop_all() -> None:
    """Stop every server this process started (also run at exit)."""
    with _lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()


atexit.register(stop_all)


def _start(path: Path, *, threads: int, context: int, chat_template: Path | None) -> LlamaCppServer:
    try:
        import xllamacpp
    except ImportError:
        raise ProviderError(
            "llama.cpp (the xllamacpp package) is not installed", hint="run `make install` or `pip install xllamacpp`"
        ) from None
    port = free_port()
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = context
    params.model_alias = path.stem
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1  # llama.cpp logs every slot and timing to stderr, into the chat
    params.n_predict = MAX_TOKENS  # a looping answer ends; a request's max_tokens wins
    if chat_template is not None:
        params.chat_template = chat_template.read_text(encoding="utf-8")
    try:
        handle = xllamacpp.Server(params)
    except Exception as exc:  # llama.cpp reports a bad file as a generic runtime error
        raise ProviderError(f"llama.cpp could not load {path.name}: {exc}") from None
    server = LlamaCppServer(path, path.stem, port, threads, context, chat_template, handle)
    _wait_until_ready(server)
    return server


def _wait_until_ready(server: LlamaCppServer) -> None:
    """Wait for GET /health to answer 200 (the model is loaded); llama.cpp answers 503 before."""
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    url = server.base_url.removesuffix("/v1") + "/health"
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a server that is loading, not timing a test
    server.stop()
    raise ProviderError(f"llama.cpp did not get ready within {READY_TIMEOUT_S:.0f} s serving {server.path.name}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
