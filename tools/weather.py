"""Current weather from Open-Meteo (free, no key, self-hostable): geocode the place, then ask the
forecast API for the current temperature, WMO weather code and wind.

Every failure (unknown place, HTTP errors, bad JSON, timeouts) ends as a one-line observation the
agent can reason about, never as an exception.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, Field

from agent_app.tool_profile import ToolProfile, attach
from agent_app.tools.settings import WeatherSettings

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

DESCRIPTION = "Current weather (temperature, conditions, wind) for a city or place. Input: the place name."
UNAVAILABLE = "weather unavailable"
NOT_FOUND = "weather failed"

# WMO weather interpretation codes, as Open-Meteo documents them.
WMO_CODES = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "depositing rime fog",
    51: "light drizzle",
    53: "moderate drizzle",
    55: "dense drizzle",
    56: "light freezing drizzle",
    57: "dense freezing drizzle",
    61: "slight rain",
    63: "moderate rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "heavy freezing rain",
    71: "slight snowfall",
    73: "moderate snowfall",
    75: "heavy snowfall",
    77: "snow grains",
    80: "slight rain showers",
    81: "moderate rain showers",
    82: "violent rain showers",
    85: "slight snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with slight hail",
    99: "thunderstorm with heavy hail",
}
_TEMPERATURE_LABELS = {"celsius": "°C", "fahrenheit": "°F"}
_WIND_LABELS = {"kmh": "km/h", "mph": "mph", "ms": "m/s", "kn": "kn"}
_LABEL_FIXES = {"mp/h": "mph"}  # Open-Meteo's own spelling reads oddly
# Small models often pass the whole phrase: "weather in Paris today?" -> "Paris".
_FILLER = re.compile(
    r"^\s*(?:(?:what\s+is\s+|what's\s+)?(?:the\s+)?(?:current\s+)?weather\s+(?:in|at|for)\s+|in\s+)"
    r"|\s*(?:\b(?:today|now|right\s+now|currently)\b)?\s*[?.!]*\s*$",
    re.IGNORECASE,
)

# The same in Japanese: "東京の天気は？", "今日の大阪の気温を教えて" -> "東京", "大阪".
_JA_FILLER = re.compile(
    r"^(?:今日|現在|今|いま)の"  # a leading "today's"
    r"|(?:の)?(?:今日の|現在の|今の)?(?:天気|気温|天候|気候).*$"  # "('s) weather ..." to the end
    r"|[？?。！!\s]+$"
)


class WeatherInput(BaseModel):
    place: str = Field(description="city or place name, e.g. Paris or Springfield, Illinois")


class WeatherUnavailable(Exception):
    """The weather could not be fetched; the message is one line for the agent."""


def describe_weather_code(code: Any) -> str:
    """The WMO weather code in words ('partly cloudy'), or 'weather code N' when unknown."""
    try:
        return WMO_CODES[int(code)]
    except (TypeError, ValueError, KeyError):
        return f"weather code {code}"


def current_weather(place: str, settings: WeatherSettings | None = None, *, client: httpx.Client | None = None) -> str:
    """Current weather at `place` as one line, or a clear reason why not. Never raises."""
    settings = settings or WeatherSettings()
    name, qualifiers = _split_place(place)
    if not name:
        return f"{UNAVAILABLE}: no place given"
    http = client or httpx.Client(timeout=settings.timeout)
    try:
        location = _geocode(http, settings, name, qualifiers)
        if location is None:
            # A failure, said in the failure format: an answer after it may state no place (the
            # agent's checks), where a 135M model otherwise names a city of its own.
            return f"{NOT_FOUND}: no place named {place.strip()!r} found"
        current, units = _current(http, settings, location)
        return _describe(location, current, units, settings)
    except WeatherUnavailable as exc:
        return f"{UNAVAILABLE}: {exc}"
    except Exception as exc:  # anything unforeseen must still read as an observation
        return f"{UNAVAILABLE}: unexpected {type(exc).__name__}: {exc}"
    finally:
        if client is None:
            http.close()


def place_asked(text: str) -> str:
    """The place a weather request names, as the geocoder is asked for it ('東京の天気は？' ->
    '東京', 'weather in Paris, Texas' -> 'Paris, texas'); empty when none is left."""
    name, qualifiers = _split_place(text)
    return ", ".join([name, *qualifiers]) if name else ""


def _split_place(text: str) -> tuple[str, list[str]]:
    """'Paris, Texas' -> ('Paris', ['texas']): the geocoder matches names only, so the rest
    is used to choose among the places of that name."""
    text = _JA_FILLER.sub("", _FILLER.sub("", str(text)))
    parts = [part.strip() for part in re.split(r"[,、]", text)]
    parts = [part for part in parts if part]
    if not parts:
        return "", []
    return parts[0], [part.lower() for part in parts[1:]]


def _geocode(http: httpx.Client, settings: WeatherSettings, name: str, qualifiers: list[str]) -> dict[str, Any] | None:
    params = {"name": name, "count": 10 if qualifiers else 1, "language": settings.language, "format": "json"}
    data = _get_json(http, f"{settings.geocoding_url}/v1/search", params, "geocoding service", settings)
    places = [p for p in data.get("results") or [] if isinstance(p, dict) and _has_coordinates(p)]
    if not places:
        return None
    for place in places:
        fields = {str(place.get(key, "")).lower() for key in ("country", "admin1", "country_code")}
        if any(q in fields for q in qualifiers):
            return place
    return places[0]


def _has_coordinates(place: dict[str, Any]) -> bool:
    return isinstance(place.get("latitude"), int | float) and isinstance(place.get("longitude"), int | float)


def _current(
    http: httpx.Client, settings: WeatherSettings, location: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {
        "latitude": location["latitude"],
        "longitude": location["longitude"],
        "current": "temperature_2m,weather_code,wind_speed_10m",
        "temperature_unit": settings.temperature_unit,
        "wind_speed_unit": settings.wind_speed_unit,
        "timezone": "auto",  # so the observation time is the place's local time
    }
    data = _get_json(http, f"{settings.forecast_url}/v1/forecast", params, "forecast service", settings)
    current = data.get("current")
    if not isinstance(current, dict) or not isinstance(current.get("temperature_2m"), int | float):
        raise WeatherUnavailable("the forecast service sent no current temperature")
    units = data.get("current_units")
    return current, units if isinstance(units, dict) else {}


def _get_json(
    http: httpx.Client, url: str, params: dict[str, Any], service: str, settings: WeatherSettings
) -> dict[str, Any]:
    try:
        response = http.get(url, params=params)
    except httpx.TimeoutException:
        raise WeatherUnavailable(f"the {service} did not answer within {settings.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise WeatherUnavailable(f"cannot reach the {service} at {url} ({type(exc).__name__})") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200:
        reason = data.get("reason") if isinstance(data, dict) else None
        detail = f": {reason}" if reason else ""
        raise WeatherUnavailable(f"the {service} answered HTTP {response.status_code}{detail}")
    if not isinstance(data, dict):
        raise WeatherUnavailable(f"the {service} sent a reply that is not JSON")
    return data


def _describe(
    location: dict[str, Any], current: dict[str, Any], units: dict[str, Any], settings: WeatherSettings
) -> str:
    where = ", ".join(dict.fromkeys(str(location[k]) for k in ("name", "admin1", "country") if location.get(k)))
    temperature_unit = units.get("temperature_2m") or _TEMPERATURE_LABELS[settings.temperature_unit]
    text = f"{where}: {_number(current['temperature_2m'])} {temperature_unit}"
    if "weather_code" in current:
        text += f", {describe_weather_code(current['weather_code'])}"
    wind = current.get("wind_speed_10m")
    if isinstance(wind, int | float):
        wind_unit = units.get("wind_speed_10m") or _WIND_LABELS[settings.wind_speed_unit]
        wind_unit = _LABEL_FIXES.get(wind_unit, wind_unit)
        text += f", wind {_number(wind)} {wind_unit}"
    if current.get("time"):
        text += f" (at {current['time']} local time)"
    return text


def _number(value: float) -> str:
    return f"{round(value, 1):g}"


def make_weather_tool(settings: WeatherSettings | None = None) -> BaseTool:
    """The weather LangChain tool (langchain_core is imported only here)."""
    from langchain_core.tools import StructuredTool

    def run(place: str) -> str:
        return current_weather(place, settings)

    tool = StructuredTool.from_function(func=run, name="weather", description=DESCRIPTION, args_schema=WeatherInput)
    return attach(
        tool,
        ToolProfile(
            result="place",
            task="get the weather for {input}",
            quote="The weather service reports: {observation}",
            subject=place_asked,  # the place, not the whole question the model passed on
        ),
    )
