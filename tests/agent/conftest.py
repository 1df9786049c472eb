"""Fixtures for the agent's tests: tools wired to local stand-ins for Open-Meteo and SearxNG."""

from __future__ import annotations

import pytest

from agent_app.tools import build_tools
from agent_app.tools.settings import SearchSettings, ToolsSettings, WeatherSettings
from tests.support.fake_services import FakeOpenMeteo, FakeSearxng

TEST_TIMEOUT = 2.0


@pytest.fixture
def tools_settings(open_meteo: FakeOpenMeteo, searxng: FakeSearxng) -> ToolsSettings:
    return ToolsSettings(
        search=SearchSettings(backend="searxng", searxng_url=searxng.url, timeout=TEST_TIMEOUT, min_interval=0),
        weather=WeatherSettings(geocoding_url=open_meteo.url, forecast_url=open_meteo.url, timeout=TEST_TIMEOUT),
    )


@pytest.fixture
def tools(tools_settings: ToolsSettings) -> list:
    return build_tools(tools_settings)
