"""The slow cases of the fault catalogue (a script, not a test): figures, not pass/fail.

    .venv/bin/python bench/bench_faults.py [--mb 20] [--files 2000] [--skip-big]

1. Hostile calculator input: time to refuse each case (target: every case under 50 ms).
2. Ingest scaling without the embedding model (a stub that returns fixed vectors): read, split,
   store and save for 2 MB and 20 MB of text. Linear means the 10x file takes about 10x the time.
3. Ingest of a 20 MB text file and of a folder of 2,000 files through the real CLI and the bundled
   embedding model: wall time, chunks, peak memory (of the `ingest` process).

Run it alone: a second heavy process on this 2-core machine makes every figure worse.
Everything happens in temporary folders; the user's data is not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HOSTILE = [
    "9**9**9",
    "9**9**9**9",
    "10**10**10",
    "2**-10**10",
    "0.5 ** 1e9",
    "pow(7, 10**8)",
    "1e100000",
    "factorial(100000)",
    "100000!",
    "factorial(10**400)",
    "round(1, 10**9)",
    "tan(10**400)",
    "cosh(1e6)",
    "(" * 240 + "1" + ")" * 240,
    "-" * 400 + "1",
    "1" * 5000,
    "1+" * 5000 + "1",
    "__import__('os')",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "[x for x in range(10**9)]",
    "'a' * 10**9",
]

_WORD_TEXT = (
    "river mountain garden letter window morning evening summer winter bridge market harbour village "
    "station library teacher doctor farmer sailor music colour silver golden quiet bright ancient "
    "little great small old new first last long short high low early late"
)
WORDS = _WORD_TEXT.split()


def text_of(n_bytes: int, seed: int = 1) -> str:
    """Plain prose-like paragraphs of about `n_bytes` characters."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_bytes:
        sentences = []
        for _ in range(rng.randint(3, 8)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
            sentences.append(" ".join(words).capitalize() + ".")
        paragraph = " ".join(sentences)
        parts.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(parts)


def bench_calculator() -> None:
    from agent_app.tools.calculator import calculate

    worst = 0.0
    print("1. hostile calculator input (refusal time)")
    for expression in HOSTILE:
        started = time.perf_counter()
        answer = calculate(expression)
        elapsed = (time.perf_counter() - started) * 1000
        worst = max(worst, elapsed)
        refused = answer.startswith("calculator error")
        print(f"   {elapsed:7.2f} ms  {'refused' if refused else 'ANSWERED'}  {expression[:40]!r}")
    print(f"   worst {worst:.2f} ms over {len(HOSTILE)} cases (target < 50 ms): {'ok' if worst < 50 else 'SLOW'}")


def bench_scaling(tmp: Path) -> None:
    import numpy as np
    from langchain_core.embeddings import Embeddings

    from agent_app.retrieval.ingestion import ingest

    class FixedVectors(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return np.ones((len(texts), 384), dtype=np.float32).tolist()

        def embed_query(self, text: str) -> list[float]:
            return [1.0] * 384

    print("2. ingest without the embedding model (read, split, store, save)")
    times = {}
    for mb in (2, 20):
        folder = tmp / f"scale{mb}"
        folder.mkdir()
        (folder / "big.txt").write_text(text_of(mb * 1_000_000, seed=mb), encoding="utf-8")
        os.environ["AGENT_APP_DATA_DIR"] = str(tmp / f"data-scale{mb}")
        started = time.perf_counter()
        report = ingest([folder], embeddings=FixedVectors())
        times[mb] = time.perf_counter() - started
        print(f"   {mb:3d} MB: {report.total_chunks} chunks in {times[mb]:.2f} s")
    print(f"   20 MB / 2 MB time ratio: {times[20] / times[2]:.1f} (linear: about 10)")


def run_ingest(path: Path, data: Path) -> tuple[float, dict, float]:
    """Wall time, the JSON report and the child's peak RSS in MB."""
    env = {**os.environ, "AGENT_APP_DATA_DIR": str(data)}
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "ingest", str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, json.loads(out.stdout), max(peak, before) / 1024


def bench_big(tmp: Path, mb: int, files: int) -> None:
    print(f"3. real ingest through the CLI (the bundled embeddings, {os.cpu_count()} cores)")
    big = tmp / "one-big-file"
    big.mkdir()
    (big / "book.txt").write_text(text_of(mb * 1_000_000, seed=7), encoding="utf-8")
    wall, report, peak = run_ingest(big, tmp / "data-big")
    print(
        f"   {mb} MB file: {report['total_chunks']} chunks, {wall:.0f} s wall, "
        f"{report['total_chunks'] / wall:.1f} chunks/s, peak RSS {peak:.0f} MB"
    )
    if not files:
        return
    many = tmp / "many-files"
    many.mkdir()
    for i in range(files):
        (many / f"note-{i:04d}.txt").write_text(text_of(600, seed=1000 + i), encoding="utf-8")
    wall, report, peak = run_ingest(many, tmp / "data-many")
    print(
        f"   {files} files: {report['total_chunks']} chunks, {wall:.0f} s wall, "
        f"{report['total_chunks'] / wall:.1f} chunks/s, peak RSS {peak:.0f} MB (peak of all children so far)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=20, help="size of the big text file")
    parser.add_argument("--files", type=int, default=2000, help="files in the many-files folder (0: skip)")
    parser.add_argument("--skip-big", action="store_true", help="only the calculator and the scaling check")
    args = parser.parse_args()
    bench_calculator()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bench_scaling(tmp)
        if not args.skip_big:
            bench_big(tmp, args.mb, args.files)


if __name__ == "__main__":
    main()
