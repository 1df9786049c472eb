"""The one module that touches FAISS and langchain_community.

Why langchain_community: its FAISS store (index + docstore + save/load) is LangChain's standard
one and still works, although the package is sunset upstream and warns on import. Keeping it
behind this small class means a later move to plain faiss (or another store) changes one file.

Its docstore is saved with pickle, and unpickling can run code, so `load` only opens folders
inside the app's own data folder, never a path a user passes in.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_app.retrieval.errors import UnsafeIndexPathError

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings


def _faiss_store_class() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the sunset notice, see module doc
        from langchain_community.docstore.in_memory import InMemoryDocstore
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy
    return FAISS, DistanceStrategy, InMemoryDocstore


class VectorIndex:
    """Normalised vectors in a flat inner-product FAISS index, so scores are cosine similarities.

    Positions (0..n-1) are the rows of the FAISS index; they shift when chunks are deleted.
    """

    def __init__(self, embeddings: Embeddings, store: Any = None) -> None:
        self.embeddings = embeddings
        self._store = store

    def __len__(self) -> int:
        return 0 if self._store is None else int(self._store.index.ntotal)

    @property
    def dimensions(self) -> int | None:
        return None if self._store is None else int(self._store.index.d)

    def add(self, documents: Sequence[Document], vectors: Sequence[Sequence[float]]) -> None:
        """Add documents (with ids set) and their precomputed vectors."""
        if not documents:
            return
        if self._store is None:
            self._store = self._empty_store(len(vectors[0]))
        self._store.add_embeddings(
            text_embeddings=[(d.page_content, list(v)) for d, v in zip(documents, vectors, strict=True)],
            metadatas=[d.metadata for d in documents],
            ids=[d.id for d in documents],
        )

    def delete(self, ids: Sequence[str]) -> None:
        if ids and self._store is not None:
            self._store.delete(list(ids))

    def ids(self) -> list[str]:
        """Chunk ids in position order."""
        if self._store is None:
            return []
        mapping = self._store.index_to_docstore_id
        return [mapping[i] for i in range(len(mapping))]

    def document(self, position: int) -> Document:
        store = self._store
        return store.docstore.search(store.index_to_docstore_id[position])

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest positions with their cosine similarity, best first."""
        if not len(self):
            return []
        scores, positions = self._store.index.search(vector.reshape(1, -1), min(k, len(self)))
        return [(int(p), float(s)) for p, s in zip(positions[0], scores[0], strict=True) if p >= 0]

    def similarities(self, vector: np.ndarray, positions: Sequence[int]) -> list[float]:
        """Cosine similarity of the query to the given positions."""
        import numpy as np

        if not positions:
            return []
        stored = self._store.index.reconstruct_batch(np.asarray(positions, dtype=np.int64))
        return [float(x) for x in stored @ vector]

    def save(self, folder: Path) -> None:
        if self._store is not None:
            self._store.save_local(str(folder))

    @classmethod
    def load(cls, folder: Path, embeddings: Embeddings, trusted_root: Path) -> VectorIndex:
        """Load from `folder`, which must lie inside `trusted_root` (the app's data folder)."""
        resolved, root = folder.resolve(), trusted_root.resolve()
        if not resolved.is_relative_to(root):
            raise UnsafeIndexPathError(f"refusing to load an index from outside {root}: {resolved}")
        if not (resolved / "index.faiss").exists():
            return cls(embeddings)  # an empty collection has no FAISS files
        store_class, distance, _ = _faiss_store_class()
        store = store_class.load_local(
            str(resolved),
            embeddings,
            allow_dangerous_deserialization=True,  # safe: only our own files, checked above
            distance_strategy=distance.MAX_INNER_PRODUCT,
        )
        if store.index.ntotal != len(store.index_to_docstore_id):
            raise ValueError("FAISS index and docstore disagree")
        return cls(embeddings, store)

    def _empty_store(self, dimensions: int) -> Any:
        import faiss

        store_class, distance, docstore_class = _faiss_store_class()
        return store_class(
            self.embeddings,
            faiss.IndexFlatIP(dimensions),
            docstore_class({}),
            {},
            distance_strategy=distance.MAX_INNER_PRODUCT,
        )
