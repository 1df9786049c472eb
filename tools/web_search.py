"""Web search for the agent: `ddgs` (DuckDuckGo and friends, no key) or a self-hosted SearxNG.

Searches are spaced by a minimum interval (search engines rate-limit bursts) and retried with
exponential backoff when the engine says "rate limited". Every failure ends as a one-line
observation starting with "search unavailable:", which the agent can reason about: a tool that
raises would end the agent's turn instead.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from pydantic import BaseModel, Field

from agent_app.tool_profile import ToolProfile, attach
from agent_app.tools.settings import SearchSettings

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

DESCRIPTION = "Search the web for facts, people, places and news. Input: a short search query."
UNAVAILABLE = "search unavailable"
_SNIPPET_CHARS = 300
_RATE_LIMIT_TEXT = re.compile(r"rate.?limit|too many requests|\b429\b", re.IGNORECASE)


class SearchInput(BaseModel):
    query: str = Field(description="a short web search query, e.g. capital of Australia")


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str


class SearchUnavailable(Exception):
    """A backend could not search; the message is one line for the agent."""


class RateLimited(SearchUnavailable):
    """The search service asked us to slow down: worth a retry after a pause."""


# A backend takes (query, max_results) and returns results or raises SearchUnavailable.
Backend = Callable[[str, int], list[SearchResult]]


# ---------------------------------------------------------------------------------------------
# Backends


def ddgs_backend(settings: SearchSettings) -> Backend:
    """Search through the `ddgs` package (it queries several public engines)."""

    def search(query: str, max_results: int) -> list[SearchResult]:
        from ddgs import DDGS  # imported here: it is not light, and only this backend needs it
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        try:
            rows = DDGS(proxy=settings.proxy, timeout=settings.timeout).text(  # type: ignore[arg-type]
                query, max_results=max_results, backend=settings.ddgs_backend
            )
        except RatelimitException as exc:
            raise RateLimited(f"rate limited ({_one_line(exc)})") from None
        except TimeoutException:
            raise SearchUnavailable(f"the search engines did not answer within {settings.timeout:g}s") from None
        except DDGSException as exc:
            text = _ddgs_message(exc)
            if "no results found" in text.lower():
                return []
            if _RATE_LIMIT_TEXT.search(text):
                raise RateLimited(f"rate limited ({text})") from None
            raise SearchUnavailable(f"the search engines failed ({text})") from None
        return [
            SearchResult(str(row.get("title", "")), str(row.get("href", "")), str(row.get("body", ""))) for row in rows
        ]

    return search


def _ddgs_message(error: Exception) -> str:
    """ddgs wraps the HTTP client's repr: "RequestError: RequestError('... 502 Bad Gateway\\r\\nServer: ..."
    Keep the readable part: "RequestError: ... 502 Bad Gateway"."""
    text = str(error).split("\\r\\n")[0]
    text = re.sub(r"^(\w+): \1\(['\"]", r"\1: ", text)
    return _one_line(text)


def searxng_backend(settings: SearchSettings, client: httpx.Client | None = None) -> Backend:
    """Search through a SearxNG instance's JSON API (`format=json` must be enabled there)."""
    if not settings.searxng_url:
        raise ValueError("searxng_url is not set")
    base = settings.searxng_url.rstrip("/")

    def search(query: str, max_results: int) -> list[SearchResult]:
        http = client or httpx.Client(timeout=settings.timeout)
        try:
            response = http.get(f"{base}/search", params={"q": query, "format": "json"})
        except httpx.TimeoutException:
            raise SearchUnavailable(f"SearxNG at {base} did not answer within {settings.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise SearchUnavailable(f"cannot reach SearxNG at {base} ({_one_line(exc)})") from None
        finally:
            if client is None:
                http.close()
        if response.status_code == 429:
            raise RateLimited("SearxNG answered 429 Too Many Requests")
        if response.status_code == 403:
            raise SearchUnavailable("SearxNG refused JSON output (enable 'json' in search.formats of its settings)")
        if response.status_code != 200:
            raise SearchUnavailable(f"SearxNG answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise SearchUnavailable("SearxNG sent a reply that is not JSON") from None
        rows = data.get("results") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise SearchUnavailable("SearxNG sent JSON without a results list")
        return [
            SearchResult(str(row.get("title", "")), str(row.get("url", "")), str(row.get("content") or ""))
            for row in rows[:max_results]
            if isinstance(row, dict)
        ]

    return search


def backend_for(settings: SearchSettings) -> Backend:
    """The backend the settings choose."""
    return searxng_backend(settings) if settings.backend == "searxng" else ddgs_backend(settings)


# ---------------------------------------------------------------------------------------------
# Rate limit, backoff, presentation


class MinInterval:
    """Keeps calls at least `seconds` apart (thread-safe). Clock and sleep are injectable for tests."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_allowed = -float("inf")

    def wait(self) -> None:
        with self._lock:
            delay = self._next_allowed - self._clock()
            if delay > 0:
                self._sleep(delay)
            self._next_allowed = self._clock() + self.seconds


class WebSearch:
    """A configured searcher: call it with a query, get an observation string. Never raises."""

    def __init__(
        self,
        settings: SearchSettings | None = None,
        *,
        backend: Backend | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or SearchSettings()
        self._backend = backend
        self._sleep = sleep
        self._interval = MinInterval(self.settings.min_interval, clock=clock, sleep=sleep)

    def __call__(self, query: str) -> str:
        query = " ".join(str(query).split())
        if not query:
            return f"{UNAVAILABLE}: the query is empty"
        try:
            results = self.search(query)
        except SearchUnavailable as exc:
            return f"{UNAVAILABLE}: {exc}"
        except Exception as exc:  # a bug in a backend library must not end the agent's turn
            return f"{UNAVAILABLE}: unexpected {type(exc).__name__}: {_one_line(exc)}"
        return format_results(query, results)

    def search(self, query: str) -> list[SearchResult]:
        """Results for `query`, spaced and retried; raises SearchUnavailable."""
        backend = self._backend or backend_for(self.settings)
        attempt = 0
        while True:
            self._interval.wait()
            try:
                return backend(query, self.settings.max_results)[: self.settings.max_results]
            except RateLimited as exc:
                if attempt >= self.settings.retries:
                    raise RateLimited(f"{exc}; tried {attempt + 1} times, try again later") from None
                self._sleep(self.settings.backoff * 2**attempt)
                attempt += 1


def format_results(query: str, results: list[SearchResult]) -> str:
    """Numbered title / url / snippet blocks, or a clear 'no results' line."""
    if not results:
        return f"no results for {query!r}"
    blocks = []
    for number, result in enumerate(results, start=1):
        lines = [f"{number}. {_clip(result.title, 150) or '(no title)'}"]
        if result.url:
            lines.append(f"   {result.url}")
        if result.snippet:
            lines.append(f"   {_clip(result.snippet, _SNIPPET_CHARS)}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _one_line(error: object, limit: int = 200) -> str:
    return _clip(str(error), limit) or type(error).__name__


# ---------------------------------------------------------------------------------------------
# Plain function and LangChain tool

_shared: dict[str, WebSearch] = {}
_shared_lock = threading.Lock()


def web_search(query: str, settings: SearchSettings | None = None) -> str:
    """Search the web and return numbered results, or a 'search unavailable: ...' line.

    Calls with equal settings share one rate limiter, so repeated calls stay spaced."""
    settings = settings or SearchSettings()
    key = settings.model_dump_json()
    with _shared_lock:
        searcher = _shared.setdefault(key, WebSearch(settings))
    return searcher(query)


def make_web_search_tool(settings: SearchSettings | None = None, *, backend: Backend | None = None) -> BaseTool:
    """The web_search LangChain tool (langchain_core is imported only here)."""
    from langchain_core.tools import StructuredTool

    searcher = WebSearch(settings, backend=backend)

    def run(query: str) -> str:
        return searcher(query)

    tool = StructuredTool.from_function(func=run, name="web_search", description=DESCRIPTION, args_schema=SearchInput)
    return attach(
        tool,
        ToolProfile(result="sources", task="search the web for “{input}”", quote="The web search found: {observation}"),
    )
