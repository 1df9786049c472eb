"""The LangChain retriever over a collection, for chains and the agent's knowledge_base tool."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from agent_app.retrieval.settings import RetrievalSettings


class HybridRetriever(BaseRetriever):
    """FAISS similarity plus BM25 keywords, fused by reciprocal rank (see Collection.search)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    collection: Any  # agent_app.retrieval.collection.Collection
    k: int = 4
    relevance_threshold: float | None = None
    fetch_k: int | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.collection.search(query, self.k, relevance_threshold=self.relevance_threshold, fetch_k=self.fetch_k)


def get_retriever(
    collection: str | None = None,
    settings: RetrievalSettings | None = None,
    *,
    k: int | None = None,
    relevance_threshold: float | None = None,
) -> HybridRetriever:
    """Open `collection` (default from settings) and return its retriever; k and threshold
    default to the settings. Cheap to call per question: the opened collection is reused until
    it is re-ingested. Raises CollectionNotFoundError / IndexCorruptError with a hint."""
    from agent_app.retrieval.collection import open_collection

    settings = settings or RetrievalSettings()
    coll = open_collection(collection, settings, cached=True)
    threshold = relevance_threshold if relevance_threshold is not None else settings.relevance_threshold
    return coll.retriever(k or settings.k, relevance_threshold=threshold)
