"""Shared helpers for the template and chain tests."""

from __future__ import annotations

import hashlib
import math
import re
import textwrap
from pathlib import Path

from langchain_core.embeddings import Embeddings


def write(folder: Path, name: str, text: str) -> Path:
    """Write a template file (dedented) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


class BagOfWordsEmbeddings(Embeddings):
    """Deterministic stand-in for MiniLM: texts sharing words are similar."""

    size = 64

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.size
        for word in re.findall(r"\w+", text.lower()):
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.size] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
