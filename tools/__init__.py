"""The agent's tools: calculator, web_search and weather, as LangChain tools and plain functions.

    from agent_app.tools import build_tools
    tools = build_tools(settings.tools)            # the enabled tools, in a stable order

Plain functions for direct calls (benchmarks, scripts): `tools.calculator.calculate`,
`tools.web_search.web_search`, `tools.weather.current_weather`. Importing this package is light:
each tool's module (and langchain_core) is imported only when a tool is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent_app.tools.settings import BUILTIN_TOOLS, ToolsSettings

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["BUILTIN_TOOLS", "ToolsSettings", "build_tools"]


def build_tools(settings: ToolsSettings | None = None, extra: Sequence[BaseTool] = ()) -> list[BaseTool]:
    """The enabled tools: built-ins in `BUILTIN_TOOLS` order, then each `extra` tool (such as
    knowledge_base, built elsewhere) whose name is listed in `settings.enabled`."""
    settings = settings or ToolsSettings()
    tools: list[BaseTool] = []
    if "calculator" in settings.enabled:
        from agent_app.tools.calculator import make_calculator_tool

        tools.append(make_calculator_tool())
    if "web_search" in settings.enabled:
        from agent_app.tools.web_search import make_web_search_tool

        tools.append(make_web_search_tool(settings.search))
    if "weather" in settings.enabled:
        from agent_app.tools.weather import make_weather_tool

        tools.append(make_weather_tool(settings.weather))
    names = {tool.name for tool in tools}
    for tool in extra:
        if tool.name in names:
            raise ValueError(f"two tools are named {tool.name!r}")
        if tool.name in settings.enabled:
            tools.append(tool)
            names.add(tool.name)
    return tools
