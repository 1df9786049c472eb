"""Retrieval: ingest the user's documents into named collections (FAISS files in the data
folder, or PostgreSQL with pgvector: `stores`) and search them with hybrid (vector + BM25)
retrieval, with citations.

Entry points (imported lazily, so `from agent_app.retrieval import RetrievalSettings` in the
config stays cheap):

- ingest(paths, collection=None, settings=None, progress=None, *, rebuild=False) -> IngestReport
- remove(paths, collection=None, settings=None) -> IngestReport
- open_collection(name=None, settings=None) -> Collection; Collection.retriever(k) / .search(q)
- get_retriever(collection=None, settings=None, *, k=None) -> HybridRetriever
- describe_collections() -> list[CollectionInfo]; drop_collection(name) -> bool
- format_context(docs) -> str; sources_from_documents(docs) -> list[Source]
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_app.retrieval.citations import Source, format_context, sources_from_documents
    from agent_app.retrieval.collection import Collection, CollectionInfo, HybridRetriever
    from agent_app.retrieval.ingestion import IngestProgress, IngestReport, ingest, remove
    from agent_app.retrieval.settings import RetrievalSettings
    from agent_app.retrieval.stores import describe_collections, drop_collection, get_retriever, open_collection

_EXPORTS = {
    "RetrievalSettings": "settings",
    "ingest": "ingestion",
    "remove": "ingestion",
    "IngestReport": "ingestion",
    "IngestProgress": "ingestion",
    "Collection": "collection",
    "CollectionInfo": "collection",
    "open_collection": "stores",
    "describe_collections": "stores",
    "drop_collection": "stores",
    "HybridRetriever": "collection",
    "get_retriever": "stores",
    "Source": "citations",
    "format_context": "citations",
    "sources_from_documents": "citations",
}

__all__ = [
    "Collection",
    "CollectionInfo",
    "HybridRetriever",
    "IngestProgress",
    "IngestReport",
    "RetrievalSettings",
    "Source",
    "describe_collections",
    "drop_collection",
    "format_context",
    "get_retriever",
    "ingest",
    "open_collection",
    "remove",
    "sources_from_documents",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
