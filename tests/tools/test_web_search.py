"""web_search: SearxNG against a local stand-in, ddgs failing offline through a refusing proxy,
rate limiting and backoff with a fake clock. Every failure must come back as an observation."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from agent_app.tools.settings import SearchSettings
from agent_app.tools.web_search import (
    MinInterval,
    RateLimited,
    SearchResult,
    WebSearch,
    format_results,
    make_web_search_tool,
    web_search,
)
from tests.support.fake_services import FailingProxy, FakeSearxng


class FakeClock:
    """Time that moves only when someone sleeps: rate-limit tests without real waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


# -- SearxNG -------------------------------------------------------------------------------------


def test_searxng_results_are_numbered(searxng_settings: SearchSettings, searxng: FakeSearxng) -> None:
    text = web_search("capital of Australia", searxng_settings)
    assert text == (
        "1. Canberra - Wikipedia\n"
        "   https://en.wikipedia.org/wiki/Canberra\n"
        "   Canberra is the capital city of Australia.\n"
        "2. Australian Capital Territory\n"
        "   https://www.act.gov.au/\n"
        "   Canberra, in the Australian Capital Territory, is the seat of government."
    )
    (request,) = searxng.requests
    assert request.path == "/search" and request.params == {"q": "capital of Australia", "format": "json"}


def test_max_results_is_respected(searxng: FakeSearxng) -> None:
    settings = SearchSettings(backend="searxng", searxng_url=searxng.url, max_results=1, min_interval=0)
    text = WebSearch(settings)("python and the capital of australia")
    assert text.startswith("1. ") and "\n2. " not in text


def test_no_results(searxng_settings: SearchSettings) -> None:
    assert WebSearch(searxng_settings)("  zebra   migration ") == "no results for 'zebra migration'"


def test_empty_query(searxng_settings: SearchSettings, searxng: FakeSearxng) -> None:
    assert WebSearch(searxng_settings)("   ") == "search unavailable: the query is empty"
    assert searxng.requests == []


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "search unavailable: SearxNG answered HTTP 500"),
        (403, "search unavailable: SearxNG refused JSON output (enable 'json' in search.formats of its settings)"),
    ],
)
def test_http_errors(searxng_settings: SearchSettings, searxng: FakeSearxng, status: int, message: str) -> None:
    searxng.fail(status)
    assert WebSearch(searxng_settings)("python") == message


def test_malformed_json(searxng_settings: SearchSettings, searxng: FakeSearxng) -> None:
    searxng.send_malformed_json()
    assert WebSearch(searxng_settings)("python") == "search unavailable: SearxNG sent a reply that is not JSON"


def test_timeout(searxng_settings: SearchSettings, searxng: FakeSearxng) -> None:
    searxng.stall()
    started = time.monotonic()
    text = WebSearch(searxng_settings)("python")
    assert text == f"search unavailable: SearxNG at {searxng.url} did not answer within 0.5s"
    assert time.monotonic() - started < 5


def test_unreachable(searxng: FakeSearxng) -> None:
    url = searxng.url
    searxng.stop()
    settings = SearchSettings(backend="searxng", searxng_url=url, timeout=1, min_interval=0)
    assert WebSearch(settings)("python").startswith(f"search unavailable: cannot reach SearxNG at {url} (")


def test_rate_limit_answers_are_retried_with_backoff(searxng: FakeSearxng) -> None:
    settings = SearchSettings(backend="searxng", searxng_url=searxng.url, min_interval=0, retries=2, backoff=1.5)
    clock = FakeClock()
    searxng.fail(429)
    text = WebSearch(settings, clock=clock, sleep=clock.sleep)("python")
    assert text == ("search unavailable: SearxNG answered 429 Too Many Requests; tried 3 times, try again later")
    assert len(searxng.requests) == 3
    assert clock.sleeps == [1.5, 3.0]  # exponential backoff


def test_recovers_after_a_rate_limit() -> None:
    answers: list[object] = [RateLimited("202 Ratelimit"), [SearchResult("T", "https://t.example", "s")]]

    def backend(query: str, max_results: int) -> list[SearchResult]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    clock = FakeClock()
    search = WebSearch(SearchSettings(min_interval=0, backoff=2), backend=backend, clock=clock, sleep=clock.sleep)
    assert search("anything") == "1. T\n   https://t.example\n   s"
    assert clock.sleeps == [2.0]


def test_searxng_needs_a_url() -> None:
    with pytest.raises(ValidationError, match="searxng_url"):
        SearchSettings(backend="searxng")


# -- ddgs, offline ---------------------------------------------------------------------------------


