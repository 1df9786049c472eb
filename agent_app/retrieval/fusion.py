"""Fusing the vector and keyword rankings into one.

Why not reciprocal rank fusion (ours before, and LangChain's `EnsembleRetriever`): it scores a
chunk by its ranks in the candidate lists only, so a chunk that sits second in both lists beats
the chunk that one retriever put first by a wide margin and the other did not fetch at all.
Measured on the project's Japanese questions, character-bigram BM25 put the right chunk first
for 12 of 20 and the fusion threw most of those away.

Here every candidate (the union of both lists) is scored by both retrievers: its cosine
similarity is computed even when FAISS did not return it, and its BM25 score even when the
keyword search did not. Each score is scaled to [0, 1] over the candidates (min-max for cosine,
with a floor on the range; divided by the best for BM25, whose floor is 0), and the fused score
is their weighted sum
(`vector_weight`, tuned on the tuning half of bench/retrieval_questions.yaml). A strong hit
keeps its lead; a weak first place does not. Finally, the top hit of each retriever is kept in
the results (`keep_top_hits`): one retriever's clear winner is never dropped from the k shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIN_SPREAD = 0.1
"""Cosine range below which vector scores count as near-ties (see `fuse`)."""


@dataclass(frozen=True)
class Hit:
    """One chunk of a search: its position in the collection and what each retriever said."""

    position: int
    vector_score: float
    """Cosine similarity of the query and the chunk."""
    keyword_score: float
    """BM25 score (0 when no query keyword is in the chunk)."""
    fused: float
    """The weighted sum of both scores, scaled over the candidates: what results are sorted by."""
    vector_rank: int | None = None
    """1-based rank by cosine similarity among the candidates."""
    keyword_rank: int | None = None
    """1-based rank by BM25 among the candidates (None: no query keyword in the chunk)."""


def fuse(
    positions: Sequence[int],
    vector_scores: Sequence[float],
    keyword_scores: Sequence[float],
    *,
    vector_weight: float,
) -> list[Hit]:
    """Hits for candidates scored by both retrievers, best first (ties: the order given)."""
    if not positions:
        return []
    low, high = min(vector_scores), max(vector_scores)
    # Candidates whose cosines all lie within MIN_SPREAD are near-ties: plain min-max would
    # stretch noise-level differences to the full 0-1 range and drown a clear keyword winner.
    spread = max(high - low, MIN_SPREAD)
    best_keyword = max(keyword_scores)
    vector_order = _ranks(vector_scores)
    keyword_order = _ranks(keyword_scores)
    hits = []
    for i, position in enumerate(positions):
        # Measured down from the best (not up from the worst), so the best candidate scores 1
        # and a lone one is not shown as 0; the same differences, so the same order.
        vector = max(0.0, 1.0 - (high - vector_scores[i]) / spread)
        keyword = keyword_scores[i] / best_keyword if best_keyword > 0 else 0.0
        hits.append(
            Hit(
                position=position,
                vector_score=vector_scores[i],
                keyword_score=keyword_scores[i],
                fused=vector_weight * vector + (1 - vector_weight) * keyword,
                vector_rank=vector_order[i],
                keyword_rank=keyword_order[i] if keyword_scores[i] > 0 else None,
            )
        )
    return sorted(hits, key=lambda h: -h.fused)  # stable: ties keep the given order


def keep_top_hits(hits: list[Hit], k: int) -> list[Hit]:
    """The first k hits, with each retriever's top hit among them (it takes the last place
    held by a hit that is neither retriever's top)."""
    top = hits[:k]
    for key in ("vector_rank", "keyword_rank"):
        best = next((h for h in hits if getattr(h, key) == 1), None)
        if best is None or best in top:
            continue
        for i in range(len(top) - 1, -1, -1):
            if top[i].vector_rank != 1 and top[i].keyword_rank != 1:
                top[i] = best
                break
        top.sort(key=lambda h: -h.fused)
    return top


def _ranks(scores: Sequence[float]) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ranks = [0] * len(scores)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks
