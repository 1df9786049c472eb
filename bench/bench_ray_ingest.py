"""`ingest --ray` (a local Ray on this machine's cores) against the plain ingest, same run, same
files (Debian Reference chapters read from /usr/share/debian-reference at bench time):

    .venv/bin/python bench/bench_ray_ingest.py [--files ch04.en.html ch06.en.html ...]

Prints each path's wall time and chunks/s, the ratio, the time Ray takes to start, and whether
the two collections hold the same chunks (ids, texts) and vectors (largest difference).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = Path("/usr/share/debian-reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", default=["ch04.en.html", "ch06.en.html", "ch07.en.html"])
    args = parser.parse_args()
    os.environ["AGENT_APP_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-ray-")
    import numpy as np

    from agent_app.retrieval import RetrievalSettings, ingest, open_collection
    from agent_app.retrieval.embedding_models import load_embeddings
    from agent_app.retrieval.ray_ingest import start

    files = [DOCS / name for name in args.files]
    settings = RetrievalSettings()
    load_embeddings("bundled")
    # The first ingest of a process is about 10 s slower (bench_pg_store.py): one untimed plain
    # ingest first. Ray's workers load and warm their own models: that is part of its cost.
    ingest(files, "warm-up", settings)
    t = time.perf_counter()
    ray = start("")
    started = time.perf_counter() - t
    print(f"files: {', '.join(args.files)}; Ray started in {started:.1f} s ({ray.cluster_resources().get('CPU')} CPUs)")
    walls = {}
    for name, via in (("plain", None), ("ray", "")):
        t = time.perf_counter()
        report = ingest(files, name, settings, ray=via)
        walls[name] = time.perf_counter() - t
        rate = report.total_chunks / walls[name]
        print(f"  {name:5s} {report.total_chunks} chunks in {walls[name]:6.1f} s = {rate:5.1f} chunks/s")
    print(f"  ray / plain wall time: {walls['ray'] / walls['plain']:.2f}")
    a, b = open_collection("plain", settings), open_collection("ray", settings)
    ours = {str(a.vectors.document(p).id): p for p in range(a.chunk_count)}
    theirs = {str(b.vectors.document(p).id): p for p in range(b.chunk_count)}
    same_texts = ours.keys() == theirs.keys() and all(
        a.vectors.document(ours[i]).page_content == b.vectors.document(theirs[i]).page_content for i in ours
    )
    diff = max(
        float(np.abs(a.vectors._index.reconstruct(ours[i]) - b.vectors._index.reconstruct(theirs[i])).max())
        for i in ours
    )
    lowest = min(float(a.vectors._index.reconstruct(ours[i]) @ b.vectors._index.reconstruct(theirs[i])) for i in ours)
    print(
        f"  same chunk ids and texts: {same_texts}; largest vector difference: {diff:.2e}, lowest cosine {lowest:.5f}"
    )
    ray.shutdown()
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
