"""A named collection of documents: its manifest, vector index and keyword index, hybrid search
(vector + BM25, fused by weighted scores: `agent_app.retrieval.fusion`) and the LangChain
retriever over it.

Collections live in <data dir>/collections/<name>/ (see `storage`). Opening one reads the
manifest and the FAISS files but loads the embedding model only when a question is embedded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, ValidationError

from agent_app.retrieval import storage
from agent_app.retrieval.embedding_models import lazy_embeddings
from agent_app.retrieval.errors import (
    CollectionNotFoundError,
    EmbeddingMismatchError,
    EmptyCollectionError,
    IndexCorruptError,
    ingest_command,
)
from agent_app.retrieval.settings import DEFAULT_VECTOR_WEIGHT, RetrievalSettings
from agent_app.retrieval.storage import MANIFEST_FILE, Calibration, FileRecord, Manifest, now

if TYPE_CHECKING:
    from agent_app.retrieval.fusion import Hit
    from agent_app.retrieval.keyword import KeywordIndex
    from agent_app.retrieval.vector_store import VectorIndex

DEFAULT_COLLECTION = "default"
MAX_QUERY_CHARS = 2_000
"""The longest query a search reads: the embedding model reads 512 tokens at most, and keyword
scoring costs grow with every word (a 100,000-character query took over a minute). `search`
refuses a longer one; a longer chat question retrieves by its first MAX_QUERY_CHARS."""


class Collection:
    """An opened collection. Changes stay in memory until `save()` swaps them in atomically."""

    def __init__(self, manifest: Manifest, vectors: VectorIndex) -> None:
        self.manifest = manifest
        self.vectors = vectors
        self._keywords: KeywordIndex | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def embedding_model(self) -> str:
        return self.manifest.embedding_model

    @property
    def chunk_count(self) -> int:
        return len(self.vectors)

    @property
    def files(self) -> dict[str, FileRecord]:
        """Ingested files: absolute path -> record (hash, chunk ids)."""
        return self.manifest.files

    @property
    def embeddings(self) -> Any:
        """The collection's embedding model (loaded when first used)."""
        return self.vectors.embeddings

    # -- what the answering side asks of a collection (agent_app.retrieval.evidence) ----------

    def best_similarity(self, vector: Any) -> float:
        """The cosine of the chunk nearest to a query vector."""
        return float(self.vectors.search(vector, 1)[0][1])

    def sample_texts(self, count: int) -> list[str]:
        """`count` chunk texts spread evenly over the collection, in ingest order."""
        import numpy as np

        total = len(self.vectors)
        if not total:
            return []
        positions = np.linspace(0, total - 1, min(total, count)).astype(int)
        return [self.vectors.document(int(p)).page_content for p in positions]

    def holds_any_term(self, terms: set[str]) -> bool:
        """True when some chunk holds one of these keyword tokens (`keyword.tokenize`'s)."""
        return bool(terms & self.keyword_index().vocabulary())

    # -- search ---------------------------------------------------------------------------

    def rank(self, query: str, fetch_k: int = 20, *, vector_weight: float = DEFAULT_VECTOR_WEIGHT) -> list[Hit]:
        """Every candidate of the vector and the keyword search (`fetch_k` from each), scored by
        both and fused, best first (see `agent_app.retrieval.fusion`)."""
        import numpy as np

        from agent_app.retrieval.fusion import fuse

        query = query[:MAX_QUERY_CHARS]
        if not query.strip():
            return []
        if not len(self.vectors):
            raise EmptyCollectionError(
                f"collection {self.name!r} has no documents", hint=f"add some: {ingest_command(self.name)}"
            )
        # (The bundled embeddings run a query on one torch thread: see agent_app.embeddings.)
        query_vector = np.asarray(self.vectors.embeddings.embed_query(query), dtype=np.float32)
        dense = self.vectors.search(query_vector, fetch_k)
        bm25 = self.keyword_index().scores(query)
        keyword = [int(p) for p in np.argsort(-bm25, kind="stable")[:fetch_k] if bm25[p] > 0]
        similarity = dict(dense)
        candidates = list(dict.fromkeys([p for p, _ in dense] + keyword))
        missing = [p for p in candidates if p not in similarity]
        similarity.update(zip(missing, self.vectors.similarities(query_vector, missing), strict=True))
        return fuse(
            candidates,
            [similarity[p] for p in candidates],
            [float(bm25[p]) for p in candidates],
            vector_weight=vector_weight,
        )

    def search(
        self,
        query: str,
        k: int = 4,
        *,
        relevance_threshold: float | None = None,
        fetch_k: int | None = None,
        vector_weight: float = DEFAULT_VECTOR_WEIGHT,
    ) -> list[Document]:
        """Hybrid search: the k best chunks of `rank`, with each retriever's top hit kept.

        Returned documents are copies whose metadata adds `rank`, `score` (fused, 0-1),
        `similarity` (cosine) and `keyword_score` (BM25); `relevance_threshold` drops those
        with a lower similarity.
        """
        from langchain_core.documents import Document

        from agent_app.retrieval.fusion import keep_top_hits

        hits, passages = self.ranked(query, fetch_k or max(4 * k, 20), vector_weight)
        if relevance_threshold is not None:
            hits = [h for h in hits if h.vector_score >= relevance_threshold]
        top = keep_top_hits(hits, k)
        results: list[Document] = []
        for hit, doc in zip(top, passages(top), strict=True):
            if doc is None:  # replaced between the two reads (PostgreSQL): the next search sees the new text
                continue
            extra = {
                "collection": self.name,
                "rank": len(results) + 1,
                "score": round(hit.fused, 4),
                "similarity": round(hit.vector_score, 4),
                "keyword_score": round(hit.keyword_score, 3),
            }
            results.append(Document(id=doc.id, page_content=doc.page_content, metadata=doc.metadata | extra))
        return results

    def ranked(
        self, query: str, fetch_k: int, vector_weight: float
    ) -> tuple[list[Hit], Callable[[list[Hit]], list[Document | None]]]:
        """`rank`'s hits, and how to fetch the stored chunks of some of them (in their order)."""
        return self.rank(query, fetch_k, vector_weight=vector_weight), lambda top: [
            self.vectors.document(h.position) for h in top
        ]

    def retriever(
        self,
        k: int = 4,
        *,
        relevance_threshold: float | None = None,
        fetch_k: int | None = None,
        vector_weight: float = DEFAULT_VECTOR_WEIGHT,
    ) -> HybridRetriever:
        """A LangChain retriever over this collection."""
        return HybridRetriever(
            collection=self,
            k=k,
            relevance_threshold=relevance_threshold,
            fetch_k=fetch_k,
            vector_weight=vector_weight,
        )

    def keyword_index(self) -> KeywordIndex:
        """BM25 over the chunks, aligned with vector positions; built on first use."""
        from agent_app.retrieval.keyword import KeywordIndex

        if self._keywords is None:
            texts = []
            for position in range(len(self.vectors)):
                doc = self.vectors.document(position)
                headings = doc.metadata.get("headings")
                texts.append(f"{headings}\n{doc.page_content}" if headings else doc.page_content)
            self._keywords = KeywordIndex(texts)
        return self._keywords

    # -- changes (used by ingest and remove) ----------------------------------------------

    def put_file(self, path: str, record: FileRecord, documents: Sequence[Document], vectors: Any) -> None:
        """Add a file's chunks, replacing the chunks it had before."""
        if len(vectors) and self.vectors.dimensions not in (None, len(vectors[0])):
            raise EmbeddingMismatchError(
                f"collection {self.name!r} holds {self.vectors.dimensions}-dimensional vectors, "
                f"the embedding model gives {len(vectors[0])}",
                hint=f"rebuild it: {ingest_command(self.name, rebuild=True)}",
            )
        self.drop_file(path)
        self.vectors.add(documents, vectors)
        self.manifest.files[path] = record
        self.manifest.dimensions = self.vectors.dimensions
        self._keywords = None

    def drop_file(self, path: str) -> int:
        """Forget a file's chunks; returns how many there were."""
        record = self.manifest.files.pop(path, None)
        if record is None:
            return 0
        self.vectors.delete(record.chunk_ids)
        self._keywords = None
        return len(record.chunk_ids)

    def save(self, *, calibrate: Callable[[Collection], Calibration] | None = None) -> None:
        """Write this state as the collection's new live version (atomically); `calibrate`
        (`evidence.measure_calibration`) measures the answerability anchors on it first."""
        if calibrate is not None:
            self.manifest.calibration = calibrate(self)
        self.manifest.updated_at = now()

        def write(folder: Path) -> None:
            self.vectors.save(folder)
            (folder / MANIFEST_FILE).write_text(self.manifest.model_dump_json(indent=1), encoding="utf-8")

        storage.write_version(storage.collection_dir(self.name), write)


