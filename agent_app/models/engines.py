"""Which engine runs the local model's forward passes, and the key/value cache they share.

An `Engine` runs the new tokens of a sequence on top of what its cache holds and returns their
logits as numpy rows; models.decoding drives it. Two engines:
- `TorchEngine`: any transformers causal LM on torch (fp32, int8, bf16, ...);
- `models.onnx_q4.OnnxEngine`: the bundled GGUF's own 4-bit weights on ONNX Runtime, which needs
  neither torch nor transformers.

The prefix cache lives here, the same for both: every agent step and every chat turn starts with
the same system prompt, examples and history as the one before, so `prefill` cuts the cache back
to the prefix the new prompt shares with the last one and computes only the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from agent_app.models.decode_threads import DecodeThreads

# A shared prefix shorter than this is computed again rather than cut out of the cache.
MIN_REUSED_TOKENS = 16


class Engine(ABC):
    """A model's forward pass over one sequence, its key/value cache, and its threads."""

    exact_batches = True
    """Whether a token's logits are the same computed alone or with others in one pass (the
    decode loop guesses tokens ahead only then)."""
    min_computed_tokens = 1
    """Prompt tokens a reused cache still leaves to compute."""
    min_reused_share = 0.0
    """A shared prefix under this share of the prompt is computed again (see TorchEngine)."""

    def __init__(self, threads: int, decode_threads: DecodeThreads) -> None:
        self.threads = threads
        """Threads a prompt is read on."""
        self.decode_threads = decode_threads
        """Threads once the prompt is read: timed between counts (models.decode_threads)."""
        self.reuse_prefix = True
        """Keep the key/value cache of the last prompt and start the next one from the prefix
        they share (see `prefill`)."""
        self.reused_tokens = 0
        """Prompt tokens the last prefill took from the cache instead of computing."""
        self._cached_ids: list[int] = []  # the last prompt; the cache holds at least these

    # -- what each engine provides ---------------------------------------------------------
    @property
    @abstractmethod
    def length(self) -> int:
        """Tokens in the cache."""

    @abstractmethod
    def forward(self, ids: list[int], keep: int = 1) -> np.ndarray:
        """Run `ids` after the cache (which then holds them too); the logits of the last `keep`
        positions (0: all), float32 rows."""

    @abstractmethod
    def crop(self, length: int) -> None:
        """Cut the cache back to its first `length` tokens."""

    @abstractmethod
    def write_on(self, count: int) -> None:
        """Run passes over one token on `count` threads from now on."""

    @abstractmethod
    def read_on_all(self) -> None:
        """Back to `threads` for the next prompt."""

    def branch_logits(self, branches: dict[int, list[int]]) -> dict[int, np.ndarray]:
        """For each branch, the logits after each of its tokens, every branch on top of the
        current cache as if alone; the cache is left as it was. One pass per branch here."""
        start = self.length
        out = {}
        for i, ids in branches.items():
            out[i] = self.forward(ids, keep=0)
            self.crop(start)
        return out

    # -- the shared-prefix cache -----------------------------------------------------------
    def forget(self) -> None:
        """Drop what the cache holds: the next prompt is computed whole."""
        self.crop(0)
        self._cached_ids = []

    def prefill(self, ids: list[int]) -> np.ndarray:
        """Run the prompt `ids`, reusing the prefix it shares with the last prompt; the logits
        after its last token. Model thread only."""
        start = self._reusable(ids)
        self.crop(start)
        logits = self.forward(ids[start:], keep=1)[-1]
        self.reused_tokens = start
        self._cached_ids = list(ids)
        return logits

    def _reusable(self, ids: list[int]) -> int:
        if not self.reuse_prefix or not self._cached_ids:
            return 0
        limit = min(len(ids) - self.min_computed_tokens, len(self._cached_ids), self.length)
        shared = next((i for i in range(limit) if ids[i] != self._cached_ids[i]), max(limit, 0))
        if shared < max(MIN_REUSED_TOKENS, self.min_reused_share * len(ids)):
            return 0
        return shared

    # -- threads -------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[DecodeThreads]:
        """Token-by-token work runs on the threads `decode_threads` chooses (call its `step()`
        after each forward pass); back to `threads` after (the next prompt is read on all)."""
        self.decode_threads.start()
        try:
            yield self.decode_threads
        finally:
            self.read_on_all()


