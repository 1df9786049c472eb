"""The weather tool against a local Open-Meteo stand-in: success, units, unknown place, errors."""

from __future__ import annotations

import time

import pytest

from agent_app.tools.settings import WeatherSettings
from agent_app.tools.weather import current_weather, describe_weather_code, make_weather_tool
from tests.support.fake_services import FakeOpenMeteo


def test_current_weather_in_words(weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo) -> None:
    text = current_weather("Berlin", weather_settings)
    assert text == "Berlin, Land Berlin, Germany: 12.3 °C, partly cloudy, wind 14 km/h (at 2026-11-21T12:00 local time)"
    geocode, forecast = open_meteo.requests
    assert geocode.path == "/v1/search" and geocode.params["name"] == "Berlin"
    assert forecast.path == "/v1/forecast"
    assert forecast.params["current"] == "temperature_2m,weather_code,wind_speed_10m"
    assert (forecast.params["latitude"], forecast.params["longitude"]) == ("52.52437", "13.41053")


def test_units_are_configurable(open_meteo: FakeOpenMeteo) -> None:
    settings = WeatherSettings(
        geocoding_url=open_meteo.url, forecast_url=open_meteo.url, temperature_unit="fahrenheit", wind_speed_unit="mph"
    )
    text = current_weather("Tokyo", settings)
    assert "69.8 °F" in text and "slight rain" in text and "wind 6.8 mph" in text
    assert open_meteo.requests[-1].params["temperature_unit"] == "fahrenheit"


@pytest.mark.parametrize(("alias", "unit"), [("km/h", "kmh"), ("m/s", "ms"), ("knots", "kn"), ("MPH", "mph")])
def test_wind_unit_aliases(alias: str, unit: str) -> None:
    assert WeatherSettings(wind_speed_unit=alias).wind_speed_unit == unit


def test_phrases_and_qualifiers_pick_the_right_place(weather_settings: WeatherSettings) -> None:
    assert current_weather("weather in Paris today?", weather_settings).startswith("Paris, Île-de-France, France: 18.5")
    texas = current_weather("Paris, Texas", weather_settings)
    assert texas.startswith("Paris, Texas, United States: 27 °C, thunderstorm")


@pytest.mark.parametrize(
    ("phrase", "name"),
    [("東京の天気は？", "東京"), ("今日の大阪の気温を教えて", "大阪"), ("札幌の今日の天気", "札幌"), ("京都", "京都")],
)
def test_japanese_phrases_ask_for_the_place_alone(
    phrase: str, name: str, weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo
) -> None:
    """The local agent often passes the whole Japanese question; the geocoder matches names only."""
    current_weather(phrase, weather_settings)
    assert open_meteo.requests[0].params["name"] == name


def test_unknown_place_is_an_observation(weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo) -> None:
    assert current_weather("Atlantis", weather_settings) == "weather failed: no place named 'Atlantis' found"
    assert [r.path for r in open_meteo.requests] == ["/v1/search"]  # no forecast asked for


def test_empty_place(weather_settings: WeatherSettings) -> None:
    assert current_weather("  ?", weather_settings) == "weather unavailable: no place given"


def test_http_400_reason_is_reported(weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo) -> None:
    open_meteo.fail(400, reason="Latitude must be in range of -90 to 90°.", path="/v1/forecast")
    text = current_weather("Berlin", weather_settings)
    assert text == (
        "weather unavailable: the forecast service answered HTTP 400: Latitude must be in range of -90 to 90°."
    )


def test_http_500(weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo) -> None:
    open_meteo.fail(500)
    assert current_weather("Berlin", weather_settings) == "weather unavailable: the geocoding service answered HTTP 500"


def test_malformed_json(weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo) -> None:
    open_meteo.send_malformed_json(path="/v1/forecast")
    assert (
        current_weather("Berlin", weather_settings)
        == "weather unavailable: the forecast service sent a reply that is not JSON"
    )


def test_timeout_becomes_an_observation(weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo) -> None:
    open_meteo.stall()
    started = time.monotonic()
    text = current_weather("Berlin", weather_settings)
    assert text == "weather unavailable: the geocoding service did not answer within 0.5s"
    assert time.monotonic() - started < 5  # bounded by the timeout, not by the stalled server


def test_unreachable_service(open_meteo: FakeOpenMeteo) -> None:
    url = open_meteo.url
    open_meteo.stop()  # nothing listens on that port any more
    text = current_weather("Berlin", WeatherSettings(geocoding_url=url, forecast_url=url, timeout=1))
    assert text.startswith("weather unavailable: cannot reach the geocoding service at ")


def test_forecast_without_current_block(weather_settings: WeatherSettings, open_meteo: FakeOpenMeteo) -> None:
    open_meteo.fail(200, reason="odd", path="/v1/forecast")  # 200 with {"error": true, ...}: no "current"
    assert (
        current_weather("Berlin", weather_settings)
        == "weather unavailable: the forecast service sent no current temperature"
    )


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0, "clear sky"),
        (3, "overcast"),
        (45, "fog"),
        (55, "dense drizzle"),
        (65, "heavy rain"),
        (75, "heavy snowfall"),
        (81, "moderate rain showers"),
        (86, "heavy snow showers"),
        (99, "thunderstorm with heavy hail"),
        (42, "weather code 42"),
        (None, "weather code None"),
    ],
)
def test_wmo_codes_in_words(code: object, words: str) -> None:
    assert describe_weather_code(code) == words


def test_langchain_tool(weather_settings: WeatherSettings) -> None:
    tool = make_weather_tool(weather_settings)
    assert tool.name == "weather" and set(tool.args) == {"place"}
    assert tool.invoke({"place": "Reykjavik"}).startswith(
        "Reykjavík, Capital Region, Iceland: -3.5 °C, moderate snowfall"
    )


def test_the_place_asked_is_what_the_geocoder_gets():
    from agent_app.tools.weather import place_asked

    assert place_asked("東京の天気は？") == "東京"
    assert place_asked("weather in Paris, Texas") == "Paris, texas"
    assert place_asked("大阪、日本の天気") == "大阪, 日本"
