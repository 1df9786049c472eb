"""Constrained choice on the local model: score each allowed continuation, take the likeliest.

Instead of letting a 135M model write the action name (it invents tools and breaks the format),
the log-likelihood of every allowed continuation ("Action: calculator\\n", ..., "Final Answer:")
is computed after the prompt: one forward pass over the prompt, then a few tokens per candidate
on top of its key/value cache. This runs on the torch thread (`agent_app.torch_thread`), the only
thread that may use the model.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from agent_app import torch_thread

if TYPE_CHECKING:
    from agent_app.models.local_runtime import LocalRuntime


def score_continuations(runtime: LocalRuntime, prompt: str, candidates: Sequence[str]) -> list[float]:
    """Total log-probability of each candidate text following `prompt`."""
    return torch_thread.run(_score_here, runtime, prompt, list(candidates))


def _score_here(runtime: LocalRuntime, prompt: str, candidates: list[str]) -> list[float]:
    import torch

    tokenizer, model = runtime.tokenizer, runtime.model
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        last, cache = runtime.prefill(prompt_ids)  # the previous step's prompt is mostly this one's
        first = torch.log_softmax(last.float(), dim=-1)
        scores: list[float] = []
        rest: dict[int, list[int]] = {}  # candidate index -> its tokens after the prompt
        for i, candidate in enumerate(candidates):
            full = tokenizer(prompt + candidate, add_special_tokens=False)["input_ids"]
            if full[: len(prompt_ids)] != prompt_ids:  # the tokens merged across the boundary
                scores.append(_score_alone(model, full, len(prompt_ids)))
                continue
            ids = full[len(prompt_ids) :]
            scores.append(float(first[ids[0]]))
            if len(ids) > 1:
                rest[i] = ids
        if rest:
            side_by_side = _score_side_by_side if runtime.custom_masks else _score_in_turn
            for i, total in side_by_side(model, cache, len(prompt_ids), rest).items():
                scores[i] += total
    return scores


def _score_side_by_side(model: Any, cache: Any, start: int, rest: dict[int, list[int]]) -> dict[int, float]:
    """Log-probability of each candidate's tokens after its first, all in one forward pass.

    The candidates go one after another on top of the prompt's cache, each token at its own
    position (start + depth) and seeing only the prompt and its own candidate's earlier tokens
    (a custom 4D attention mask). A pass reads every weight once however many tokens it holds,
    so one pass over all candidates costs about two over one token: scored one by one, the
    candidates took most of an agent step (bench/bench_agent.py)."""
    import torch

    tokens: list[int] = []
    positions: list[int] = []
    owner: list[int] = []
    for i, ids in rest.items():
        tokens += ids[:-1]
        positions += range(start, start + len(ids) - 1)
        owner += [i] * (len(ids) - 1)
    n = len(tokens)
    row_owner = torch.tensor(owner)
    depth = torch.tensor(positions)
    own = (row_owner[:, None] == row_owner[None, :]) & (depth[None, :] <= depth[:, None])
    mask = torch.cat([torch.ones(n, start, dtype=torch.bool), own], dim=1)[None, None]
    logits = model(
        input_ids=torch.tensor([tokens]),
        position_ids=torch.tensor([positions]),
        attention_mask=mask,
        past_key_values=cache,
        use_cache=True,
    ).logits[0]
    cache.crop(-n)  # back to the prompt's cache (transformers 5: a negative count of tokens to drop)
    logp = torch.log_softmax(logits.float(), dim=-1)
    totals: dict[int, float] = {}
    row = 0
    for i, ids in rest.items():
        totals[i] = float(sum(logp[row + j, tok] for j, tok in enumerate(ids[1:])))
        row += len(ids) - 1
    return totals


def _score_in_turn(model: Any, cache: Any, start: int, rest: dict[int, list[int]]) -> dict[int, float]:
    """As `_score_side_by_side`, one candidate per forward pass, for an engine without custom
    attention masks (`--dtype q4`, whose passes cost about a fifth of fp32's)."""
    import torch

    totals: dict[int, float] = {}
    for i, ids in rest.items():
        logits = model(input_ids=torch.tensor([ids[:-1]]), past_key_values=cache, use_cache=True).logits[0]
        cache.crop(-(len(ids) - 1))
        logp = torch.log_softmax(logits.float(), dim=-1)
        totals[i] = float(sum(logp[j, tok] for j, tok in enumerate(ids[1:])))
    return totals


def _score_alone(model: Any, ids: list[int], start: int) -> float:
    """Score tokens `ids[start:]` from scratch (rare: only when tokenisation crosses the boundary)."""
    import torch

    logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[i - 1, ids[i]] for i in range(max(start, 1), len(ids))))