class TorchEngine(Engine):
    """A transformers causal LM on torch."""

    min_reused_share = 0.15
    """After a cached prefix, sdpa cannot use its causal kernel (which skips the blocks above
    the diagonal) and gets an explicit mask instead: 54 against 31 ms a layer for 1,526 tokens. A
    new RAG question that shared only the 51-token system prompt was read in 3.7 s, against
    2.9-3.2 s computed whole (4 runs each, alternated). By the per-token cost of the matrix
    products and both attentions, the prefix pays from about 15% of the prompt."""

    def __init__(
        self, model: Any, hf_tokenizer: Any, threads: int, counts: tuple[int, ...], *, exact_batches: bool = True
    ) -> None:
        import torch

        super().__init__(threads, DecodeThreads(counts, torch.set_num_threads))
        self.model = model
        self.hf_tokenizer = hf_tokenizer
        """transformers' tokenizer of the model (for a transformers pipeline over it)."""
        self.exact_batches = exact_batches
        self.cache: Any = None

    @property
    def length(self) -> int:
        return int(self.cache.get_seq_length()) if self.cache is not None else 0

    def forward(self, ids: list[int], keep: int = 1) -> np.ndarray:
        import torch

        with torch.inference_mode():
            # Only the kept positions' logits: the others would cost a vocabulary-wide matrix
            # product per prompt token (as transformers' own generate, logits_to_keep=1).
            out = self.model(
                input_ids=torch.tensor([ids]), past_key_values=self.cache, use_cache=True, logits_to_keep=keep
            )
        self.cache = out.past_key_values
        return np.asarray(out.logits[0].float().numpy())

    def crop(self, length: int) -> None:
        if self.cache is None:
            return
        if length <= 0:
            self.cache = None
        elif length < self.length:
            self.cache.crop(length - self.length)  # transformers 5: a negative count of tokens to drop

    def write_on(self, count: int) -> None:
        import torch

        torch.set_num_threads(count)

    def read_on_all(self) -> None:
        import torch

        torch.set_num_threads(self.threads)

    def branch_logits(self, branches: dict[int, list[int]]) -> dict[int, np.ndarray]:
        """All branches in one forward pass: each token at its own position (start + depth),
        seeing only the prompt and its own branch's earlier tokens (a custom 4D attention mask).
        A pass reads every weight once however many tokens it holds, so one pass over all
        candidates costs about two over one token: scored one by one, the candidates took most
        of an agent step (bench/bench_agent.py)."""
        import torch

        start = self.length
        tokens: list[int] = []
        positions: list[int] = []
        owner: list[int] = []
        for i, ids in branches.items():
            tokens += ids
            positions += range(start, start + len(ids))
            owner += [i] * len(ids)
        n = len(tokens)
        row_owner = torch.tensor(owner)
        depth = torch.tensor(positions)
        own = (row_owner[:, None] == row_owner[None, :]) & (depth[None, :] <= depth[:, None])
        mask = torch.cat([torch.ones(n, start, dtype=torch.bool), own], dim=1)[None, None]
        with torch.inference_mode():
            logits = self.model(
                input_ids=torch.tensor([tokens]),
                position_ids=torch.tensor([positions]),
                attention_mask=mask,
                past_key_values=self.cache,
                use_cache=True,
            ).logits[0]
        self.crop(start)  # back to the prompt's cache
        rows = np.asarray(logits.float().numpy())
        out, row = {}, 0
        for i, ids in branches.items():
            out[i] = rows[row : row + len(ids)]
            row += len(ids)
        return out
