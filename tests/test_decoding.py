"""models.decoding: the one decode loop and its processors, on a scripted engine (fast), and the
processors held to transformers' own where they claim to do the same."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from agent_app.models import decoding
from agent_app.models.decode_threads import DecodeThreads
from agent_app.models.engines import Engine

VOCAB = 12


class ScriptedEngine(Engine):
    """Logits that depend only on the last token: token t is followed by `table[t]` (a one-hot
    row), so the text is known in advance. Counts its forward passes."""

    def __init__(self, table: dict[int, int], exact: bool = True) -> None:
        super().__init__(1, DecodeThreads((1,), lambda _n: None))
        self.table, self.exact_batches = table, exact
        self.tokens: list[int] = []
        self.passes = 0

    @property
    def length(self) -> int:
        return len(self.tokens)

    def forward(self, ids: list[int], keep: int = 1) -> np.ndarray:
        self.passes += 1
        self.tokens += ids
        rows = np.zeros((len(ids), VOCAB), np.float32)
        for i, token in enumerate(ids):
            rows[i, self.table.get(token, 0)] = 5.0
        return rows[-keep:] if keep else rows

    def crop(self, length: int) -> None:
        del self.tokens[max(0, length) :]

    def write_on(self, count: int) -> None:
        pass

    def read_on_all(self) -> None:
        pass


def run(engine: Engine, prompt: list[int], how: decoding.Decoding, stop_at: int | None = None):
    taken: list[int] = []

    def take(token: int) -> bool:
        taken.append(token)
        return token == stop_at

    produced, reason = decoding.decode(engine, prompt, how, take)
    return produced, reason, taken


def test_greedy_follows_the_logits_and_stops_at_an_end_token_or_the_cap():
    engine = ScriptedEngine({1: 2, 2: 3, 3: 4, 4: 11})
    produced, reason, taken = run(engine, [1], decoding.Decoding(max_new=10, ends={11}))
    assert (produced, reason, taken) == ([2, 3, 4, 11], "stop", [2, 3, 4])  # the end token is not taken
    produced, reason, _ = run(ScriptedEngine({1: 2, 2: 3, 3: 4, 4: 11}), [1], decoding.Decoding(max_new=2, ends={11}))
    assert (produced, reason) == ([2, 3], "length")
    produced, reason, _ = run(
        ScriptedEngine({1: 2, 2: 3, 3: 4}), [1], decoding.Decoding(max_new=9, ends={11}), stop_at=3
    )
    assert (produced, reason) == ([2, 3], "stop")  # `take` ended it (a stop string, a newline)


def test_guessed_tokens_give_the_same_text_in_fewer_passes_and_leave_a_clean_cache():
    # The prompt holds the run 5 6 7 8 9 the answer copies; then it turns elsewhere (9 -> 10).
    table = {1: 5, 5: 6, 6: 7, 7: 8, 8: 9, 9: 10, 10: 11}
    prompt = [3, 5, 6, 7, 8, 9, 2, 1]
    plain, drafted = ScriptedEngine(table), ScriptedEngine(table)
    a = run(plain, prompt, decoding.Decoding(max_new=20, ends={11}))
    b = run(drafted, prompt, decoding.Decoding(max_new=20, ends={11}, draft_tokens=6))
    assert a == b and a[0] == [5, 6, 7, 8, 9, 10, 11]
    assert drafted.passes < plain.passes
    assert drafted.tokens == [*prompt, 5, 6, 7, 8, 9, 10]  # wrong guesses cut from the cache


def test_cancel_stops_between_tokens():
    cancel = threading.Event()
    cancel.set()
    produced, reason = decoding.decode(
        ScriptedEngine({1: 1}), [1], decoding.Decoding(5, set()), lambda t: False, cancel
    )
    assert (produced, reason) == ([], "cancelled")


def test_the_prefix_cache_reuses_what_two_prompts_share():
    engine = ScriptedEngine({})
    first = list(range(1, 11)) * 3  # 30 tokens
    engine.prefill(first)
    engine.prefill([*first[:25], 0, 0])
    assert engine.reused_tokens == 25 and engine.length == 27
    engine.prefill([9] * 27)  # nothing shared
    assert engine.reused_tokens == 0 and engine.tokens == [9] * 27


def test_allowed_tokens_copy_boost_and_no_repeat_change_the_choice():
    state = decoding.DecodeState([1, 2, 3], [4, 5, 4])
    logits = np.arange(VOCAB, dtype=np.float32)
    allowed = decoding.AllowedTokens({2, 5})(logits.copy(), state)
    assert np.isfinite(allowed).sum() == 2 and int(np.argmax(allowed)) == 5
    boost = decoding.CopyBoost([[4, 7], [3]], 100.0, span_ends={1})
    boosted = boost(np.zeros(VOCAB, np.float32), state)  # the last token written is 4, whose span goes on to 7
    assert boosted[7] == 200.0 and boosted[3] == 100.0 and boosted[1] == 0.0
    assert (
        decoding.CopyBoost([[3]], 1.0, span_ends={1})(np.zeros(VOCAB, np.float32), decoding.DecodeState([], [3]))[1]
        == 1.0
    )
    banned = decoding.NoRepeatNGram(2, new_only=True)(np.zeros(VOCAB, np.float32), state)
    assert banned[5] == -np.inf and np.isfinite(np.delete(banned, 5)).all()  # 4 5 was written: no second 5 after 4
    stuck = decoding.NoRepeatNGram(2, new_only=True, unless_stuck=True)
    only_five = np.full(VOCAB, -np.inf, np.float32)
    only_five[5] = 0.0
    assert stuck(only_five.copy(), state)[5] == 0.0  # the ban lifts rather than leave nothing


def test_the_processors_match_transformers_own():
    torch = pytest.importorskip("torch")
    from transformers.generation.logits_process import (
        NoRepeatNGramLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    rng = np.random.default_rng(0)
    for _ in range(20):
        logits = rng.normal(size=50).astype(np.float32) * 3
        prompt = rng.integers(0, 50, size=30).tolist()
        produced = rng.integers(0, 50, size=8).tolist()
        state = decoding.DecodeState(prompt, produced)
        ids = torch.tensor([prompt + produced])
        theirs = RepetitionPenaltyLogitsProcessor(1.3)(ids, torch.from_numpy(logits.copy())[None])[0].numpy()
        assert np.array_equal(decoding.RepetitionPenalty(1.3)(logits.copy(), state), theirs)
        theirs = NoRepeatNGramLogitsProcessor(2)(ids, torch.from_numpy(logits.copy())[None])[0].numpy()
        assert np.array_equal(decoding.NoRepeatNGram(2)(logits.copy(), state), theirs)
        # top-k then top-p, as in sampling: the same tokens survive
        kept = decoding.Sampling(temperature=1.0, top_k=10, top_p=0.8)
        theirs_t = TopPLogitsWarper(0.8)(ids, TopKLogitsWarper(10)(ids, torch.from_numpy(logits.copy())[None]))[0]
        survivors = set(np.flatnonzero(np.isfinite(theirs_t.numpy())).tolist())
        draws = kept.sampler()
        seen = {draws(logits.copy()) for _ in range(300)}
        assert seen <= survivors and len(seen) >= min(2, len(survivors))


def test_a_seed_makes_sampling_repeatable():
    logits = np.linspace(0, 1, VOCAB).astype(np.float32)
    a = decoding.Sampling(temperature=1.0, seed=7).sampler()
    b = decoding.Sampling(temperature=1.0, seed=7).sampler()
    assert [a(logits) for _ in range(20)] == [b(logits) for _ in range(20)]


class CharTokenizer:
    """One character per token id (for TextStream): 0 is U+FFFD's half, the others letters."""

    def decode(self, ids: list[int]) -> str:
        return "".join("\ufffd" if i == 0 else "abcdefghij\n"[i - 1] for i in ids)


def test_the_text_stream_hides_stop_strings_and_broken_characters():
    pieces: list[str] = []
    stream = decoding.TextStream(CharTokenizer(), pieces.append, stop=["cd"])
    assert [stream.take(t) for t in (1, 2, 3, 4)] == [False, False, False, True]  # "abcd": "cd" ends it
    stream.flush()
    assert stream.text == "ab" and "".join(pieces) == "ab" and stream.stopped
    line = decoding.TextStream(CharTokenizer(), stop_at_newline=True)
    assert [line.take(t) for t in (1, 0)] == [False, False]
    assert line.take(11) is True and line.text == "a"
    cut = decoding.TextStream(CharTokenizer())
    cut.take(1)
    cut.take(0)  # a character that never completes
    cut.flush()
    assert cut.text == "a"
