"""Embedding similarity between the question and the template's worked examples.

Two uses, both measured by bench/bench_agent.py:
- example selection: the closest example of each action (calculator, web_search, weather, none),
  so the model sees every format but the most relevant one last, where a small model looks most;
- a routing prior: a similarity-weighted vote of the nearest examples over the actions, added
  (as a log-probability) to the model's own scores of each action on the local backend.

A tool the template has no examples of (an MCP server's) votes with its name in words and with
its description instead ("secret word", "Return the word the server holds."), and a question
that names it votes for it as much as the nearest example; so it is not ruled out by having no
examples. These texts only vote, they are never shown as worked examples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from agent_app.agent.template import Example

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

PRIOR_NEIGHBOURS = 5
PRIOR_TEMPERATURE = 0.05  # cosine similarities differ by a few hundredths between close examples
PRIOR_FLOOR = 0.02  # no action is ever ruled out by the prior alone


class ExampleRouter:
    """Similarity of a question to each example; embeddings of the examples computed once."""

    def __init__(
        self,
        examples: list[Example],
        embeddings: Embeddings | None,
        described: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`described`: tool name -> routing texts, for the tools without examples."""
        self.examples = examples
        self._voters = [(name, text) for name, texts in (described or {}).items() for text in texts]
        self._embeddings = embeddings
        self._vectors: list[list[float]] | None = None
        self._actions = [e.action for e in examples] + [name for name, _ in self._voters]

    @property
    def enabled(self) -> bool:
        return self._embeddings is not None and bool(self._actions)

    def similarities(self, question: str) -> list[float]:
        """Cosine similarity of `question` to every example, then to every description (0 for
        all without embeddings)."""
        if not self.enabled:
            return [0.0] * len(self._actions)
        assert self._embeddings is not None
        if self._vectors is None:
            texts = [e.question for e in self.examples] + [text for _, text in self._voters]
            self._vectors = self._embeddings.embed_documents(texts)
        query = self._embeddings.embed_query(question)
        return [_cosine(query, vector) for vector in self._vectors]

    def select(self, question: str, k: int, sims: list[float] | None = None) -> list[Example]:
        """Up to `k` examples: the best of each action first, then the next best; closest last.

        Without embeddings: the first example of each action, then the rest in file order."""
        if k <= 0 or not self.examples:
            return []
        sims = (sims if sims is not None else self.similarities(question))[: len(self.examples)]
        order = sorted(range(len(self.examples)), key=lambda i: -sims[i])
        picked: list[int] = []
        seen: set[str] = set()
        for i in order:  # one per action, the best of each
            if self.examples[i].action not in seen:
                seen.add(self.examples[i].action)
                picked.append(i)
        picked = picked[:k] + [i for i in order if i not in picked][: max(0, k - len(picked))]
        picked.sort(key=lambda i: sims[i])  # closest last
        return [self.examples[i] for i in picked]

    def prior(self, question: str, actions: list[str], sims: list[float] | None = None) -> dict[str, float]:
        """P(action | question) from the nearest examples (uniform without embeddings)."""
        if not self.enabled:
            return {a: 1 / len(actions) for a in actions}
        sims = sims if sims is not None else self.similarities(question)
        nearest = sorted(range(len(sims)), key=lambda i: -sims[i])[:PRIOR_NEIGHBOURS]
        votes = {a: 0.0 for a in actions}
        top = sims[nearest[0]]
        for i in nearest:
            action = self._actions[i]
            if action in votes:
                votes[action] += math.exp((sims[i] - top) / PRIOR_TEMPERATURE)
        for action in self._named(question, votes):
            votes[action] += 1.0  # as much as the nearest example's vote
        total = sum(votes.values()) or 1.0
        probs = {a: PRIOR_FLOOR + (1 - PRIOR_FLOOR * len(actions)) * v / total for a, v in votes.items()}
        return probs

    def _named(self, question: str, actions: Iterable[str]) -> list[str]:
        """Tools without examples that the question names ("use the shout tool", "the secret
        word"): every word of the name is in the question. The embeddings alone miss a name
        that is also an ordinary word the examples use ("Shout ..." reads like small talk)."""
        words = set(re.findall(r"\w+", question.lower()))
        described = {name for name, _ in self._voters}
        return [a for a in actions if a in described and set(re.findall(r"[^\W_]+", a.lower())) <= words]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


def routing_texts(name: str, description: str) -> list[str]:
    """What a tool without examples is routed by: its name in words, and its description's
    first line (the name carries "secret word"; the description carries "capital letters")."""
    first = (description.strip().splitlines() or [""])[0]
    return [name.replace("_", " ").replace("-", " "), first] if first else [name.replace("_", " ")]
