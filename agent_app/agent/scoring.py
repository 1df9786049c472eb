"""The agent's two uses of the local model beyond plain text: choosing among continuations, and
writing a line held to constraints. Both run on the model's one decode path (models.decoding).

Instead of letting a 135M model write the action name (it invents tools and breaks the format),
the log-likelihood of every allowed continuation ("Action: calculator\\n", ..., "Final Answer:")
is computed after the prompt, and the likeliest taken.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from agent_app.models.decoding import DRAFT_TOKENS, AllowedTokens, CopyBoost, Decoding, NoRepeatNGram, Processor

if TYPE_CHECKING:
    from agent_app.models.local_runtime import LocalRuntime

NO_REPEAT = 3
"""A repeated run of this many tokens is never written: greedy decoding of a small model loops otherwise."""


def score_continuations(runtime: LocalRuntime, prompt: str, candidates: Sequence[str]) -> list[float]:
    """Total log-probability of each candidate text following `prompt`."""
    return runtime.score(prompt, candidates)


def stream_from(
    runtime: LocalRuntime,
    prompt: str,
    *,
    max_tokens: int,
    allowed: set[int] | None = None,
    copy_from: Sequence[str] = (),
    boost_value: float = 0.0,
    draft_tokens: int | None = None,
) -> Iterator[str]:
    """Greedy text after `prompt`, streamed, ending at a newline or eos; on the model thread.

    - `allowed`: only these token ids may be written (models.decoding.AllowedTokens: asked for a
      search query, the model copies the question's words instead of inventing an answer).
    - `copy_from`: a soft pull towards copying these texts (the observations, into the final
      answer, where the model otherwise invents numbers): models.decoding.CopyBoost, by `boost_value`.
    - `draft_tokens`: guess up to this many tokens ahead (models.decoding.draft; by default
      DRAFT_TOKENS where the engine allows it, none on int8 and q4); the text is the same.
    """
    ends = runtime.line_ends()
    processors: list[Processor] = []
    if allowed is not None:
        processors.append(AllowedTokens(allowed | ends))
    if boost_value and copy_from:
        spans = [runtime.tokenizer.encode(" " + text) for text in copy_from]
        processors.append(CopyBoost(spans, boost_value, span_ends=ends))
    processors.append(NoRepeatNGram(NO_REPEAT, new_only=True))
    if draft_tokens is None:
        draft_tokens = DRAFT_TOKENS if runtime.engine.exact_batches else 0
    yield from runtime.write_line(prompt, Decoding(max_tokens, ends, processors, draft_tokens=draft_tokens))
