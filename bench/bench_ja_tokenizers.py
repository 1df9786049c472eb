"""Japanese morphological analysers for keyword search, compared on the same text.

    .venv/bin/python bench/bench_ja_tokenizers.py

For each installed candidate (sudachipy + sudachidict-core, fugashi + unidic-lite, janome):
load time, throughput on the Japanese documents of bench/retrieval_eval/ (repeated to about
100,000 characters), and the tokens it gives for a few hard cases (digits with counters,
particles, mixed Japanese and English, inflected verbs). Import cost counts: the chat imports the
analyser on the first keyword search.
"""

from __future__ import annotations

import time
from pathlib import Path

HERE = Path(__file__).parent
CASES = [
    "月200回まで使えます",
    "図書館は午前10時に開きます",
    "LangChainでRAGを作る",
    "本を借りられますか",
    "東京都に住んでいる",
]


def sudachi():
    from sudachipy import Dictionary, SplitMode

    tok = Dictionary().tokenizer()
    return lambda text: [(m.surface(), m.part_of_speech()[0]) for m in tok.tokenize(text, SplitMode.C)]


def fugashi():
    import fugashi as fg

    tagger = fg.Tagger()
    return lambda text: [(w.surface, w.feature.pos1) for w in tagger(text)]


def janome():
    from janome.tokenizer import Tokenizer

    tok = Tokenizer()
    return lambda text: [(t.surface, t.part_of_speech.split(",")[0]) for t in tok.tokenize(text)]


def main() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((HERE / "retrieval_eval").glob("ja_*.txt")))
    lines = (text * (100_000 // len(text) + 1)).splitlines()
    chars = sum(map(len, lines))
    for name, make in (("sudachipy", sudachi), ("fugashi", fugashi), ("janome", janome)):
        try:
            started = time.perf_counter()
            analyse = make()
            analyse("準備")
            load = time.perf_counter() - started
        except ImportError as exc:
            print(f"{name:10s} not installed ({exc})")
            continue
        started = time.perf_counter()
        for line in lines:
            analyse(line)
        rate = chars / (time.perf_counter() - started)
        print(f"{name:10s} load {load:5.2f} s   {rate / 1000:7.0f}k chars/s")
        for case in CASES:
            print("           ", " ".join(f"{s}/{p}" for s, p in analyse(case)))


if __name__ == "__main__":
    main()
