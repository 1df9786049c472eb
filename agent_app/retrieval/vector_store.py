"""The one module that touches FAISS: vectors in a flat index, chunks in a JSON docstore.

Why not langchain_community's FAISS store: it saves its docstore with pickle, and loading a
pickle runs whatever code the file names. A hand-made `index.pkl` in a collection folder once
executed `os.system` on the next question. Here the index is written with `faiss.write_index`
(plain arrays) and the chunks as JSON (`docstore.json`), so a damaged or planted file can only
fail to parse. A folder that still holds the old pickle is refused with a rebuild hint; the
pickle is never opened. (langchain_community is also sunset upstream.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_app.retrieval.errors import IndexCorruptError, UnsafeIndexPathError

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

INDEX_FILE = "index.faiss"
DOCSTORE_FILE = "docstore.json"
LEGACY_PICKLE = "index.pkl"
DOCSTORE_FORMAT = 1


class LegacyPickleIndexError(IndexCorruptError):
    """A collection saved by an older version, with a pickled docstore that is never loaded."""


class VectorIndex:
    """Normalised vectors in a flat inner-product FAISS index, so scores are cosine similarities.

    Positions (0..n-1) are the rows of the FAISS index; they shift when chunks are deleted.
    """

    def __init__(self, embeddings: Embeddings, index: Any = None, documents: list[Document] | None = None) -> None:
        self.embeddings = embeddings
        self._index = index
        self._documents: list[Document] = documents or []

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def dimensions(self) -> int | None:
        return None if self._index is None else int(self._index.d)

    def add(self, documents: Sequence[Document], vectors: Any) -> None:
        """Add documents (with ids set) and their precomputed vectors (rows of a matrix)."""
        import numpy as np

        if not len(documents):
            return
        matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if matrix.ndim != 2 or matrix.shape[0] != len(documents):
            raise ValueError("one vector per document is needed")
        if self._index is None:
            import faiss

            self._index = faiss.IndexFlatIP(matrix.shape[1])
        self._index.add(matrix)
        self._documents.extend(documents)

    def delete(self, ids: Sequence[str]) -> None:
        if not ids or self._index is None:
            return
        import numpy as np

        gone = set(ids)
        positions = [i for i, doc in enumerate(self._documents) if doc.id in gone]
        if positions:
            self._index.remove_ids(np.asarray(positions, dtype=np.int64))
            self._documents = [doc for doc in self._documents if doc.id not in gone]

    def ids(self) -> list[str]:
        """Chunk ids in position order."""
        return [str(doc.id) for doc in self._documents]

    def document(self, position: int) -> Document:
        return self._documents[position]

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest positions with their cosine similarity, best first."""
        if not len(self):
            return []
        scores, positions = self._index.search(vector.reshape(1, -1), min(k, len(self)))
        return [(int(p), float(s)) for p, s in zip(positions[0], scores[0], strict=True) if p >= 0]

    def similarities(self, vector: np.ndarray, positions: Sequence[int]) -> list[float]:
        """Cosine similarity of the query to the given positions."""
        import numpy as np

        if not positions:
            return []
        stored = self._index.reconstruct_batch(np.asarray(positions, dtype=np.int64))
        return [float(x) for x in stored @ vector]

    def save(self, folder: Path) -> None:
        if self._index is None:
            return
        import faiss

        faiss.write_index(self._index, str(folder / INDEX_FILE))
        data = {
            "format": DOCSTORE_FORMAT,
            "documents": [{"id": d.id, "text": d.page_content, "metadata": d.metadata} for d in self._documents],
        }
        with open(folder / DOCSTORE_FILE, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, default=str)

    @classmethod
    def load(cls, folder: Path, embeddings: Embeddings, trusted_root: Path) -> VectorIndex:
        """Load from `folder`, which must lie inside `trusted_root` (the app's data folder)."""
        resolved, root = folder.resolve(), trusted_root.resolve()
        if not resolved.is_relative_to(root):
            raise UnsafeIndexPathError(f"refusing to load an index from outside {root}: {resolved}")
        if (resolved / LEGACY_PICKLE).exists() and not (resolved / DOCSTORE_FILE).exists():
            raise LegacyPickleIndexError(
                "this collection was saved in the old pickle format, which is not loaded because a pickle can run code"
            )
        if not (resolved / INDEX_FILE).exists():
            return cls(embeddings)  # an empty collection has no index files
        import faiss
        from langchain_core.documents import Document

        index = faiss.read_index(str(resolved / INDEX_FILE))
        with open(resolved / DOCSTORE_FILE, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or data.get("format") != DOCSTORE_FORMAT:
            raise ValueError("unknown docstore format")
        documents = [
            Document(id=str(d["id"]), page_content=str(d["text"]), metadata=dict(d["metadata"]))
            for d in data["documents"]
        ]
        if index.ntotal != len(documents):
            raise ValueError("FAISS index and docstore disagree")
        return cls(embeddings, index, documents)