def open_collection(
    name: str | None = None, settings: RetrievalSettings | None = None, *, cached: bool = False
) -> Collection:
    """Open a saved collection (default: the settings' default collection).

    `cached=True` (for searching) reuses the collection opened before, with its BM25 index,
    as long as its saved version has not changed; callers must not modify it.
    Raises CollectionNotFoundError (says how to ingest) or IndexCorruptError (says how to rebuild).
    """
    name = name or (settings.default_collection if settings else DEFAULT_COLLECTION)
    folder = storage.collection_dir(name)
    for attempt in range(3):
        version = storage.current_version(folder)
        if version is None:
            _search_cache.pop(folder, None)
            if storage.is_legacy_layout(folder):
                raise _corrupt(name, "it was saved by an older version of the app, in a format no longer read")
            raise CollectionNotFoundError(
                f"no documents ingested into collection {name!r} yet",
                hint=f"add some first: {ingest_command(name)}",
            )
        try:
            if not cached:
                return _load(name, version)
            hit = _search_cache.get(folder)
            if hit is None or hit[0] != version:
                hit = _search_cache[folder] = (version, _load(name, version))
            return hit[1]
        except IndexCorruptError:
            # An ingest that saved while this version was read removes the old version folder:
            # read the new one instead of calling a sound collection damaged.
            if attempt == 2 or storage.current_version(folder) == version:
                raise
    raise AssertionError("unreachable")


