"""Keyword search: a tokenizer that works for English and Japanese, and BM25 over chunks.

Japanese has no spaces, so runs of CJK characters become overlapping character bigrams
(東京都 -> 東京, 京都), the usual trick for CJK keyword search without a dictionary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")
# Only the most frequent English words: they add noise to keyword scores of questions.
_STOPWORD_LIST = (
    "a an and are as at be by do does for from how in is it of on or the this that to was "
    "what when where which who why with"
)
_STOPWORDS = frozenset(_STOPWORD_LIST.split())


def tokenize(text: str) -> list[str]:
    """Lower-cased words, plus character bigrams for CJK runs (NFKC-normalised first)."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).casefold()):
        if run := match.group("cjk"):
            tokens.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        elif (word := match.group("word")) not in _STOPWORDS:
            tokens.append(word)
    return tokens


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
                scores[ids] += bm25.idf[word] * tf * (bm25.k1 + 1) / (tf + self._length_norm[ids])
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
