"""Two small tools the tool-calling tests bind: one with a string argument, one with integers."""

from __future__ import annotations

from langchain_core.tools import tool


@tool
def get_weather(location: str) -> str:
    """Current weather at a place."""
    return "sunny"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b
