"""Reciprocal rank fusion: merging ranked lists using only ranks, so scores on different
scales (cosine similarity, BM25) need no calibration. score(d) = sum of 1 / (k + rank)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)

RRF_K = 60  # the constant from Cormack et al. (2009); dampens the weight of the very top ranks


def reciprocal_rank_fusion(rankings: Sequence[Sequence[T]], k: int = RRF_K) -> list[tuple[T, float]]:
    """Fuse best-first rankings into one, best first; ties keep the order of first appearance."""
    scores: dict[T, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    # dicts keep insertion order, and sorted() is stable, so ties stay in first-seen order
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
