"""Grammar-constrained decoding for the local transformers model (llguidance).

At every step the grammar's matcher says which tokens may come next and every other token's
logit is set to -inf, so the model can only write text the grammar accepts: a tool call or a
JSON document that always parses and matches its schema, however small the model.

Why llguidance (bench/bench_constrained.py, SmolLM2's 49k-token vocabulary, a tool-call
schema, one run): its mask costs 0.11 ms a token against xgrammar's 0.53 ms (the model's own
step is about 60 ms), a schema compiles in 3 ms against 7.6 ms, and it is a 3 MB wheel with no
dependencies, where xgrammar also installs triton and apache-tvm-ffi. outlines was not tried:
it builds on outlines-core and more packages again for the same job. llguidance's own torch
helper is not used: it goes through `torch.compile`, which needs a C++ compiler on CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Compact JSON, one form only: a 135M model given free whitespace spends tokens on (and can
# loop in) indentation and newlines.
_JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def closed(schema: Any) -> Any:
    """`schema` with every object that does not say otherwise closed to its own properties.

    JSON Schema allows extra keys by default; a small model given that freedom keeps inventing
    keys ("description", then a schema of its own) instead of closing the object."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: closed(value) for key, value in schema.items()}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def json_schema_grammar(schema: dict[str, Any]) -> str:
    """An llguidance grammar for one JSON value that matches `schema` (closed, see above)."""
    import llguidance

    return str(llguidance.LLMatcher.grammar_from_json_schema(closed(schema), overrides=_JSON_OPTIONS))  # type: ignore[arg-type]


def tool_call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON schema of one call to any of `tools` (OpenAI tool format):
    `{"name": NAME, "arguments": {...}}`, the arguments held to that tool's parameters."""
    options = []
    for tool in tools:
        function = tool["function"]
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        parameters = closed({"type": "object", "properties": {}, **parameters})
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": function["name"]}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


def tool_call_grammar(tools: list[dict[str, Any]], *, optional: bool) -> str:
    """A grammar for one tool call; with `optional`, for either a call or a plain answer.

    The choice is the model's own: its first token either opens the call's JSON object or
    starts the answer (which therefore cannot begin with "{")."""
    schema = json.dumps(tool_call_schema(tools), ensure_ascii=False)
    if not optional:
        return json_schema_grammar(tool_call_schema(tools))
    import llguidance

    lark = f"start: call | answer\ncall: %json {schema}\nanswer: /[^{{\\s][\\s\\S]*/\n"
    return str(llguidance.LLMatcher.grammar_from_lark(lark))


@dataclass(frozen=True)
class Grammar:
    """What a generation is held to."""

    text: str
    """An llguidance grammar (from the functions above)."""
    call_threshold: float | None = None
    """For an optional tool call: call when the model puts at least this probability on opening
    the call at the first token. A small model trained on no tool syntax rarely puts much there
    even when a tool is plainly needed, so its own sampled choice almost never calls; the
    threshold (bench/bench_tool_choice.py) turns its relative preference into the choice."""
    copy_from: tuple[str, ...] = ()
    """Texts whose tokens get `copy_boost` added (and, more, the token that continues a span
    already begun): a call's values come from the question, and a 135M model otherwise writes
    template placeholders such as "{name}" instead of the name it was given."""
    copy_boost: float = 0.0


_TOKEN_KINDS: dict[int, tuple[Any, list[int], Any, list[bytes]]] = {}


def _token_kinds(tokenizer: Any) -> tuple[Any, list[int], Any, list[bytes]]:
    """Per llguidance tokenizer, built once: which tokens open a JSON object (a bool array), each
    token's number of digits if it is all digits (else 0), which contain a quote, and their bytes."""
    key = id(tokenizer)
    if key not in _TOKEN_KINDS:
        import numpy as np

        texts = [tokenizer.decode_bytes([i]) for i in range(tokenizer.vocab_size)]
        starts = np.array([t.lstrip().startswith(b"{") for t in texts], dtype=bool)
        digits = [len(t) if t and t.isdigit() else 0 for t in texts]
        quotes = np.array([b'"' in t for t in texts], dtype=bool)
        _TOKEN_KINDS[key] = (starts, digits, quotes, texts)
    return _TOKEN_KINDS[key]


# A number gets at most this many digits in a row: JSON does not bound them, a double holds
# about 16, and a small model otherwise writes digits until max_tokens ("81832322333244...").
MAX_DIGITS = 16
# A JSON string gets this many tokens before the model is held to closing it (with the first
# allowed token that contains a quote). Greedy decoding of a 135M model drifts on inside a
# string ("A cat is a cat, a dog is ...") until max_tokens, which leaves the document unfinished
# and reported as cut; a closed, shorter value is the useful answer. Tool arguments and the
# fields of a typical schema fit well within it.
MAX_STRING_TOKENS = 48


