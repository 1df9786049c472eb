"""What the chains return when a reply is more than text."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class ChainResult:
    """A chain's reply plus what led to it, for the chat to show and `--json` to print.

    `text` is what to show the user; the other fields are set by the kinds that produce them.
    """

    text: str
    """The reply as it should be shown (may include votes, knowledge or steps)."""
    kind: str = "chat"
    answer: str | None = None
    """The final answer alone (chain-of-thought, self-consistency)."""
    data: Any = None
    """The parsed output of a json or list output format."""
    reasoning: str | None = None
    """The reasoning before the final answer (chain-of-thought)."""
    votes: dict[str, int] | None = None
    """Answer -> number of samples that gave it, most votes first (self-consistency)."""
    samples: list[str] | None = None
    """Every sampled reply (self-consistency)."""
    knowledge: str | None = None
    """The generated facts (generate-knowledge)."""
    steps: dict[str, str] | None = None
    """Step name -> output, in order (sequential)."""
    parts: list[str] | None = None
    """The summary of each part (map-reduce)."""
    retries: int = 0
    """Fix-and-retry rounds that were needed (structured)."""
    raw: str | None = None
    """The model's last raw reply, when `text` differs from it."""
    answer_source: str | None = None
    """Where a retrieval answer came from: "generated" (checked against the passages), "quoted"
    (the passages' own sentences) or "not found"."""
    match_score: float | None = None
    """How much of the question the best passage sentence covers (0-1), for quoted answers."""
    evidence_score: float | None = None
    """Where the best retrieved passage's score stands between an unrelated question's (0) and a
    sentence of the documents' own (1), on this collection (see agent_app.retrieval.evidence)."""
    absent_terms: list[str] | None = None
    """Name-like terms of the question that no document of the collection holds."""

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, for JSON output."""
        return {k: v for k, v in asdict(self).items() if v is not None and not (k == "retries" and v == 0)}


def result_text(output: Any) -> str:
    """The text to show for any chain output (a plain string or a `ChainResult`)."""
    return output.text if isinstance(output, ChainResult) else str(output)
