"""A real `serve` (uvicorn on a free loopback port, in a thread) around a given model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from agent_app.config import Settings
from agent_app.memory.store import ConversationStore
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.handle import ModelHandle


@contextmanager
def running_server(
    settings: Settings, model: Any, *, store: ConversationStore | None = None, label: str = "fake"
) -> Iterator[str]:
    """Serve `model` (a chat model or a ModelHandle) with the app's API; yields the base URL
    (`http://127.0.0.1:PORT`); stops the server after."""
    import uvicorn

    from agent_app.serve.api import create_app

    models = model if isinstance(model, ModelHandle) else ModelHandle.given(model, label)
    app = create_app(settings, models, store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    started = threading.Event()
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("the test server did not start within 30 s")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class GatedModel(ScriptedChatModel):
    """Streams its reply word by word, each word after the first only once `gate` is set; notes
    what happened in `log`."""

    gate: Any = None
    log: Any = None

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        reply = self._next_reply(messages, stop, kwargs)
        words = reply.text.split(" ")
        self.log.append("start")
        try:
            for i, word in enumerate(words):
                if i:
                    assert self.gate.wait(30), "gate never opened"
                self.log.append(word)
                yield ChatGenerationChunk(message=AIMessageChunk(content=word + (" " if i < len(words) - 1 else "")))
        finally:
            self.log.append("end")


def gated_model(text: str) -> GatedModel:
    return GatedModel(replies=[text] * 3, gate=threading.Event(), log=[])
