"""The one decode loop of the local model, its logits processors, and candidate scoring.

Every local generation goes through `decode`: a chat answer (sampled, stop strings), a tool call
or JSON answer held to a grammar (models.constrained.GrammarMask), and the agent's constrained
writer (greedy, only some tokens allowed, a pull towards copying the observations). What differs
between them is the list of processors, each a small class here that changes one step's logits
(numpy, float32, one row of the vocabulary), and the sampler. `score` gives the log-probability of
continuations, for the agent's choice of action.

The loop drives an `Engine` (models.engines): one forward pass over the new tokens on top of its
key/value cache. Nothing here imports torch or transformers: on the bundled model's ONNX engine a
one-shot answer loads neither.

Where the processors' behaviour comes from: `RepetitionPenalty`, `NoRepeatNGram`, temperature,
top-k and top-p do what transformers' processors of the same names do (same order, same
arithmetic; greedy outputs are unchanged from when transformers' `generate` ran them, checked on
bench/bench_agent.py's and the tests' prompts), so configured sampling means what it meant.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from agent_app.models.text import StopStringFilter

if TYPE_CHECKING:
    from agent_app.models.engines import Engine
    from agent_app.models.params import GenerationParams
    from agent_app.models.tokens import Tokenizer

NEG_INF = np.float32(-np.inf)


@dataclass
class DecodeState:
    """What a processor may look at: the prompt's tokens and those written so far."""

    prompt: list[int]
    produced: list[int] = field(default_factory=list)


class Processor(Protocol):
    def __call__(self, logits: np.ndarray, state: DecodeState) -> np.ndarray:
        """The step's logits, changed (a processor may change `logits` in place)."""
        ...


class RepetitionPenalty:
    """transformers' repetition penalty: every token already in the prompt or the answer has its
    logit divided by `penalty` (multiplied, when negative)."""

    def __init__(self, penalty: float) -> None:
        self.penalty = np.float32(penalty)

    def __call__(self, logits: np.ndarray, state: DecodeState) -> np.ndarray:
        seen = np.fromiter(set(state.prompt) | set(state.produced), dtype=np.int64)
        seen = seen[seen < logits.shape[0]]
        values = logits[seen]
        logits[seen] = np.where(values < 0, values * self.penalty, values / self.penalty)
        return logits


class NoRepeatNGram:
    """No run of `n` tokens written twice: the token that would complete one is banned.

    `new_only`: look at the answer's tokens only (the agent's writer and grammars: a ban over the
    prompt too would keep the model from copying the values a call needs); otherwise the whole
    sequence, as transformers' `no_repeat_ngram_size`. `unless_stuck`: lift the ban when it
    would leave no allowed token (under a grammar, the only valid continuation may repeat)."""

    def __init__(self, n: int, *, new_only: bool = False, unless_stuck: bool = False) -> None:
        self.n, self.new_only, self.unless_stuck = n, new_only, unless_stuck
        self._next: dict[tuple[int, ...], set[int]] = {}
        self._indexed = 0  # positions of the sequence already in `_next`

    def banned(self, state: DecodeState) -> set[int]:
        tokens = state.produced if self.new_only else state.prompt + state.produced
        k = self.n - 1
        if len(tokens) < self.n:
            return set()
        for i in range(self._indexed, len(tokens) - k):
            self._next.setdefault(tuple(tokens[i : i + k]), set()).add(tokens[i + k])
        self._indexed = max(self._indexed, len(tokens) - k)
        return self._next.get(tuple(tokens[-k:]), set())

    def __call__(self, logits: np.ndarray, state: DecodeState) -> np.ndarray:
        banned = [t for t in self.banned(state) if t < logits.shape[0]]
        if not banned:
            return logits
        if self.unless_stuck:
            kept = logits.copy()
            kept[banned] = NEG_INF
            return kept if bool(np.isfinite(kept).any()) else logits
        logits[banned] = NEG_INF
        return logits


class AllowedTokens:
    """Only these tokens may be written. Why: asked for a search query, the 135M model tends to
    write the answer it imagines ("Jane Austen") instead of the question's words; held to the
    question's (and earlier observations') tokens, it copies a query."""

    def __init__(self, allowed: Iterable[int]) -> None:
        self.ids = np.array(sorted(set(allowed)), dtype=np.int64)

    def __call__(self, logits: np.ndarray, state: DecodeState) -> np.ndarray:
        masked = np.full_like(logits, NEG_INF)
        ids = self.ids[self.ids < logits.shape[0]]
        masked[ids] = logits[ids]
        return masked