def test_ddgs_failure_through_a_refusing_proxy(failing_proxy: FailingProxy) -> None:
    settings = SearchSettings(proxy=failing_proxy.url, timeout=2, min_interval=0, retries=0)
    started = time.monotonic()
    text = WebSearch(settings)("python")
    assert text.startswith("search unavailable: the search engines failed (")
    assert "\n" not in text and len(text) < 300
    assert time.monotonic() - started < 10
    # Every engine went through the local proxy (and was refused there): nothing left the machine.
    assert failing_proxy.requests
    assert {r.method for r in failing_proxy.requests} == {"CONNECT"}
    assert all(r.target.endswith(":443") for r in failing_proxy.requests)


def test_ddgs_timeout_through_a_stalling_proxy(failing_proxy: FailingProxy) -> None:
    failing_proxy.stall()  # released when the fixture stops the proxy
    settings = SearchSettings(
        proxy=failing_proxy.url, timeout=0.5, min_interval=0, retries=0, ddgs_backend="duckduckgo"
    )
    started = time.monotonic()
    text = WebSearch(settings)("python")
    assert text == "search unavailable: the search engines did not answer within 0.5s"
    assert time.monotonic() - started < 5
    assert [r.target for r in failing_proxy.requests] == ["html.duckduckgo.com:443"]


def _patch_ddgs(monkeypatch: pytest.MonkeyPatch, outcome: object) -> list[dict[str, object]]:
    from ddgs import DDGS

    calls: list[dict[str, object]] = []

    def fake_text(self: DDGS, query: str, **kwargs: object) -> object:
        calls.append({"query": query, **kwargs})
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(DDGS, "text", fake_text)
    return calls


def test_ddgs_results_are_formatted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _patch_ddgs(monkeypatch, [{"title": "Python", "href": "https://python.org", "body": "The  language.\n"}])
    text = WebSearch(SearchSettings(min_interval=0, max_results=3, ddgs_backend="duckduckgo"))("python")
    assert text == "1. Python\n   https://python.org\n   The language."
    assert calls == [{"query": "python", "max_results": 3, "backend": "duckduckgo"}]


def test_ddgs_no_results_is_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from ddgs.exceptions import DDGSException

    _patch_ddgs(monkeypatch, DDGSException("No results found."))
    assert WebSearch(SearchSettings(min_interval=0))("qwxzy") == "no results for 'qwxzy'"


@pytest.mark.parametrize("error_name", ["RatelimitException", "DDGSException"])
def test_ddgs_rate_limit_is_retried(monkeypatch: pytest.MonkeyPatch, error_name: str) -> None:
    from ddgs import exceptions

    calls = _patch_ddgs(monkeypatch, getattr(exceptions, error_name)("https://html.duckduckgo.com 202 Ratelimit"))
    clock = FakeClock()
    text = WebSearch(SearchSettings(min_interval=0, retries=1, backoff=3), clock=clock, sleep=clock.sleep)("x")
    assert text.startswith("search unavailable: rate limited (") and text.endswith("tried 2 times, try again later")
    assert len(calls) == 2 and clock.sleeps == [3.0]


def test_ddgs_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from ddgs.exceptions import TimeoutException

    _patch_ddgs(monkeypatch, TimeoutException("timed out"))
    text = WebSearch(SearchSettings(min_interval=0, timeout=4))("x")
    assert text == "search unavailable: the search engines did not answer within 4s"


def test_unexpected_errors_become_observations(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_ddgs(monkeypatch, RuntimeError("boom"))
    assert WebSearch(SearchSettings(min_interval=0))("x") == "search unavailable: unexpected RuntimeError: boom"


# -- rate limiter, presentation, tool --------------------------------------------------------------


def test_min_interval_spaces_calls() -> None:
    clock = FakeClock()
    limiter = MinInterval(1.0, clock=clock, sleep=clock.sleep)
    limiter.wait()  # first call: no wait
    clock.now += 0.25
    limiter.wait()  # 0.25 s later: waits the remaining 0.75 s
    clock.now += 5
    limiter.wait()  # long after: no wait
    assert clock.sleeps == [0.75]


def test_searches_are_spaced_by_min_interval() -> None:
    clock = FakeClock()
    search = WebSearch(SearchSettings(min_interval=2), backend=lambda q, n: [], clock=clock, sleep=clock.sleep)
    search("a")
    search("b")
    assert clock.sleeps == [2.0]


def test_long_snippets_are_clipped() -> None:
    text = format_results("q", [SearchResult("", "https://x.example", "word " * 200)])
    title, url, snippet = text.split("\n")
    assert title == "1. (no title)" and url == "   https://x.example"
    assert len(snippet) <= 303 and snippet.endswith("…")


def test_langchain_tool(searxng_settings: SearchSettings) -> None:
    tool = make_web_search_tool(searxng_settings)
    assert tool.name == "web_search" and set(tool.args) == {"query"}
    assert tool.invoke({"query": "mount everest height"}).startswith("1. Mount Everest - Wikipedia")
