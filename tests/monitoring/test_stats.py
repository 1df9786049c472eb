"""Statistics for /stats and the price table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_app import paths
from agent_app.errors import ConfigError
from agent_app.models.fake import ScriptedChatModel
from agent_app.monitoring.stats import PriceTable, StatsCallback, format_stats, load_prices
from tests.support.monitoring_helpers import make_chain


class FakeOpenAI(ScriptedChatModel):
    """The scripted model, reporting itself as an OpenAI model for the price lookup."""

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any):  # type: ignore[override]
        return {**super()._get_ls_params(stop=stop, **kwargs), "ls_provider": "openai", "ls_model_name": "gpt-4o-mini"}


def test_stats_per_turn_and_for_the_conversation() -> None:
    stats = StatsCallback()
    chain = make_chain(ScriptedChatModel(replies=["one two three", "four five"]))
    stats.begin_turn()
    list(chain.stream({"question": "first question"}, config={"callbacks": [stats]}))
    stats.begin_turn()
    chain.invoke({"question": "second"}, config={"callbacks": [stats]})

    first, second = stats.turns
    assert (first.input_tokens, first.output_tokens) == (5, 3)  # "You are helpful." + "first question"
    assert first.ttft_seconds is not None and 0 <= first.ttft_seconds <= first.seconds
    assert second.ttft_seconds is None  # not streamed
    assert (second.input_tokens, second.output_tokens) == (4, 2)
    total = stats.total()
    assert (total.turns, total.input_tokens, total.output_tokens, len(total.calls)) == (2, 9, 5, 2)
    assert total.tokens_per_second is not None and total.tokens_per_second > 0

    text = format_stats(stats, PriceTable({}))
    assert text.splitlines()[0].startswith("last turn:     1 model call · tokens in 4, out 2 · latency ")
    assert "first token n/a" in text.splitlines()[0]
    assert text.splitlines()[1].startswith("conversation:  2 turns · 2 model calls · tokens in 9, out 5")
    assert "USD" not in text  # not an OpenAI model: no cost


def test_events_without_a_begun_turn_open_one() -> None:
    stats = StatsCallback()
    make_chain(ScriptedChatModel(replies=["a b"])).invoke({"question": "q"}, config={"callbacks": [stats]})
    assert len(stats.turns) == 1 and stats.turns[0].output_tokens == 2


def test_cost_of_openai_models_from_the_price_table() -> None:
    stats = StatsCallback()
    prices = PriceTable({"gpt-4o-mini": (1_000_000.0, 2_000_000.0)})  # a dollar per input token
    make_chain(FakeOpenAI(replies=["a b c"])).invoke({"question": "q"}, config={"callbacks": [stats]})
    assert stats.last_turn is not None
    assert stats.last_turn.cost(prices) == pytest.approx(4 * 1 + 3 * 2)
    assert "≈ 10.0000 USD" in format_stats(stats, prices)


def test_stats_before_any_turn() -> None:
    assert format_stats(StatsCallback()) == "no statistics yet: ask something first"


def test_shipped_prices_and_longest_prefix_match() -> None:
    prices = load_prices()
    assert prices.price("gpt-4o-mini") == (0.15, 0.60)
    assert prices.price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)  # not gpt-4o's
    assert prices.price("openai/gpt-4o") == (2.50, 10.00)
    assert prices.price("smollm2") is None


def test_a_user_price_file_overrides_entries() -> None:
    user = paths.config_dir() / "prices.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("per_million_tokens:\n  gpt-4o-mini: {input: 1, output: 2}\n  my-model: {input: 3, output: 4}\n")
    prices = load_prices()
    assert prices.price("gpt-4o-mini") == (1.0, 2.0)
    assert prices.price("my-model") == (3.0, 4.0)
    assert prices.price("gpt-4o") == (2.50, 10.00)


def test_a_broken_price_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "prices.yaml"
    bad.write_text("per_million_tokens:\n  gpt-4o: {input: cheap}\n")
    with pytest.raises(ConfigError, match="invalid price of 'gpt-4o'"):
        load_prices(bad)
    bad.write_text("per_million_tokens: [")
    with pytest.raises(ConfigError, match="cannot read the price table"):
        load_prices(bad)
