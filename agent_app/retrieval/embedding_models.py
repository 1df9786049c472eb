"""Choosing the embedding model from the `embeddings` setting, and naming it.

The name is stored with each collection: vectors from different models are not comparable,
so a collection is always searched with the model that built it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_app.embeddings import BUNDLED_EMBEDDING_MODEL
from agent_app.retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings


def embedding_model_name(spec: str) -> str:
    """The name recorded in a collection: 'bundled:all-MiniLM-L6-v2' or 'openai:<model>'."""
    return f"bundled:{BUNDLED_EMBEDDING_MODEL}" if spec == "bundled" else spec


def load_embeddings(name: str) -> Embeddings:
    """The embedding model for a setting ('bundled', 'openai:<model>') or a recorded name."""
    from agent_app import embeddings

    if name in ("bundled", f"bundled:{BUNDLED_EMBEDDING_MODEL}"):
        return embeddings.bundled_embeddings()
    if name.startswith("openai:"):
        try:
            return embeddings.openai_embeddings(name.split(":", 1)[1])
        except Exception as exc:  # typically a missing key; the client's message says which
            raise RetrievalError(
                f"cannot use OpenAI embeddings ({exc})",
                hint="set OPENAI_API_KEY, or use retrieval.embeddings: bundled in a new collection",
            ) from exc
    raise RetrievalError(
        f"unknown embedding model {name!r}",
        hint="use 'bundled' or 'openai:<model>' in the retrieval.embeddings setting",
    )


def lazy_embeddings(name: str) -> Embeddings:
    """The embedding model `name`, loaded on first use (see `agent_app.embeddings.LazyEmbeddings`)."""
    from agent_app.embeddings import LazyEmbeddings

    return LazyEmbeddings(lambda: load_embeddings(name), name)  # type: ignore[return-value]
