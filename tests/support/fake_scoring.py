"""A scripted small model for the constrained agent (`LocalPolicy`): fast, deterministic tests.

`ScriptedScorer` stands in for the local runtime where the policy uses it: it scores the action
candidates from a table and writes the lines (tool inputs, answers) of a script, recording the
constraints it was given. `scripted_small_model` wraps it as a chat model whose profile says
"small, with scoring" (models.profile), so `build_agent` picks `LocalPolicy` as for the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from langchain_core.language_models import FakeListLLM
from langchain_core.messages import BaseMessage

from agent_app.models.decoding import AllowedTokens, Decoding
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.profile import ModelProfile


class ByteTokenizer:
    """One token per UTF-8 byte (what the policy's token counts and allowed sets need)."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(text.encode("utf-8"))


class ScriptedScorer:
    def __init__(self, scores: list[dict[str, float]], lines: list[str]) -> None:
        """`scores`: per step, action name ("calculator", ..., "Final Answer") -> log-probability
        (others get -10; the last table serves the later steps); `lines`: what each constrained
        line writes, in order."""
        self.scores, self.lines = list(scores), list(lines)
        self.tokenizer = ByteTokenizer()
        self.engine = SimpleNamespace(exact_batches=True)
        self.written: list[Decoding] = []
        """The constraints of every line written."""

    def score(self, prompt: str, candidates: list[str]) -> list[float]:
        def name(candidate: str) -> str:
            return candidate.strip().removeprefix("Action:").strip().rstrip(":")

        table = self.scores.pop(0) if len(self.scores) > 1 else self.scores[0]
        return [table.get(name(c), -10.0) for c in candidates]

    def line_ends(self) -> set[int]:
        return {10}

    def write_line(self, prompt: str, how: Decoding) -> Iterator[str]:
        self.written.append(how)
        line = self.lines.pop(0) if self.lines else ""
        allowed = next((p for p in how.processors if isinstance(p, AllowedTokens)), None)
        if allowed is not None:  # the constraint holds: bytes outside the allowed set are not written
            ids = set(allowed.ids.tolist())
            line = bytes(b for b in line.encode("utf-8") if b in ids).decode("utf-8", "ignore")
        yield line


class ScriptedSmallModel(ScriptedChatModel):
    """A chat model the app treats as a small local one (its profile has a scorer)."""

    scorer: Any = None
    llm: Any = None

    @property
    def app_profile(self) -> ModelProfile:
        return ModelProfile(small=True, scoring=self.scorer, tokenizer=self.scorer.tokenizer)

    def render(self, messages: list[BaseMessage]) -> str:
        return "\n".join(f"{m.type}: {m.text}" for m in messages) + "\n"


def scripted_small_model(
    scores: list[dict[str, float]], lines: list[str], free_text: list[str] = ()
) -> ScriptedSmallModel:
    """`free_text`: what the unconstrained lines (thoughts, answers without a tool) say."""
    return ScriptedSmallModel(
        scorer=ScriptedScorer(scores, lines), llm=FakeListLLM(responses=list(free_text) or ["Hello!"])
    )
