"""Ingesting files into a collection: find, read, split, embed, store; incrementally.

Unchanged files (same SHA-256) are skipped, changed files replace their chunks, and files
that disappeared from an ingested folder are dropped. Files are read and split on a thread of
their own, a few files ahead, while the chunks read before are embedded; chunks are embedded in
windows of several files (small files alone would make tiny, slow batches), and each window's
files are stored in the collection in memory when it is done: the chunks waiting to be embedded
are one window (or one big file), not the whole ingest. (The collection itself keeps every chunk
in memory until it is saved.) The collection on disk changes only at the end, in one atomic
swap: an interrupted ingest leaves the previous version in place, and the chunks it had embedded
in a `checkpoint`, from which the same ingest run again goes on.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from agent_app.retrieval import stores
from agent_app.retrieval.checkpoint import Checkpoint
from agent_app.retrieval.collection import Collection
from agent_app.retrieval.discovery import discover
from agent_app.retrieval.embedding_models import embedding_model_name, max_tokens, token_counter
from agent_app.retrieval.errors import (
    CollectionNotFoundError,
    IndexCorruptError,
    NothingToIngestError,
)
from agent_app.retrieval.loaders import UnreadableFile, load_sections
from agent_app.retrieval.settings import RetrievalSettings
from agent_app.retrieval.splitting import Chunk, split_sections
from agent_app.retrieval.storage import FileRecord
from agent_app.retrieval.stores import new_collection, open_collection

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.embeddings import Embeddings

EMBED_BATCH = 64  # chunks per embedding call: the models' own batch size, so progress moves and
# Ctrl-C is not kept waiting for a long call (512 took 50-60 s on a busy machine)
WINDOW_CHUNKS = 1024  # chunks embedded together, longest first (less padding than file by file)
READ_AHEAD = 8  # files read and split ahead of the embedding


@dataclass(frozen=True)
class IngestProgress:
    """Passed to the progress callback after each file is read and each batch is embedded."""

    stage: Literal["waiting", "reading", "embedding", "saving"]  # waiting: for another writer
    files_done: int
    files_total: int
    chunks_done: int  # chunks embedded so far
    chunks_total: int  # chunks found so far (grows while files are read)
    path: str | None = None


ProgressCallback = Callable[[IngestProgress], None]


class SkippedFile(BaseModel):
    path: str
    reason: str


class IngestReport(BaseModel):
    """What an ingest (or remove) did, file by file."""

    collection: str
    embedding_model: str
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    skipped: list[SkippedFile] = Field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    total_files: int = 0
    total_chunks: int = 0
    notes: list[str] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        """One line, e.g. "default: 3 added, 1 updated, 5 unchanged, 0 removed, 2 skipped; 40 chunks"."""
        return (
            f"{self.collection}: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, {len(self.skipped)} skipped; "
            f"{self.total_files} files, {self.total_chunks} chunks"
        )


@dataclass
class _Pending:
    path: str
    record: FileRecord
    chunks: list[Chunk]
    is_update: bool


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    collection: str | None = None,
    settings: RetrievalSettings | None = None,
    progress: ProgressCallback | None = None,
    *,
    rebuild: bool = False,
    embeddings: Embeddings | None = None,
    ray: str | None = None,
) -> IngestReport:
    """Add or update the files under `paths` in `collection` and save it atomically.

    `rebuild=True` starts the collection afresh (needed after changing the embedding model).
    `embeddings` overrides the model chosen by the settings (tests, benchmarks).
    `ray`: read, split and embed on Ray (`ray_ingest`) at this address ("" = a local Ray).
    Raises NothingToIngestError when the paths hold no supported file and nothing was removed.
    """
    settings = settings or RetrievalSettings()
    name = collection or settings.default_collection
    stores.check_writable(name, settings)
    notify = progress or (lambda _: None)
    # The whole read-embed-save cycle under the collection's writer lock: a second ingest waits
    # and then adds to what the first saved, instead of replacing it.
    with stores.writer_lock(name, settings, on_wait=lambda: notify(IngestProgress("waiting", 0, 0, 0, 0))):
        return _ingest_locked(paths, name, settings, notify, rebuild, embeddings, ray)


def _ingest_locked(
    paths: Iterable[str | os.PathLike[str]],
    name: str,
    settings: RetrievalSettings,
    notify: ProgressCallback,
    rebuild: bool,
    embeddings: Embeddings | None,
    ray: str | None = None,
) -> IngestReport:
    model_name = embedding_model_name(settings.embeddings)
    coll, note, earlier = _open_for_update(name, model_name, settings, rebuild)
    paths = [*paths, *earlier]
    report = IngestReport(collection=name, embedding_model=model_name, notes=[note] if note else [])
    if embeddings is None:
        embeddings = coll.embeddings
    # The engine is part of the checkpoint's identity: vectors of a test's or a bench's stand-in
    # model must never be resumed by an ingest with the real one of the same name.
    engine = f"{model_name} {type(embeddings).__module__}.{type(embeddings).__qualname__}"
    checkpoint = Checkpoint.open(name, settings, engine)

    found = discover(paths, settings.include, settings.exclude)
    report.skipped += [SkippedFile(path=p, reason=r) for p, r in found.problems]
    _prune_deleted(coll, found.folders, report)
    if not found.files and not report.removed:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in report.skipped) or "no paths given"
        raise NothingToIngestError(f"nothing to ingest ({reasons})")

    total = len(found.files)
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    window: list[_Pending] = []
    files_read = chunks_total = chunks_embedded = 0

    def embed_window() -> None:
        nonlocal chunks_embedded
        texts = [chunk.embedding_text for item in window for chunk in item.chunks]

        def embedded(n: int) -> None:
            notify(IngestProgress("embedding", files_read, total, chunks_embedded + n, chunks_total))

        _store(coll, window, _embed(texts, embeddings, embedded, checkpoint), report)
        chunks_embedded += len(texts)
        window.clear()

    def read(file: Path) -> _Pending | None:
        return _read_file(file, str(file), coll, settings, max_bytes, report)

    if ray is not None:
        from agent_app.retrieval.ray_ingest import read_and_embed

        for path, outcome, payload in read_and_embed(found.files, coll, settings, max_bytes, ray, _read_file):
            files_read += 1
            if outcome == "unchanged":
                report.unchanged.append(path)
            elif outcome == "skipped":
                report.skipped.append(SkippedFile(path=path, reason=payload))
            else:
                record, chunks, vectors = payload
                _store(coll, [_Pending(path, record, chunks, is_update=path in coll.files)], vectors, report)
                chunks_total += len(chunks)
                chunks_embedded += len(chunks)
            notify(IngestProgress("embedding", files_read, total, chunks_embedded, chunks_total, path))
    else:
        for file, item in _read_ahead(found.files, read):
            files_read += 1
            if item is not None:
                window.append(item)
                chunks_total += len(item.chunks)
            notify(IngestProgress("reading", files_read, total, chunks_embedded, chunks_total, str(file)))
            if chunks_total - chunks_embedded >= WINDOW_CHUNKS:
                embed_window()
        embed_window()

    if report.changed or note or coll.manifest.calibration is None:
        from agent_app.retrieval.evidence import measure_calibration

        notify(IngestProgress("saving", total, total, chunks_total, chunks_total))
        coll.save(calibrate=measure_calibration)  # the documents changed: so does what "unrelated" scores
    checkpoint.discard()
    report.total_files = len(coll.files)
    report.total_chunks = coll.chunk_count
    return report


def _open_for_update(
    name: str, model_name: str, settings: RetrievalSettings, rebuild: bool
) -> tuple[Collection, str | None, list[Path]]:
    """The collection to add to, a note for the report, and files of it to read again."""
    if rebuild:
        note = "rebuilt from scratch: only the files of this ingest are in the collection now"
        return new_collection(name, model_name, settings), note, []
    try:
        coll = open_collection(name, settings)
    except CollectionNotFoundError:
        return new_collection(name, model_name, settings), None, []
    except IndexCorruptError as exc:
        # The index is derived data and unusable anyway: start afresh, the swap stays atomic.
        note = f"the previous index was damaged and has been rebuilt ({exc.message})"
        return new_collection(name, model_name, settings), note, []
    if coll.embedding_model != model_name:
        # Vectors of two models cannot be mixed: read the collection's files again and embed
        # everything with the new model (chunk sizes follow the new model's tokens too).
        earlier = [Path(p) for p in coll.files if Path(p).is_file()]
        gone = len(coll.files) - len(earlier)
        note = (
            f"re-embedded with {model_name} (was {coll.embedding_model}): "
            f"{len(earlier)} earlier file(s) read again" + (f", {gone} no longer found and left out" if gone else "")
        )
        return new_collection(name, model_name, settings), note, earlier
    return coll, None, []


def _prune_deleted(coll: Collection, folders: list[Path], report: IngestReport) -> None:
    """Drop files that were under an ingested folder and no longer exist."""
    for folder in folders:
        prefix = str(folder) + os.sep
        for path in [p for p in coll.files if p.startswith(prefix)]:
            if not Path(path).exists():
                report.chunks_removed += coll.drop_file(path)
                report.removed.append(path)


def _read_file(
    file: Path, key: str, coll: Collection, settings: RetrievalSettings, max_bytes: int, report: IngestReport
) -> _Pending | None:
    """Read, hash, parse and split one file; None when unchanged or skipped (recorded in report)."""
    try:
        size = file.stat().st_size
        if size > max_bytes:
            report.skipped.append(SkippedFile(path=key, reason=f"larger than {settings.max_file_mb:g} MB"))
            return None
        data = file.read_bytes()
    except OSError as exc:
        report.skipped.append(SkippedFile(path=key, reason=f"cannot read ({exc.strerror or exc})"))
        return None
    digest = hashlib.sha256(data).hexdigest()
    previous = coll.files.get(key)
    if previous is not None and previous.sha256 == digest:
        report.unchanged.append(key)
        return None
    try:
        chunks = split_sections(
            load_sections(file, data),
            settings.chunk_size,
            settings.chunk_overlap,
            count=token_counter(coll.embedding_model),
            limit=max_tokens(coll.embedding_model),
        )
    except UnreadableFile as exc:
        report.skipped.append(SkippedFile(path=key, reason=str(exc)))
        return None
    ids = [hashlib.sha1(f"{key}\0{digest}\0{i}".encode()).hexdigest()[:20] for i in range(len(chunks))]
    for chunk in chunks:
        chunk.metadata = {"source": key, "file_name": file.name, **chunk.metadata}
    record = FileRecord(sha256=digest, size=len(data), chunk_ids=ids)
    return _Pending(key, record, chunks, is_update=previous is not None)


def _read_ahead(files: list[Path], read: Callable[[Path], _Pending | None]) -> Iterator[tuple[Path, _Pending | None]]:
    """`(file, read(file))` in order, read on a daemon thread at most READ_AHEAD files ahead, so
    that reading and splitting the next files overlaps embedding the last ones. The reader's
    failure is raised here; if the consumer stops (Ctrl-C, an error), the reader stops too."""
    import queue
    import threading

    done = object()
    ahead: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()

    def run() -> None:
        try:
            for file in files:
                item = (file, read(file))
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(done)
        except BaseException as exc:  # handed to the consumer
            ahead.put(exc)

    reader = threading.Thread(target=run, name="ingest-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                got = ahead.get(timeout=0.1)  # a short wait, so Ctrl-C is handled between waits
            except queue.Empty:
                continue
            if got is done:
                return
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()


def _embed(
    texts: list[str], embeddings: Embeddings, done: Callable[[int], None], checkpoint: Checkpoint | None = None
) -> np.ndarray:
    """Embed in slices (for progress) of the texts sorted by length, longest first; texts the
    checkpoint holds (an interrupted ingest embedded them) are taken from it, and each embedded
    slice is added to it.

    sentence-transformers sorts each call's texts by length so that batches need little
    padding; slicing an unsorted list would undo that across slices (measured: 24% more padded
    tokens on a mixed English/Japanese corpus). Slices of a sorted list, a multiple of the batch
    size long, give exactly the batches of one big call.
    """
    import numpy as np

    kept, kept_vectors = checkpoint.lookup(texts) if checkpoint is not None else ([], None)
    skip = set(kept)
    order = sorted((i for i in range(len(texts)) if i not in skip), key=lambda i: -len(texts[i]))
    # One float32 matrix, filled batch by batch: Python lists of floats took 8x the memory
    # (a 20 MB file's vectors alone were over 1 GB as lists).
    vectors: np.ndarray | None = None
    if kept and kept_vectors is not None:
        vectors = np.empty((len(texts), kept_vectors.shape[1]), dtype=np.float32)
        vectors[kept] = kept_vectors
        done(len(kept))
    for start in range(0, len(order), EMBED_BATCH):
        positions = order[start : start + EMBED_BATCH]
        batch = [texts[i] for i in positions]
        embedded = np.asarray(_interruptible(embeddings.embed_documents, batch), dtype=np.float32)
        if vectors is None:
            vectors = np.empty((len(texts), embedded.shape[1]), dtype=np.float32)
        vectors[positions] = embedded
        if checkpoint is not None:
            checkpoint.add(batch, embedded)
        done(len(kept) + start + len(positions))
    return vectors if vectors is not None else np.empty((0, 0), dtype=np.float32)


def _interruptible(fn: Callable[[list[str]], list[list[float]]], texts: list[str]) -> list[list[float]]:
    """`fn(texts)` on a daemon thread while this thread waits: the engines run a batch in C
    (ctypes, torch) without returning to Python, so Ctrl-C would otherwise wait for the batch to
    end. On Ctrl-C the wait ends at once and the abandoned batch finishes in the background."""
    import threading

    result: list[list[list[float]]] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(texts))
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="embed-batch", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)  # a short timeout, so the signal handler runs between waits
    if failure:
        raise failure[0]
    return result[0]


def _store(coll: Collection, pending: list[_Pending], vectors: np.ndarray, report: IngestReport) -> None:
    from langchain_core.documents import Document

    offset = 0
    for item in pending:
        n = len(item.chunks)
        documents = [
            Document(id=chunk_id, page_content=chunk.text, metadata=chunk.metadata)
            for chunk_id, chunk in zip(item.record.chunk_ids, item.chunks, strict=True)
        ]
        report.chunks_removed += len(coll.files[item.path].chunk_ids) if item.is_update else 0
        coll.put_file(item.path, item.record, documents, vectors[offset : offset + n])
        offset += n
        report.chunks_added += n
        (report.updated if item.is_update else report.added).append(item.path)


def remove(
    paths: Iterable[str | os.PathLike[str]],
    collection: str | None = None,
    settings: RetrievalSettings | None = None,
) -> IngestReport:
    """Drop files (or every file under a folder) from a collection; the files themselves stay.

    Paths not in the collection are listed in `skipped`. Raises CollectionNotFoundError.
    """
    settings = settings or RetrievalSettings()
    with stores.writer_lock(collection or settings.default_collection, settings):
        coll = open_collection(collection, settings)
        return _remove_locked(paths, coll)


def _remove_locked(paths: Iterable[str | os.PathLike[str]], coll: Collection) -> IngestReport:
    report = IngestReport(collection=coll.name, embedding_model=coll.embedding_model)
    for raw in paths:
        target = str(Path(raw).expanduser().resolve())
        matches = [p for p in coll.files if p == target or p.startswith(target.rstrip(os.sep) + os.sep)]
        if not matches:
            report.skipped.append(SkippedFile(path=str(raw), reason="not in the collection"))
        for path in matches:
            report.chunks_removed += coll.drop_file(path)
            report.removed.append(path)
    if report.changed:
        coll.save()
    report.total_files = len(coll.files)
    report.total_chunks = coll.chunk_count
    return report
