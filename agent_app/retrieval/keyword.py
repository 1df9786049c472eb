"""Keyword search: a tokenizer that works for English and Japanese, and BM25 over chunks.

English: lower-cased words, the commonest function words dropped. Japanese has no spaces: its
runs go through a morphological analyser with its dictionary (SudachiPy + sudachidict-core,
chosen by bench/bench_ja_tokenizers.py: the fastest of the three candidates here and the only
one that gives normalised forms, so 開きます and 開く meet). Particles, auxiliaries and
symbols are dropped, verbs and adjectives are reduced to their normalised form, and a number
keeps its counter ("10冊", and "冊" alone, so "何冊" finds it). This replaced character bigrams,
which broke at digits ("月200回" -> "で月 / 200 / 回し") and matched particles everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af々〆"
# A Japanese span: CJK characters with the digits and long-vowel marks between them (so a
# number stays next to its counter); everything else is English-like words.
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}0-9.ー]*[{_CJK}][{_CJK}0-9.ー]*)|(?P<word>[^\W_{_CJK}]+)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Only the most frequent English words: they add noise to keyword scores of questions.
_STOPWORD_LIST = (
    "a an and are as at be by do does for from how in is it of on or the this that to was "
    "what when where which who why with"
)
_STOPWORDS = frozenset(_STOPWORD_LIST.split())
# Part-of-speech classes (UniDic's, as Sudachi reports them) that carry no content.
_DROP_POS = frozenset(["助詞", "助動詞", "補助記号", "記号", "空白", "接続詞", "感動詞", "連体詞", "代名詞", "接頭辞"])
# Verbs and adjectives that only support another word (いる, ある, する, なる, できる ...).
_FUNCTIONAL = "非自立可能"


def tokenize(text: str) -> list[str]:
    """Keyword tokens of English and Japanese text (NFKC-normalised and case-folded first)."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).casefold()):
        if span := match.group("cjk"):
            tokens.extend(_japanese_tokens(span))
        elif (word := match.group("word")) not in _STOPWORDS:
            tokens.append(word)
    return tokens


@lru_cache(maxsize=1)
def _analyser() -> Any:
    from sudachipy import Dictionary, SplitMode

    return Dictionary(dict="core").tokenizer(mode=SplitMode.A)


@lru_cache(maxsize=65536)
def _japanese_tokens(span: str) -> tuple[str, ...]:
    out: list[str] = []
    number = ""  # the number just before, waiting for its counter
    for m in _analyser().tokenize(span):
        pos = m.part_of_speech()
        surface = m.surface()
        if pos[1] == "数詞" and _NUMBER.fullmatch(surface):
            out.append(surface)
            number = surface
            continue
        if number and (pos[0] == "接尾辞" or pos[2] == "助数詞可能"):  # 10冊, 200回, 1.2リットル
            out += [surface, number + surface]
        elif pos[0] == "代名詞" and surface.startswith("何") and len(surface) > 1:
            out.append(surface[1:])  # 何時 -> 時: the counter is what an answer holds
        elif pos[0] in _DROP_POS or (pos[1] == _FUNCTIONAL and pos[0] in ("動詞", "形容詞")):
            pass
        else:
            out.append(m.normalized_form() if pos[0] in ("動詞", "形容詞") else surface)
        number = ""
    return tuple(out)


class KeywordIndex:
    """BM25 (Okapi, from rank-bm25) over a fixed list of texts; positions are list indexes.

    Scores equal rank-bm25's, but come from an inverted index: its own get_scores loops over
    every document in Python for each query term (milliseconds per term at 10,000 chunks),
    postings touch only the documents that hold the term.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        import numpy as np
        from rank_bm25 import BM25Okapi

        self.bm25: Any = BM25Okapi([tokenize(t) for t in texts]) if texts else None
        self._postings: dict[str, tuple[Any, Any]] = {}
        if self.bm25 is None:
            return
        doc_ids: dict[str, list[int]] = {}
        freqs: dict[str, list[int]] = {}
        for doc_id, frequencies in enumerate(self.bm25.doc_freqs):
            for word, freq in frequencies.items():
                doc_ids.setdefault(word, []).append(doc_id)
                freqs.setdefault(word, []).append(freq)
        self._postings = {
            word: (np.array(ids, dtype=np.int64), np.array(freqs[word], dtype=np.float64))
            for word, ids in doc_ids.items()
        }
        bm25 = self.bm25
        doc_len = np.array(bm25.doc_len, dtype=np.float64)
        self._length_norm = bm25.k1 * (1 - bm25.b + bm25.b * doc_len / bm25.avgdl)

    def vocabulary(self) -> Any:
        """Every token some chunk holds (a set-like view)."""
        return self._postings.keys()

    def scores(self, query: str) -> Any:
        """BM25 score of every position (a numpy array), as rank-bm25's get_scores computes it."""
        import numpy as np

        if self.bm25 is None:
            return np.zeros(0)
        bm25 = self.bm25
        scores = np.zeros(bm25.corpus_size)
        for word in tokenize(query):
            if (posting := self._postings.get(word)) is not None:
                ids, tf = posting
                # A word in most chunks says nothing: rank-bm25's idf for it can be negative (in
                # small collections), and a query repeating it scored -3845; it counts 0 here.
                scores[ids] += max(bm25.idf[word], 0.0) * tf * (bm25.k1 + 1) / (tf + self._length_norm[ids])
        return scores

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to k positions sharing a term with the query, best BM25 score first."""
        import numpy as np

        postings = [self._postings[w] for w in set(tokenize(query)) if w in self._postings]
        if not postings:
            return []
        # Rank every document that shares a term, even one whose score is not positive
        # (rank-bm25 floors idf of very common terms, which can be negative in tiny corpora).
        hit = np.zeros(self.bm25.corpus_size, dtype=bool)
        for ids, _ in postings:
            hit[ids] = True
        matched = np.flatnonzero(hit)
        scores = self.scores(query)[matched]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(matched[i]), float(scores[i])) for i in order]
