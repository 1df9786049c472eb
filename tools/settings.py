"""Settings of the agent's tools: which are enabled, where the web services live, units and limits.

Pydantic only, so the app's configuration can import it cheaply. In the app's config it is the
`tools` section, e.g. `tools.search.backend: searxng` or `AGENT_APP_TOOLS__WEATHER__TEMPERATURE_UNIT=fahrenheit`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Built-in tools, in the order they are offered to the model. `knowledge_base` is built by the
# chat session over the current collection and handed to `build_tools` as an extra tool.
ToolName = Literal["calculator", "web_search", "weather", "knowledge_base"]
BUILTIN_TOOLS: tuple[ToolName, ...] = ("calculator", "web_search", "weather")
KNOWN_TOOLS: tuple[ToolName, ...] = (*BUILTIN_TOOLS, "knowledge_base")

# People write wind units the way they read them; Open-Meteo wants its own spelling.
_WIND_ALIASES = {"km/h": "kmh", "kph": "kmh", "m/s": "ms", "knots": "kn", "kt": "kn"}


class SearchSettings(BaseModel):
    """The web_search tool: DuckDuckGo & co. via `ddgs`, or a self-hosted SearxNG."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["ddgs", "searxng"] = Field("ddgs", description="where searches go")
    searxng_url: str | None = Field(None, description="SearxNG base URL, e.g. http://127.0.0.1:8080")
    ddgs_backend: str = Field("auto", description="ddgs engines, e.g. 'duckduckgo' or 'auto'")
    proxy: str | None = Field(None, description="proxy for ddgs, e.g. socks5h://127.0.0.1:9150")
    timeout: float = Field(10.0, gt=0, le=120, description="seconds per search request")
    max_results: int = Field(5, ge=1, le=20, description="results shown to the model")
    min_interval: float = Field(1.0, ge=0, le=60, description="minimum seconds between two searches")
    retries: int = Field(2, ge=0, le=5, description="retries after a rate-limit answer")
    backoff: float = Field(2.0, ge=0, le=60, description="first wait after a rate-limit answer; doubles")

    @model_validator(mode="after")
    def _searxng_needs_url(self) -> SearchSettings:
        if self.backend == "searxng" and not self.searxng_url:
            raise ValueError("search.backend 'searxng' needs search.searxng_url")
        return self


class WeatherSettings(BaseModel):
    """The weather tool: Open-Meteo geocoding and forecast APIs (public or self-hosted)."""

    model_config = ConfigDict(extra="forbid")

    geocoding_url: str = Field("https://geocoding-api.open-meteo.com", description="geocoding API base URL")
    forecast_url: str = Field("https://api.open-meteo.com", description="forecast API base URL")
    temperature_unit: Literal["celsius", "fahrenheit"] = "celsius"
    wind_speed_unit: Literal["kmh", "mph", "ms", "kn"] = Field("kmh", description="kmh, mph, ms or kn")
    language: str = Field("en", description="language of place names")
    timeout: float = Field(10.0, gt=0, le=120, description="seconds per request")

    @field_validator("wind_speed_unit", mode="before")
    @classmethod
    def _wind_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return _WIND_ALIASES.get(value, value)
        return value

    @field_validator("geocoding_url", "forecast_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


Approval = Literal["allow", "ask", "deny"]
"""What happens when the agent calls a tool: run it, ask the user first, or never (the tool is
not offered)."""


class McpServerSettings(BaseModel):
    """One MCP server: a command run over stdio, or a streamable HTTP URL."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(None, description="program to run (stdio), e.g. 'npx' or 'uvx'")
    args: list[str] = Field(default_factory=list, description="its arguments")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables for it")
    cwd: str | None = Field(None, description="its working folder")
    url: str | None = Field(None, description="streamable HTTP endpoint, e.g. http://127.0.0.1:8000/mcp")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers, e.g. Authorization")
    approval: Approval = Field("ask", description="the default for this server's tools")
    timeout: float = Field(60.0, gt=0, le=3600, description="seconds to start, and per tool call")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (streamable HTTP), not both")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, not {self.url!r}")
        return self


class ToolsSettings(BaseModel):
    """Which tools the agent may use, and how each one reaches its service."""

    model_config = ConfigDict(extra="forbid")

    enabled: list[ToolName] = Field(
        default_factory=lambda: list(BUILTIN_TOOLS), description="tools offered to the agent"
    )
    search: SearchSettings = Field(default_factory=SearchSettings)
    weather: WeatherSettings = Field(default_factory=WeatherSettings)
    mcp_servers: dict[str, McpServerSettings] = Field(
        default_factory=dict, description="MCP servers whose tools join the agent's, by name"
    )
    approval: dict[str, Approval] = Field(
        default_factory=dict,
        description="per tool name: allow, ask or deny (default: allow for built-ins, the server's for MCP tools)",
    )
    assume_yes: bool = Field(False, description="approve every 'ask' call without asking (--yes)")

    @field_validator("mcp_servers")
    @classmethod
    def _server_names(cls, value: dict[str, McpServerSettings]) -> dict[str, McpServerSettings]:
        for name in value:
            if not name.replace("-", "_").isidentifier():
                raise ValueError(f"MCP server name {name!r}: use letters, digits, - and _")
        return value

    @field_validator("enabled", mode="before")
    @classmethod
    def _split_text(cls, value: Any) -> Any:
        # Environment variables arrive as one string: "calculator,weather".
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("enabled")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))