class CopyBoost:
    """A soft pull towards copying `spans` (token ids of texts the answer should quote): their
    tokens get `boost` added to their logits, and the token that continues a span already begun
    ("39" -> "1") gets it again. Why: a 135M model otherwise invents the number an observation
    gave, or writes a template placeholder instead of the name a call needs.

    `span_ends`: tokens that may follow a span's last token with the same pull (a copied "391"
    may end the answer, not go on to "391.25")."""

    def __init__(self, spans: Sequence[Sequence[int]], boost: float, span_ends: Iterable[int] = ()) -> None:
        self.boost = np.float32(boost)
        self.follows: dict[int, set[int]] = {}
        ends = set(span_ends)
        for span in spans:
            for a, b in itertools.pairwise(span):
                self.follows.setdefault(a, set()).add(b)
            if span and ends:
                self.follows.setdefault(span[-1], set()).update(ends)
        self.ids = np.array(sorted({t for span in spans for t in span}), dtype=np.int64)

    def __call__(self, logits: np.ndarray, state: DecodeState) -> np.ndarray:
        ids = self.ids[self.ids < logits.shape[0]]
        logits[ids] += self.boost
        if state.produced and state.produced[-1] in self.follows:
            logits[sorted(t for t in self.follows[state.produced[-1]] if t < logits.shape[0])] += self.boost
        return logits


@dataclass(frozen=True)
class Sampling:
    """Sampling as transformers does it: temperature, then top-k, then top-p, then a draw."""

    temperature: float
    top_k: int | None = 50  # transformers' default when none is given, kept so answers read as before
    top_p: float | None = None
    seed: int | None = None

    def sampler(self) -> Callable[[np.ndarray], int]:
        rng = np.random.default_rng(self.seed)

        def draw(logits: np.ndarray) -> int:
            scores = logits / np.float32(self.temperature) if self.temperature != 1.0 else logits.copy()
            if self.top_k:
                k = min(self.top_k, scores.shape[0])
                kth = np.partition(scores, -k)[-k]
                scores[scores < kth] = NEG_INF
            if self.top_p is not None and self.top_p < 1.0:
                order = np.argsort(scores, kind="stable")  # ascending, as transformers
                probs = softmax(scores[order])
                cut = np.cumsum(probs) <= (1 - self.top_p)
                cut[-1] = False  # keep at least one token
                scores[order[cut]] = NEG_INF
            probs = softmax(scores).astype(np.float64)
            return int(rng.choice(probs.shape[0], p=probs / probs.sum()))

        return draw


def greedy(logits: np.ndarray) -> int:
    return int(np.argmax(logits))


def softmax(x: np.ndarray) -> np.ndarray:
    """Probabilities of logits `x` (float32)."""
    e = np.exp(x - np.max(x))
    return np.asarray(e / e.sum(), dtype=np.float32)


@dataclass
class Decoding:
    """How one generation chooses its tokens."""

    max_new: int
    ends: set[int]
    """Tokens that end the text (written, then the loop stops)."""
    processors: list[Processor] = field(default_factory=list)
    sampling: Sampling | None = None
    """None: greedy."""
    draft_tokens: int = 0
    """Greedy only: guess up to this many tokens ahead from the context (`draft`) and check them
    in the same forward pass; the text is the same as without guessing."""


def decode(
    engine: Engine,
    prompt: list[int],
    how: Decoding,
    take: Callable[[int], bool],
    cancel: threading.Event | None = None,
) -> tuple[list[int], str]:
    """Write tokens after `prompt`; `take(token)` receives each one that is not an end token and
    says whether the text is complete (a stop string, a newline the caller stops at).

    Returns the tokens written (an end token included) and why it stopped: "stop", "length" or
    "cancelled". Model thread only (agent_app.torch_thread)."""
    state = DecodeState(list(prompt))
    draw = how.sampling.sampler() if how.sampling else greedy
    drafting = how.draft_tokens if how.sampling is None else 0

    def pick(row: np.ndarray) -> int:
        logits = np.array(row, dtype=np.float32)  # a row may be picked from twice: keep it intact
        for processor in how.processors:
            logits = processor(logits, state)
        return draw(logits)

    def write(token: int) -> bool:
        """Write `token`; True when the text is complete."""
        state.produced.append(token)
        return token in how.ends or take(token)

    cancel = cancel or threading.Event()
    logits = engine.prefill(prompt)
    with engine.writing() as threads:
        while len(state.produced) < how.max_new:
            if cancel.is_set():
                return state.produced, "cancelled"
            token = pick(logits)
            if write(token):
                return state.produced, "stop"
            room = how.max_new - len(state.produced)
            if not room:
                break
            guess = [
                t
                for t in itertools.takewhile(
                    lambda t: t not in how.ends, draft(prompt + state.produced, min(drafting, room))
                )
            ]
            rows = engine.forward([token, *guess], keep=len(guess) + 1)
            threads.step()
            right = 0
            for guessed in guess:  # row `right` holds the logits after the last token written
                if cancel.is_set() or pick(rows[right]) != guessed:
                    break
                right += 1
                if write(guessed):
                    engine.crop(engine.length - (len(guess) - right))
                    return state.produced, "stop"
            if right < len(guess):
                engine.crop(engine.length - (len(guess) - right))  # the wrong guesses' key/values
            logits = rows[right]
    return state.produced, "cancelled" if cancel.is_set() else "length"


DRAFT_TOKENS = 6
"""Tokens guessed ahead per step (see `draft`): 2, 4 and 6 compared on the tune half of
bench/bench_agent.py's generations; 6 needed the fewest passes."""


