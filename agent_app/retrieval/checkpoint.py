"""Embedded chunks kept on disk while an ingest runs, so that an interrupted ingest resumes.

An ingest changes the collection once, at the end (an interrupted one leaves the previous
version in place). For a big file that is up to an hour of embedding lost to one Ctrl-C, a
closed laptop or a killed process. So every embedded batch is appended here (the vectors, and the
SHA-1 of each chunk's text), the next ingest of the same collection with the same embedding
model embeds only the chunks it does not find here, and an ingest that has saved deletes it.

Files, in `<data folder>/ingest-checkpoints/<collection>-<store hash>/`: `model` (the model
and engine the vectors came from, and their width), `keys` (20 bytes a row) and `vectors`
(float32 rows). Vectors are written before their keys, and a row counts only when both are
whole, so a process killed in the middle of a write loses at most that batch. Memory stays
small: the keys are read into a dict (about 100 bytes a chunk), the vectors are mapped.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_app import paths

if TYPE_CHECKING:
    import numpy as np

    from agent_app.retrieval.settings import RetrievalSettings

KEY_BYTES = 20


def folder(collection: str, settings: RetrievalSettings) -> Path:
    """Where `collection`'s checkpoint lives: one per collection and store (a folder collection
    and a PostgreSQL one of the same name have different writer locks, so they may run at once)."""
    store = hashlib.sha1(settings.store_for(collection).encode()).hexdigest()[:8]
    return paths.data_dir() / "ingest-checkpoints" / f"{collection}-{store}"


def kept_chunks(collection: str, settings: RetrievalSettings) -> int:
    """How many embedded chunks an interrupted ingest of `collection` left for the next one."""
    keys = folder(collection, settings) / "keys"
    return keys.stat().st_size // KEY_BYTES if keys.is_file() else 0


def delete(collection: str, settings: RetrievalSettings) -> None:
    """Delete `collection`'s checkpoint (its ingest has been saved, or the collection dropped)."""
    shutil.rmtree(folder(collection, settings), ignore_errors=True)


def interrupted(collection: str, settings: RetrievalSettings) -> str:
    """The one line shown when an ingest is stopped (the CLI and the chat's /ingest)."""
    kept = kept_chunks(collection, settings)
    line = f"ingest interrupted: collection {collection} is as it was before"
    if kept:
        line += f"; the {kept:,} chunks embedded so far are kept, and the same ingest run again goes on from them"
    return line


class Checkpoint:
    """The embedded chunks of unfinished ingests of one collection, for one model and engine."""

    def __init__(self, where: Path, engine: str) -> None:
        self.where = where
        self.engine = engine  # the model and the class that ran it: vectors of no other are taken
        self.dim = 0
        self._rows: dict[bytes, int] = {}  # a text's key -> its row in `vectors`
        self._count = 0  # rows in the files (a text met twice is kept twice)
        self._vectors: Any = None  # a read-only numpy memmap, opened when first needed
        stamp = where / "model"
        if stamp.is_file():
            name, _, dim = stamp.read_text(encoding="utf-8").rpartition("\n")
            if name == engine and dim.isdigit():
                self.dim = int(dim)
                self._load()
            else:  # vectors of another model (or engine) must not be mixed in: start again
                self._clear()

    @classmethod
    def open(cls, collection: str, settings: RetrievalSettings, engine: str) -> Checkpoint:
        return cls(folder(collection, settings), engine)

    def __len__(self) -> int:
        return self._count

    def lookup(self, texts: Sequence[str]) -> tuple[list[int], np.ndarray]:
        """The positions in `texts` of the texts kept here, and their vectors (one row each)."""
        import numpy as np

        found = [(i, row) for i, text in enumerate(texts) if (row := self._rows.get(_key(text))) is not None]
        if not found:
            return [], np.empty((0, self.dim), dtype=np.float32)
        if self._vectors is None:
            self._vectors = np.memmap(self.where / "vectors", dtype=np.float32, mode="r", shape=(len(self), self.dim))
        positions, rows = zip(*found, strict=True)
        return list(positions), np.asarray(self._vectors[list(rows)], dtype=np.float32)

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep one embedded batch (flushed to the operating system before returning)."""
        import numpy as np

        if not texts:
            return
        if not self.dim:
            self.where.mkdir(parents=True, exist_ok=True)
            self.dim = int(vectors.shape[1])
            (self.where / "model").write_text(f"{self.engine}\n{self.dim}", encoding="utf-8")
        keys = [_key(t) for t in texts]
        with open(self.where / "vectors", "ab") as out:
            out.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        with open(self.where / "keys", "ab") as out:
            out.write(b"".join(keys))
        for key in keys:
            self._rows.setdefault(key, self._count)
            self._count += 1
        self._vectors = None  # the mapping no longer covers every row

    def discard(self) -> None:
        """Delete the checkpoint: the ingest it served has been saved."""
        self._vectors = None
        shutil.rmtree(self.where, ignore_errors=True)

    def _load(self) -> None:
        keys, vectors = self.where / "keys", self.where / "vectors"
        key_rows = keys.stat().st_size // KEY_BYTES if keys.is_file() else 0
        vector_rows = vectors.stat().st_size // (4 * self.dim) if vectors.is_file() else 0
        rows = min(key_rows, vector_rows)
        # A torn last write (the process killed mid-batch): cut both files to the whole rows.
        for file, size in ((keys, rows * KEY_BYTES), (vectors, rows * 4 * self.dim)):
            if file.is_file() and file.stat().st_size != size:
                with open(file, "r+b") as handle:
                    handle.truncate(size)
        data = keys.read_bytes() if rows else b""
        for row in range(rows):
            self._rows.setdefault(data[row * KEY_BYTES : (row + 1) * KEY_BYTES], row)
        self._count = rows

    def _clear(self) -> None:
        for name in ("model", "keys", "vectors"):
            (self.where / name).unlink(missing_ok=True)


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()