# collection folder -> (version folder, Collection): every save makes a new version folder,
# so a changed version means the collection was re-ingested since.
_search_cache: dict[Path, tuple[Path, Collection]] = {}


def new_collection(name: str, embedding_model: str, settings: RetrievalSettings) -> Collection:
    """An empty, unsaved collection."""
    from agent_app.retrieval.vector_store import VectorIndex

    storage.collection_dir(name)  # validates the name
    manifest = Manifest(
        name=name,
        embedding_model=embedding_model,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )
    return Collection(manifest, VectorIndex(lazy_embeddings(embedding_model)))


def _load(name: str, version: Path) -> Collection:
    from agent_app.retrieval.vector_store import VectorIndex

    manifest = _read_manifest(name, version)
    try:
        vectors = VectorIndex.load(version, lazy_embeddings(manifest.embedding_model), storage.collections_root())
    except IndexCorruptError as exc:  # e.g. the old pickle format, refused unread
        raise _corrupt(name, exc.message) from None
    except Exception as exc:  # faiss, JSON and OS errors all mean the same to the user
        raise _corrupt(name, f"cannot read the index: {type(exc).__name__}") from exc
    if len(vectors) != manifest.chunk_count or set(vectors.ids()) != _manifest_ids(manifest):
        raise _corrupt(name, "the index and its manifest disagree")
    return Collection(manifest, vectors)


def _read_manifest(name: str, version: Path) -> Manifest:
    try:
        manifest = Manifest.model_validate_json((version / MANIFEST_FILE).read_bytes())
    except (OSError, ValidationError) as exc:
        raise _corrupt(name, "its manifest is missing or unreadable") from exc
    if manifest.name != name:
        raise _corrupt(name, f"its manifest belongs to {manifest.name!r}")
    return manifest


def _manifest_ids(manifest: Manifest) -> set[str]:
    return {chunk_id for record in manifest.files.values() for chunk_id in record.chunk_ids}


def _corrupt(name: str, why: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"the index of collection {name!r} is damaged ({why})",
        hint=f"rebuild it: {ingest_command(name, rebuild=True)}",
    )


def drop_collection(name: str) -> bool:
    """Delete a collection and its files; False if it did not exist. (The same as `collections
    remove`: it waits for a running writer and removes the folder in one atomic rename.)"""
    return storage.delete_collection(name)


class FileInfo(BaseModel):
    path: str
    chunks: int
    ingested_at: str


class CollectionInfo(BaseModel):
    """What `/kb` shows about one collection."""

    name: str
    store: str = ""  # "" for the data folder, else the PostgreSQL URL (without a password)
    embedding_model: str | None = None
    files: list[FileInfo] = []
    chunk_count: int = 0
    updated_at: str | None = None
    error: str | None = None  # set when the collection cannot be read

    @property
    def file_count(self) -> int:
        return len(self.files)


def describe_collections() -> list[CollectionInfo]:
    """Every collection with its files, chunk counts and embedding model (reads manifests only)."""
    infos = []
    for name in storage.collection_names():
        try:
            folder = storage.collection_dir(name)
            version = storage.current_version(folder)
            if version is None and storage.is_legacy_layout(folder):
                open_collection(name)  # raises the error that says how to rebuild it
            manifest = _read_manifest(name, version) if version else None
        except IndexCorruptError as exc:
            infos.append(CollectionInfo(name=name, error=str(exc)))
            continue
        if manifest is None:
            continue
        files = [
            FileInfo(path=path, chunks=len(r.chunk_ids), ingested_at=r.ingested_at)
            for path, r in sorted(manifest.files.items())
        ]
        infos.append(
            CollectionInfo(
                name=name,
                embedding_model=manifest.embedding_model,
                files=files,
                chunk_count=manifest.chunk_count,
                updated_at=manifest.updated_at,
            )
        )
    return infos


# -- the LangChain retriever over a collection -------------------------------------------------


class HybridRetriever(BaseRetriever):
    """FAISS similarity plus BM25 keywords, fused (see Collection.search)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    collection: Any  # agent_app.retrieval.collection.Collection
    k: int = 4
    relevance_threshold: float | None = None
    fetch_k: int | None = None
    vector_weight: float = DEFAULT_VECTOR_WEIGHT

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.collection.search(
            query,
            self.k,
            relevance_threshold=self.relevance_threshold,
            fetch_k=self.fetch_k,
            vector_weight=self.vector_weight,
        )
