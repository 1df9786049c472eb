"""Per-turn and per-conversation statistics for `/stats`: tokens in and out, latency, time to first
token, tokens per second, and an estimated cost for OpenAI models.

`StatsCallback` collects the model calls of each turn from the callback events. The chat calls
`begin_turn()` once per user message; events arriving with no turn begun open one. Token counts
come from the models' usage reports; a model that reports none (the local one) is counted by its
streamed chunks, marked as an estimate with "~".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from agent_app import paths
from agent_app.errors import ConfigError
from agent_app.monitoring.events import EventCallbackHandler
from agent_app.yamlfile import YAMLProblem, parse_yaml, read_yaml

PRICES_FILE = "prices.yaml"


# -- prices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceTable:
    """Prices per million tokens by model name (`{"gpt-4o-mini": (0.15, 0.60)}`)."""

    per_million: dict[str, tuple[float, float]]
    currency: str = "USD"

    def price(self, model: str | None) -> tuple[float, float] | None:
        if not model:
            return None
        name = model.split("/")[-1].lower()
        if name in self.per_million:
            return self.per_million[name]
        matches = [key for key in self.per_million if name.startswith(key)]
        return self.per_million[max(matches, key=len)] if matches else None

    def cost(self, model: str | None, input_tokens: int, output_tokens: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


def load_prices(user_file: str | Path | None = None) -> PriceTable:
    """The shipped price table, updated by the user's `prices.yaml` in the config folder (or
    `user_file`). Raises ConfigError for a user file that cannot be read."""
    shipped = resources.files("agent_app.monitoring").joinpath(PRICES_FILE).read_text(encoding="utf-8")
    data = _parse_prices(parse_yaml(shipped), PRICES_FILE)
    path = Path(user_file).expanduser() if user_file is not None else paths.config_dir() / PRICES_FILE
    if path.is_file():
        try:
            user = read_yaml(path)
        except YAMLProblem as exc:
            raise ConfigError(f"cannot read the price table {exc.where(path)}: {exc.problem}") from None
        user_table = _parse_prices(user, str(path))
        data = PriceTable({**data.per_million, **user_table.per_million}, user_table.currency)
    return data


def _parse_prices(data: Any, where: str) -> PriceTable:
    fix = "expected 'per_million_tokens: {model: {input: 0.15, output: 0.60}}'"
    if not isinstance(data, dict) or not isinstance(data.get("per_million_tokens", {}), dict):
        raise ConfigError(f"invalid price table {where}: {fix}")
    table: dict[str, tuple[float, float]] = {}
    for model, entry in (data.get("per_million_tokens") or {}).items():
        try:
            table[str(model).lower()] = (float(entry["input"]), float(entry["output"]))
        except (TypeError, KeyError, ValueError):
            raise ConfigError(f"invalid price of {model!r} in {where}: {fix}") from None
    return PriceTable(table, str(data.get("currency", "USD")))


# -- statistics ----------------------------------------------------------------------------------


@dataclass
class CallStats:
    """One model call."""

    model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    seconds: float
    ttft_seconds: float | None
    estimated: bool = False


@dataclass
class TurnStats:
    """The model calls of one turn, or of several turns added up."""

    calls: list[CallStats] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time from the turn's first event to its last."""
    ttft_seconds: float | None = None
    """From the turn's first event to the first streamed token."""
    turns: int = 1

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens or 0 for c in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens or 0 for c in self.calls)

    @property
    def estimated(self) -> bool:
        return any(c.estimated or c.input_tokens is None for c in self.calls)

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of model time."""
        model_seconds = sum(c.seconds for c in self.calls)
        return self.output_tokens / model_seconds if model_seconds > 0 and self.output_tokens else None

    def cost(self, prices: PriceTable | None) -> float | None:
        """Estimated cost of the OpenAI calls (None when no call has a price)."""
        if prices is None:
            return None
        costs = [
            prices.cost(c.model, c.input_tokens or 0, c.output_tokens or 0)
            for c in self.calls
            if c.provider == "openai"
        ]
        known = [c for c in costs if c is not None]
        return sum(known) if known else None


class StatsCallback(EventCallbackHandler):
    """Collects per-turn statistics from callback events."""

    def __init__(self) -> None:
        super().__init__(max_field_chars=0)
        self.turns: list[TurnStats] = []
        self._turn_started: float | None = None
        self._turn_open = False

    def begin_turn(self) -> None:
        """Start a new turn: call once per user message, before running the chain."""
        with self._lock:
            self.turns.append(TurnStats())
            self._turn_started = None
            self._turn_open = True

    @property
    def last_turn(self) -> TurnStats | None:
        return self.turns[-1] if self.turns else None

    def total(self) -> TurnStats:
        """All turns added up."""
        with self._lock:
            return TurnStats(
                calls=[c for t in self.turns for c in t.calls],
                seconds=sum(t.seconds for t in self.turns),
                ttft_seconds=None,
                turns=len(self.turns),
            )

    def reset(self) -> None:
        """Forget everything (a new or resumed conversation)."""
        with self._lock:
            self.turns.clear()
            self._turn_open = False

    def _content(self, value: Any) -> Any:
        return None  # statistics need no text

    def on_first_token(self, run_id: Any, seconds: float) -> None:
        turn = self._current()
        if turn.ttft_seconds is None and self._turn_started is not None:
            turn.ttft_seconds = time.perf_counter() - self._turn_started

    def handle_event(self, event: dict[str, Any]) -> None:
        turn = self._current()
        now = time.perf_counter()
        if self._turn_started is None:
            self._turn_started = now
        turn.seconds = now - self._turn_started
        if event.get("kind") not in ("chat_model", "llm") or event.get("phase") == "start":
            return
        usage = event.get("usage") or {}
        output = usage.get("output_tokens")
        estimated = output is None and bool(event.get("chunks"))
        turn.calls.append(
            CallStats(
                model=event.get("model") or event.get("model_reported"),
                provider=event.get("provider"),
                input_tokens=usage.get("input_tokens"),
                output_tokens=event.get("chunks") if estimated else output,
                seconds=(event.get("duration_ms") or 0) / 1000,
                ttft_seconds=(event["ttft_ms"] / 1000) if event.get("ttft_ms") is not None else None,
                estimated=estimated,
            )
        )

    def _current(self) -> TurnStats:
        if not self._turn_open:
            self.begin_turn()
        return self.turns[-1]


def format_stats(stats: StatsCallback, prices: PriceTable | None = None) -> str:
    """Two lines for `/stats`: the last turn and the whole conversation."""
    if not stats.turns:
        return "no statistics yet: ask something first"
    assert stats.last_turn is not None
    return "\n".join(
        [
            "last turn:     " + _summary(stats.last_turn, prices, with_ttft=True),
            "conversation:  " + _summary(stats.total(), prices, with_ttft=False),
        ]
    )


def _summary(turn: TurnStats, prices: PriceTable | None, *, with_ttft: bool) -> str:
    approx = "~" if turn.estimated else ""
    parts = []
    if turn.turns != 1:
        parts.append(f"{turn.turns} turns")
    parts.append(f"{len(turn.calls)} model call{'s' if len(turn.calls) != 1 else ''}")
    parts.append(f"tokens in {approx}{turn.input_tokens}, out {approx}{turn.output_tokens}")
    parts.append(f"latency {turn.seconds:.2f} s")
    if with_ttft:
        parts.append(f"first token {turn.ttft_seconds:.2f} s" if turn.ttft_seconds is not None else "first token n/a")
    tps = turn.tokens_per_second
    parts.append(f"{tps:.1f} tok/s" if tps is not None else "tok/s n/a")
    cost = turn.cost(prices)
    if cost is not None:
        parts.append(f"≈ {cost:.4f} {prices.currency if prices else 'USD'}")
    return " · ".join(parts)
