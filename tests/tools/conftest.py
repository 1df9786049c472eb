"""Fixtures for the tools' tests: local stand-ins for Open-Meteo, SearxNG and a refusing proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent_app.tools.settings import SearchSettings, WeatherSettings
from tests.support.fake_services import FailingProxy, FakeOpenMeteo, FakeSearxng

# Short enough to keep timeout tests fast, long enough for a loaded 2-core machine to answer.
TEST_TIMEOUT = 0.5


@pytest.fixture
def failing_proxy() -> Iterator[FailingProxy]:
    with FailingProxy() as service:
        yield service


@pytest.fixture
def weather_settings(open_meteo: FakeOpenMeteo) -> WeatherSettings:
    return WeatherSettings(geocoding_url=open_meteo.url, forecast_url=open_meteo.url, timeout=TEST_TIMEOUT)


@pytest.fixture
def searxng_settings(searxng: FakeSearxng) -> SearchSettings:
    # No spacing between searches here: the rate limiter has its own tests with a fake clock.
    return SearchSettings(backend="searxng", searxng_url=searxng.url, timeout=TEST_TIMEOUT, min_interval=0)