DRAFT_TOKENS = 6
"""Tokens guessed ahead per step (see `_draft`): 2, 4 and 6 compared on the tune half of
bench/bench_agent.py's generations; 6 needed the fewest passes."""


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
    """Greedy text after `prompt`, streamed, ending at a newline or eos; on the worker thread.

    - `allowed`: only these token ids may be written. Why: asked for a search query, the 135M
      model tends to write the answer it imagines ("Jane Austen") instead of the question's
      words; restricted to the question's (and earlier observations') tokens, it copies a query.
    - `copy_from`: a soft pull towards copying these texts (the observations, into the final
      answer, where the model otherwise invents numbers): their tokens get `boost_value` added
      to their logits, and the token that continues a copied span ("39" -> "1") gets it again.
    - `draft_tokens`: guess up to this many tokens ahead from the prompt and check them all in
      one forward pass (`_draft`; default DRAFT_TOKENS, none on int8 and q4); the text is the same as
      without guessing (0).
    A repeated 3-gram is never written: greedy decoding of a small model loops otherwise.
    """
    guesses = draft_tokens
    if guesses is None:
        # A pass over guesses can change the text where a token's logits depend on the others
        # in its pass (int8, q4); fp32 and the other dtypes give each token its own logits.
        guesses = DRAFT_TOKENS if runtime.exact_batches else 0
    yield from torch_thread.stream(
        _generate_here, runtime, prompt, max_tokens, allowed, list(copy_from), boost_value, guesses
    )


def _draft(context: list[int], k: int) -> list[int]:
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


def _generate_here(
    runtime: LocalRuntime,
    prompt: str,
    max_tokens: int,
    allowed: set[int] | None,
    copy_from: list[str],
    boost_value: float,
    draft_tokens: int,
    emit: Callable[[str], None],
    cancel: threading.Event,
) -> None:
    import torch

    tokenizer, model = runtime.tokenizer, runtime.model
    ends = set(tokenizer("\n", add_special_tokens=False)["input_ids"]) | {tokenizer.eos_token_id}
    allowed_ids = torch.tensor(sorted(allowed | ends)) if allowed is not None else None
    spans = [tokenizer(" " + text, add_special_tokens=False)["input_ids"] for text in copy_from] if boost_value else []
    follows: dict[int, set[int]] = {}  # token -> tokens that follow it in a span
    for span in spans:
        for a, b in itertools.pairwise(span):
            follows.setdefault(a, set()).add(b)
        if span:  # a copied span may end the answer ("391" and done, not "391.25")
            follows.setdefault(span[-1], set()).update(ends)
    boost_ids = torch.tensor(sorted({t for span in spans for t in span})) if spans else None
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    produced: list[int] = []
    shown = ""

    def pick(row: Any) -> int:
        """The next token after `produced`, from the model's logits `row`."""
        logits = row.to(torch.float32, copy=True)  # a row may be picked from twice: keep it intact
        if allowed_ids is not None:
            masked = torch.full_like(logits, float("-inf"))
            masked[allowed_ids] = logits[allowed_ids]
            logits = masked
        if boost_ids is not None:
            logits[boost_ids] += boost_value
            if produced and produced[-1] in follows:
                logits[torch.tensor(sorted(follows[produced[-1]]))] += boost_value
        if len(produced) >= 2:  # no repeated 3-gram
            last = tuple(produced[-2:])
            for i in range(len(produced) - 2):
                if tuple(produced[i : i + 2]) == last:
                    logits[produced[i + 2]] = float("-inf")
        return int(logits.argmax())

    def take(token: int) -> bool:
        """Write `token`; True when the text is complete (a newline, or max_tokens)."""
        nonlocal shown
        produced.append(token)
        text = str(tokenizer.decode(produced))
        if "\n" in text:
            text = text.split("\n", 1)[0]
        if not text.endswith("\ufffd") and len(text) > len(shown):  # not inside a UTF-8 character
            emit(text[len(shown) :])
            shown = text
        return "\n" in tokenizer.decode(produced) or len(produced) >= max_tokens

    with torch.inference_mode():
        logits_next, past = runtime.prefill(ids)  # reuses the prefix the step before computed
        with runtime.decoding() as threads:  # the prompt was read on all threads
            while len(produced) < max_tokens and not cancel.is_set():
                token = pick(logits_next)
                if token in ends or take(token):
                    break
                guess = _draft(ids + produced, min(draft_tokens, max_tokens - len(produced)))
                guess = list(itertools.takewhile(lambda t: t not in ends, guess))
                out = model(input_ids=torch.tensor([[token, *guess]]), past_key_values=past, use_cache=True)
                threads.step()
                rows, past = out.logits[0], out.past_key_values
                right, done = 0, False
                for guessed in guess:  # row `right` holds the logits after the last token taken
                    if cancel.is_set() or pick(rows[right]) != guessed:
                        break
                    right += 1
                    if take(guessed):
                        done = True
                        break
                if done:
                    break
                if right < len(guess):
                    past.crop(-(len(guess) - right))  # the wrong guesses' key/values
                logits_next = rows[right]
