"""An interrupted ingest keeps what it embedded, and the same ingest run again goes on from it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from agent_app.retrieval import RetrievalSettings, drop_collection, ingest, open_collection
from agent_app.retrieval import ingestion as ingestion_module
from agent_app.retrieval.checkpoint import Checkpoint, folder, interrupted, kept_chunks


class CountingEmbeddings(Embeddings):
    """A deterministic stand-in model that counts what it embeds and can be told to stop (as
    Ctrl-C does) once it has embedded `stop_after` batches."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.embedded: list[str] = []
        self.batches = 0
        self.stop_after = stop_after

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.stop_after is not None and self.batches >= self.stop_after:
            raise KeyboardInterrupt
        self.batches += 1
        self.embedded += texts
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    @staticmethod
    def _vector(text: str) -> list[float]:
        # The bundled model's width: the collection's calibration asks its own model at save.
        seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(384)
        return (v / np.linalg.norm(v)).tolist()


def test_kept_rows_are_found_again_after_reopening_and_a_torn_write_is_cut_off(tmp_path: Path) -> None:
    where = tmp_path / "cp"
    kept = Checkpoint(where, "model-a")
    kept.add(["one", "two"], np.array([[1, 0], [0, 1]], dtype=np.float32))
    kept.add(["three"], np.array([[1, 1]], dtype=np.float32))
    with open(where / "vectors", "ab") as out:  # a killed process: half a row of vectors
        out.write(b"\0\0\0\0")
    with open(where / "keys", "ab") as out:
        out.write(b"\1" * 7)

    again = Checkpoint(where, "model-a")
    assert len(again) == 3
    positions, vectors = again.lookup(["three", "four", "one"])
    assert positions == [0, 2] and vectors.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert (where / "vectors").stat().st_size == 3 * 2 * 4  # cut to whole rows

    other = Checkpoint(where, "model-b")  # another model's vectors are never mixed in
    assert len(other) == 0 and other.lookup(["one"])[0] == []


def test_an_interrupted_ingest_goes_on_from_what_it_had_embedded(tmp_path: Path, monkeypatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        lines = [f"Line {j} of note {i}: the pump in room {i * 10 + j} runs at {j} bar." for j in range(30)]
        (docs / f"note{i}.txt").write_text("\n\n".join(lines))
    settings = RetrievalSettings(chunk_size=32, chunk_overlap=0)
    monkeypatch.setattr(ingestion_module, "EMBED_BATCH", 8)

    stopped = CountingEmbeddings(stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        ingest([docs], settings=settings, embeddings=stopped)
    assert kept_chunks("default", settings) == 24  # three batches of 8
    assert "the 24 chunks embedded so far are kept" in interrupted("default", settings)

    resumed = CountingEmbeddings()
    report = ingest([docs], settings=settings, embeddings=resumed)
    assert not set(resumed.embedded) & set(stopped.embedded)  # nothing embedded twice
    assert len(resumed.embedded) + len(stopped.embedded) == report.chunks_added
    assert not folder("default", settings).exists()  # saved: the checkpoint is gone
    assert interrupted("default", settings).endswith("is as it was before")

    fresh = CountingEmbeddings()
    ingest([docs], collection="fresh", settings=settings, embeddings=fresh)
    a, b = open_collection("default", settings), open_collection("fresh", settings)
    assert sorted(a.files) == sorted(b.files) and a.chunk_count == b.chunk_count == report.chunks_added
    # The same vectors under the same texts: the nearest chunks to a query agree, scores and all.
    query = np.array(fresh.embed_query("Line 7 of note 3: the pump in room 37"), dtype=np.float32)
    nearest = [
        [(c.vectors.document(pos).page_content, round(score, 5)) for pos, score in c.vectors.search(query, 5)]
        for c in (a, b)
    ]
    assert nearest[0] == nearest[1] and len(nearest[0]) == 5


SMALL_CHUNKS = RetrievalSettings(chunk_size=32, chunk_overlap=0)


def _notes(where: Path, name: str, line: str) -> Path:
    """A file of 40 short paragraphs (`line` formatted with 0..39) in the folder `where`."""
    where.mkdir(exist_ok=True)
    (where / name).write_text("\n\n".join(line.format(j, j) for j in range(40)))
    return where


def _stopped_after_one_batch(docs: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        ingest([docs], settings=SMALL_CHUNKS, embeddings=CountingEmbeddings(stop_after=1))
    assert kept_chunks("default", SMALL_CHUNKS) == 4


def test_a_checkpoint_of_another_engine_is_not_resumed(tmp_path: Path, monkeypatch) -> None:
    """Vectors left by one engine (a test's stand-in) are not taken by another of the same model."""
    monkeypatch.setattr(ingestion_module, "EMBED_BATCH", 4)
    docs = _notes(tmp_path / "docs", "a.txt", "Valve {} is checked every {} days.")
    _stopped_after_one_batch(docs)

    class OtherEngine(CountingEmbeddings):
        pass

    other = OtherEngine()
    report = ingest([docs], settings=SMALL_CHUNKS, embeddings=other)
    assert len(other.embedded) == report.chunks_added  # everything embedded by this engine


def test_deleting_a_collection_deletes_what_an_interrupted_ingest_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ingestion_module, "EMBED_BATCH", 4)
    docs = _notes(tmp_path / "docs", "a.txt", "Filter {} is cleaned every {} weeks.")
    ingest([docs], settings=SMALL_CHUNKS, embeddings=CountingEmbeddings())
    _stopped_after_one_batch(_notes(docs, "b.txt", "Fan {} turns at {} hundred rpm."))
    assert drop_collection("default", SMALL_CHUNKS)
    assert kept_chunks("default", SMALL_CHUNKS) == 0 and not folder("default", SMALL_CHUNKS).exists()
