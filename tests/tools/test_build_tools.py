"""Tool settings and `build_tools`: which tools are offered, in what order, and how extras join."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent_app.tools import build_tools
from agent_app.tools.settings import ToolsSettings


def _named(name: str):
    from langchain_core.tools import StructuredTool

    return StructuredTool.from_function(func=lambda query: "found", name=name, description=f"the {name} tool")


def test_defaults_enable_the_three_builtins_in_a_stable_order() -> None:
    tools = build_tools()
    assert [t.name for t in tools] == ["calculator", "web_search", "weather"]
    assert all(t.description and t.args for t in tools)
    assert len({t.description for t in tools}) == 3  # distinct, for a small model to choose from


def test_order_does_not_depend_on_the_config_order() -> None:
    settings = ToolsSettings(enabled=["weather", "calculator"])
    assert [t.name for t in build_tools(settings)] == ["calculator", "weather"]


def test_enabled_from_an_environment_string() -> None:
    settings = ToolsSettings.model_validate({"enabled": "weather, calculator,weather"})
    assert settings.enabled == ["weather", "calculator"]


def test_extra_tools_join_when_enabled() -> None:
    kb = _named("knowledge_base")
    assert [t.name for t in build_tools(ToolsSettings(), extra=[kb])] == ["calculator", "web_search", "weather"]
    enabled = ToolsSettings(enabled=["calculator", "knowledge_base"])
    assert [t.name for t in build_tools(enabled, extra=[kb])] == ["calculator", "knowledge_base"]


def test_extra_tool_may_not_shadow_a_builtin() -> None:
    with pytest.raises(ValueError, match="two tools are named 'calculator'"):
        build_tools(ToolsSettings(), extra=[_named("calculator")])


@pytest.mark.parametrize(
    "data",
    [
        {"enabled": ["calculator", "shell"]},
        {"unknown": 1},
        {"search": {"backend": "google"}},
        {"search": {"timeout": 0}},
        {"weather": {"temperature_unit": "kelvin"}},
        {"weather": {"wind_speed_unit": "furlongs"}},
    ],
)
def test_invalid_settings_are_rejected(data: dict) -> None:
    with pytest.raises(ValidationError):
        ToolsSettings.model_validate(data)


def test_nested_settings_and_url_cleanup() -> None:
    settings = ToolsSettings.model_validate(
        {
            "search": {"backend": "searxng", "searxng_url": "http://127.0.0.1:8080/", "max_results": 3},
            "weather": {"forecast_url": "http://meteo.local/", "wind_speed_unit": "m/s"},
        }
    )
    assert settings.search.max_results == 3
    assert settings.weather.forecast_url == "http://meteo.local"
    assert settings.weather.wind_speed_unit == "ms"


def test_importing_the_package_is_light() -> None:
    heavy = "('langchain_core', 'httpx', 'ddgs')"
    code = f"import sys, tools, tools.settings; print(sorted(m for m in {heavy} if m in sys.modules))"
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert result.stdout.strip() == "[]"