# The loop guard: no run of this many new tokens may repeat. A 135M model greedy-decoding a
# JSON string otherwise goes "the cat was a cat, and the cat was a cat, ..." until max_tokens,
# which leaves the document unfinished. Only the new tokens count (a penalty over the prompt
# too keeps the model from copying the values a call needs).
NO_REPEAT_NGRAM = 3


class GrammarMask:
    """A logits processor (models.decoding) that holds generation to one grammar.

    One instance per generation: it feeds each new token to the matcher before masking the next
    step's logits. It also bans repeating a run of NO_REPEAT_NGRAM new tokens, unless the grammar
    allows nothing else, and decides an optional call by `Grammar.call_threshold`.
    """

    def __init__(self, tokenizer: Any, grammar: Grammar) -> None:
        import llguidance

        from agent_app.models.decoding import CopyBoost, NoRepeatNGram

        self.matcher = llguidance.LLMatcher(tokenizer, grammar.text, log_level=0)
        if self.matcher.is_error():
            raise ValueError(f"invalid grammar: {self.matcher.get_error()}")
        self.seen = 0  # new tokens fed to the matcher
        self.vocab = tokenizer.vocab_size
        self.decide = grammar.call_threshold
        starts, self.digits, self.quotes, self.texts = _token_kinds(tokenizer)
        self.in_string = self.escaped = self.json = False
        self.string_tokens = 0
        self.digit_ids = [i for i, n in enumerate(self.digits) if n]
        self.call_starts = starts if self.decide is not None else None
        self.p_call: float | None = None
        """The probability the model gave to opening a call (when the choice was decided)."""
        self.repeats = NoRepeatNGram(NO_REPEAT_NGRAM, new_only=True)
        self.boost: CopyBoost | None = None
        if grammar.copy_boost and grammar.copy_from:
            # Whole texts (tried: word by word, which lost the Japanese name a call needed).
            spans = [tokenizer.tokenize_str(pre + text) for text in grammar.copy_from for pre in ("", " ")]
            self.boost = CopyBoost(spans, grammar.copy_boost)

    def __call__(self, logits: Any, state: Any) -> Any:
        import numpy as np

        from agent_app.models.decoding import NEG_INF, softmax

        for token in state.produced[self.seen :]:
            self.matcher.consume_token(token)
            self._track_strings(token)
        self.seen = len(state.produced)
        if self.matcher.is_error():
            return logits  # cannot happen for masked tokens; leaves the model free rather than stuck
        n = min(self.vocab, logits.shape[-1])
        bits = np.unpackbits(np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        allowed = bits[:n].astype(bool)
        if self.boost is not None:
            logits = self.boost(logits, state)
        if self.call_starts is not None:  # first token of an optional call: decide call or answer
            starts = self.call_starts[:n]
            self.p_call = float(softmax(logits[:n])[allowed & starts].sum())
            allowed = allowed & (starts if self.p_call >= (self.decide or 0.0) else ~starts)
            self.call_starts = None
        banned = list(self.repeats.banned(state))
        if self._digit_run(state.produced) >= MAX_DIGITS:
            banned += self.digit_ids
        if banned:
            free = allowed.copy()
            free[[b for b in banned if b < n]] = False
            if bool(free.any()):
                allowed = free
        if self.in_string and self.string_tokens >= MAX_STRING_TOKENS:
            closing = allowed & self.quotes[:n]
            if bool(closing.any()):
                allowed = closing
        masked = np.full_like(logits, NEG_INF)
        masked[:n] = np.where(allowed, logits[:n], NEG_INF)
        return masked

    def _track_strings(self, token: int) -> None:
        """Follow whether the JSON being written is inside a string, and for how many tokens."""
        text = self.texts[token] if token < len(self.texts) else b""
        if not self.json:
            if not text.strip():
                return
            self.json = text.lstrip().startswith(b"{")  # an answer in prose is left alone
            if not self.json:
                self.texts = []  # nothing more to follow
                return
        if self.in_string:
            self.string_tokens += 1
        for byte in text:
            if self.in_string and self.escaped:
                self.escaped = False
            elif self.in_string and byte == 0x5C:  # backslash
                self.escaped = True
            elif byte == 0x22:  # quote
                self.in_string = not self.in_string
                self.string_tokens = 0

    def _digit_run(self, tokens: list[int]) -> int:
        run = 0
        for token in reversed(tokens):
            n = self.digits[token] if token < len(self.digits) else 0
            if not n:
                break
            run += n
        return run