def draft(context: list[int], k: int) -> list[int]:
    """Up to `k` tokens that followed the latest earlier occurrence of the context's last two
    tokens (else its last one): prompt lookup decoding.

    The agent's inputs and answers mostly copy the question and the tool results, which are in
    the prompt, so the guess is often right. A forward pass over 7 tokens costs about 1.5 of one
    over 1 (decoding reads every weight once either way), so each right guess saves most of a
    step; a wrong one is dropped (its key/values cut from the cache)."""
    if k <= 0:
        return []
    for n in (2, 1):
        if len(context) <= n:
            continue
        tail = context[-n:]
        for i in range(len(context) - n - 1, -1, -1):
            if context[i : i + n] == tail:
                return context[i + n : i + n + k]
    return []


def score(engine: Engine, tokenizer: Tokenizer, prompt: str, candidates: Sequence[str]) -> list[float]:
    """Total log-probability of each candidate text following `prompt`: one pass over the prompt
    (mostly the previous step's, from the cache), then the candidates' tokens on top of it
    (`Engine.branch_logits`). Model thread only."""
    prompt_ids = tokenizer.encode(prompt)
    first = log_softmax_rows(engine.prefill(prompt_ids)[None])[0]
    scores: list[float] = []
    rest: dict[int, list[int]] = {}  # candidate index -> its tokens after the prompt
    alone: dict[int, list[int]] = {}  # ... where the tokens merged across the boundary
    for i, candidate in enumerate(candidates):
        full = tokenizer.encode(prompt + candidate)
        scores.append(0.0)
        if full[: len(prompt_ids)] != prompt_ids:
            alone[i] = full
            continue
        ids = full[len(prompt_ids) :]
        scores[i] = float(first[ids[0]])
        if len(ids) > 1:
            rest[i] = ids
    if rest:
        for i, rows in engine.branch_logits({i: ids[:-1] for i, ids in rest.items()}).items():
            logp = log_softmax_rows(rows)
            scores[i] += float(sum(logp[j, tok] for j, tok in enumerate(rest[i][1:])))
    for i, full in alone.items():  # last: scoring from scratch drops the prompt's cache
        scores[i] = _score_alone(engine, full, len(prompt_ids))
    return scores


def log_softmax_rows(rows: np.ndarray) -> np.ndarray:
    shifted = rows.astype(np.float32) - rows.max(axis=-1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), dtype=np.float32)


def _score_alone(engine: Engine, ids: list[int], start: int) -> float:
    """Tokens `ids[start:]` scored from scratch (rare: only when tokenisation crosses the boundary)."""
    engine.crop(0)
    logp = log_softmax_rows(engine.forward(ids, keep=0))
    engine.forget()
    return float(sum(logp[i - 1, ids[i]] for i in range(max(start, 1), len(ids))))


class TextStream:
    """The answer's visible text as `decode` writes it: `take` is the loop's callback.

    Byte-level tokens can end inside a multi-byte character, which decodes as U+FFFD: text is
    held back until the character completes, and one that never completes (cut at max_tokens, or
    bytes that are not UTF-8) is never shown. `stop` strings end the text (they are not shown);
    with `stop_at_newline`, the text ends before its first newline."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        emit: Callable[[str], None] | None = None,
        *,
        stop: Sequence[str] | None = None,
        stop_at_newline: bool = False,
    ) -> None:
        self.tokenizer, self.emit, self.stop_at_newline = tokenizer, emit, stop_at_newline
        self.filter = StopStringFilter(stop)
        self.tokens: list[int] = []
        self.decoded = 0  # characters of the decoded tokens passed on so far
        self.pieces: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def stopped(self) -> bool:
        """Whether a stop string (or the newline) ended the text."""
        return self.filter.stopped

    def take(self, token: int) -> bool:
        self.tokens.append(token)
        text = self.tokenizer.decode(self.tokens)
        if self.stop_at_newline and "\n" in text:
            self._show(text.split("\n", 1)[0][self.decoded :])
            self.filter.stopped = True
            return True
        if not text.endswith("\ufffd") and len(text) > self.decoded:
            self._show(text[self.decoded :])
            self.decoded = len(text)
        return self.filter.stopped

    def flush(self) -> None:
        """Generation ended: show what was held back (but never a broken character)."""
        if not self.filter.stopped:
            self._show(self.tokenizer.decode(self.tokens)[self.decoded :])
        self._show(self.filter.flush(), filtered=True)

    def _show(self, text: str, filtered: bool = False) -> None:
        visible = text.replace("\ufffd", "")
        if not filtered:
            visible = self.filter.feed(visible)
        if visible:
            self.pieces.append(visible)
            if self.emit:
                self.emit(visible)


def processors_for(params: GenerationParams) -> list[Processor]:
    """The processors `GenerationParams` ask for, in transformers' order."""
    out: list[Processor] = []
    if params.repetition_penalty is not None and params.repetition_penalty != 1.0:
        out.append(RepetitionPenalty(params.repetition_penalty))
    if params.no_repeat_ngram_size:
        out.append(NoRepeatNGram(params.no_repeat_ngram_size))
    return out
