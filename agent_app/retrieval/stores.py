"""Where a collection lives, chosen per collection by the settings: the data folder (FAISS files,
`collection` + `storage`; the default) or PostgreSQL with pgvector (`pg_store`). Everything
that opens, creates, locks, lists or drops a collection goes through here, so both stores
behave alike to ingest, search, the chat's `/kb` and the agent's knowledge base.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agent_app.retrieval import collection as folder
from agent_app.retrieval import storage
from agent_app.retrieval.settings import RetrievalSettings

if TYPE_CHECKING:
    from agent_app.retrieval.collection import Collection, CollectionInfo, HybridRetriever


def open_collection(
    name: str | None = None, settings: RetrievalSettings | None = None, *, cached: bool = False
) -> Collection:
    """Open a saved collection; see `collection.open_collection` (the same errors, and for
    PostgreSQL `agent_app.postgres.PostgresUnavailableError` when the server cannot be used)."""
    settings = settings or RetrievalSettings()
    name = name or settings.default_collection
    url = settings.store_for(name)
    if not url:
        return folder.open_collection(name, settings, cached=cached)
    from agent_app.retrieval import pg_store

    if not cached:
        return pg_store.open_collection(url, name)
    hit = _pg_cache.get((url, name))
    if hit is not None and hit.current_version() == hit.version:
        return hit
    coll = _pg_cache[(url, name)] = pg_store.open_collection(url, name)
    return coll


_pg_cache: dict[tuple[str, str], Any] = {}
"""(URL, name) -> the PgCollection opened for searching, reused while its version is unchanged."""


def new_collection(name: str, embedding_model: str, settings: RetrievalSettings) -> Collection:
    """An empty, unsaved collection in the store the settings name for it."""
    url = settings.store_for(name)
    if not url:
        return folder.new_collection(name, embedding_model, settings)
    from agent_app.retrieval import pg_store
    from agent_app.retrieval.storage import Manifest

    storage.check_collection_name(name)
    manifest = Manifest(
        name=name, embedding_model=embedding_model, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap
    )
    return pg_store.new_collection(url, name, manifest)


def check_writable(name: str, settings: RetrievalSettings) -> None:
    """Fail now, before minutes of reading and embedding, if the collection cannot be saved."""
    url = settings.store_for(name)
    if not url:
        storage.check_writable(storage.collection_dir(name))
        return
    from agent_app.retrieval import pg_store

    pg_store.connect(url).close()


@contextmanager
def writer_lock(name: str, settings: RetrievalSettings, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """One writer per collection at a time (see `storage.writer_lock`, `pg_store.writer_lock`)."""
    url = settings.store_for(name)
    if not url:
        with storage.writer_lock(name, on_wait):
            yield
        return
    from agent_app.retrieval import pg_store

    with pg_store.writer_lock(url, name, on_wait):
        yield


def drop_collection(
    name: str, settings: RetrievalSettings | None = None, on_wait: Callable[[], None] | None = None
) -> bool:
    """Delete a collection, and what an interrupted ingest of it kept; False if the collection
    did not exist (waits for a running writer)."""
    from agent_app.retrieval import checkpoint

    settings = settings or RetrievalSettings()
    url = settings.store_for(name)
    if not url:
        existed = storage.delete_collection(name, on_wait)
    else:
        from agent_app.retrieval import pg_store

        existed = pg_store.drop_collection(url, name, on_wait)
    checkpoint.delete(name, settings)
    return existed


def describe_collections(settings: RetrievalSettings | None = None) -> list[CollectionInfo]:
    """Every collection of the data folder and of each PostgreSQL store in the settings."""
    from agent_app.retrieval.collection import CollectionInfo, FileInfo

    settings = settings or RetrievalSettings()
    infos = folder.describe_collections()
    urls = dict.fromkeys([u for u in [settings.store, *settings.stores.values()] if u])
    from agent_app.retrieval import pg_store

    for url in urls:
        for manifest in pg_store.manifests(url):
            if settings.store_for(manifest.name) != url:
                continue  # another store's collection of that name is the one in use
            infos.append(
                CollectionInfo(
                    name=manifest.name,
                    store=pg_store.shown_url(url),
                    embedding_model=manifest.embedding_model,
                    files=[
                        FileInfo(path=path, chunks=len(r.chunk_ids), ingested_at=r.ingested_at)
                        for path, r in sorted(manifest.files.items())
                    ],
                    chunk_count=manifest.chunk_count,
                    updated_at=manifest.updated_at,
                )
            )
    return sorted(infos, key=lambda info: info.name)


def get_retriever(
    collection: str | None = None,
    settings: RetrievalSettings | None = None,
    *,
    k: int | None = None,
    relevance_threshold: float | None = None,
) -> HybridRetriever:
    """Open `collection` (default from settings) and return its LangChain retriever; k and
    threshold default to the settings. Cheap to call per question: the opened collection is
    reused until it is re-ingested. Raises CollectionNotFoundError / IndexCorruptError (and for
    PostgreSQL PostgresUnavailableError) with a hint."""
    settings = settings or RetrievalSettings()
    coll = open_collection(collection, settings, cached=True)
    threshold = relevance_threshold if relevance_threshold is not None else settings.relevance_threshold
    return coll.retriever(k or settings.k, relevance_threshold=threshold, vector_weight=settings.vector_weight)
