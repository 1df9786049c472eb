"""Local stand-ins for the web services the tools use, for tests and benchmarks (no internet).

Each is a small HTTP server on 127.0.0.1 (ephemeral port, background thread) holding FIXED data:

    with FakeOpenMeteo(SAMPLE_PLACES) as meteo:          # geocoding + forecast on one port
        settings = WeatherSettings(geocoding_url=meteo.url, forecast_url=meteo.url)
    with FakeSearxng(SAMPLE_RESULTS) as searx:           # answers /search?q=..&format=json
        settings = SearchSettings(backend="searxng", searxng_url=searx.url)
    with FailingProxy() as proxy:                        # answers 502 to everything, CONNECT too
        DDGS(proxy=proxy.url)

Any of them can be told to misbehave: `fail(400, reason=...)`, `fail(500)`, `send_malformed_json()`,
`stall()` (hold requests until `release()` or `stop()`: no sleeping), and `behave()` to recover.
Every request is recorded in `.requests`.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Place:
    """A place the fake geocoder knows, with the weather the fake forecast reports there."""

    name: str
    latitude: float
    longitude: float
    country: str
    admin1: str = ""
    country_code: str = ""
    timezone: str = "UTC"
    temperature_c: float = 15.0
    weather_code: int = 0
    wind_kmh: float = 10.0


SAMPLE_PLACES: dict[str, Place] = {
    "berlin": Place("Berlin", 52.52437, 13.41053, "Germany", "Land Berlin", "DE", "Europe/Berlin", 12.3, 2, 14.0),
    "paris": Place("Paris", 48.85341, 2.3488, "France", "Île-de-France", "FR", "Europe/Paris", 18.5, 0, 7.2),
    "paris texas": Place(
        "Paris", 33.66094, -95.55551, "United States", "Texas", "US", "America/Chicago", 27.0, 95, 22.5
    ),
    "tokyo": Place("Tokyo", 35.6895, 139.69171, "Japan", "Tokyo", "JP", "Asia/Tokyo", 21.0, 61, 11.0),
    "reykjavik": Place(
        "Reykjavík", 64.13548, -21.89541, "Iceland", "Capital Region", "IS", "Atlantic/Reykjavik", -3.5, 73, 40.3
    ),
    "london": Place("London", 51.50853, -0.12574, "United Kingdom", "England", "GB", "Europe/London", 9.8, 45, 5.0),
}

SAMPLE_RESULTS: dict[str, list[dict[str, str]]] = {
    "capital of australia": [
        {
            "title": "Canberra - Wikipedia",
            "url": "https://en.wikipedia.org/wiki/Canberra",
            "content": "Canberra is the capital city of Australia.",
        },
        {
            "title": "Australian Capital Territory",
            "url": "https://www.act.gov.au/",
            "content": "Canberra, in the Australian Capital Territory, is the seat of government.",
        },
    ],
    "python": [
        {
            "title": "Welcome to Python.org",
            "url": "https://www.python.org/",
            "content": "The official home of the Python Programming Language.",
        },
    ],
    "mount everest": [
        {
            "title": "Mount Everest - Wikipedia",
            "url": "https://en.wikipedia.org/wiki/Mount_Everest",
            "content": "Mount Everest is Earth's highest mountain above sea level, at 8,849 m.",
        },
    ],
}

FIXED_TIME = "2026-11-21T12:00"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    target: str  # the raw request target (for a proxy: "host:443")


@dataclass
class _Misbehaviour:
    kind: str  # "error" | "malformed" | "stall"
    status: int = 500
    reason: str | None = None
    path: str | None = None  # only requests whose path starts with this (None: all)


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(data: Any, status: int = 200) -> _Reply:
    return _Reply(status, json.dumps(data).encode())


class FakeService:
    """Base class: a threaded HTTP server on 127.0.0.1 that answers through `answer()`."""

    def __init__(self, *, max_stall: float = 30.0) -> None:
        self.requests: list[RecordedRequest] = []
        self.max_stall = max_stall  # a stalled request gives up after this, even if never released
        self._misbehaviour: _Misbehaviour | None = None
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service._handle(self)

            do_POST = do_CONNECT = do_GET

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake service is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- misbehaviour ----------------------------------------------------------------------

    def fail(self, status: int = 500, reason: str | None = None, *, path: str | None = None) -> None:
        """Answer with `status`; a `reason` is sent as Open-Meteo does: {"error": true, "reason": ...}."""
        self._misbehaviour = _Misbehaviour("error", status, reason, path)

    def send_malformed_json(self, *, path: str | None = None) -> None:
        """Answer 200 with a body that is not valid JSON."""
        self._misbehaviour = _Misbehaviour("malformed", path=path)

    def stall(self, *, path: str | None = None) -> None:
        """Hold every request until `release()`, `stop()` or `max_stall` seconds."""
        self._release.clear()
        self._misbehaviour = _Misbehaviour("stall", path=path)

    def release(self) -> None:
        self._release.set()

    def behave(self) -> None:
        """Answer normally again."""
        self._misbehaviour = None
        self.release()

    # -- request handling ------------------------------------------------------------------

    def answer(self, method: str, path: str, params: dict[str, str]) -> _Reply:
        raise NotImplementedError

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, parts.path, params, handler.path))
        reply = self._misbehave(parts.path) or self.answer(handler.command, parts.path, params)
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(reply.body)
        except OSError:  # the client gave up (a timeout test): nothing to answer to
            pass

    def _misbehave(self, path: str) -> _Reply | None:
        bad = self._misbehaviour
        if bad is None or (bad.path is not None and not path.startswith(bad.path)):
            return None
        if bad.kind == "stall":
            self._release.wait(timeout=self.max_stall)
            return _Reply(504, b"stalled", "text/plain")
        if bad.kind == "malformed":
            return _Reply(200, b'{"results": [{"title": "cut off', "application/json")
        if bad.reason is not None:
            return json_reply({"error": True, "reason": bad.reason}, bad.status)
        return _Reply(bad.status, b"<html><body>Internal Server Error</body></html>", "text/html")


# ---------------------------------------------------------------------------------------------


_TEMPERATURE_UNITS = {"celsius": "°C", "fahrenheit": "°F"}
# km/h per unit; labels as Open-Meteo writes them ("mp/h" is theirs).
_WIND_UNITS = {"kmh": (1.0, "km/h"), "mph": (1.609344, "mp/h"), "ms": (3.6, "m/s"), "kn": (1.852, "kn")}


class FakeOpenMeteo(FakeService):
    """Open-Meteo's geocoding (`/v1/search`) and forecast (`/v1/forecast`) APIs on one port."""

    def __init__(self, places: dict[str, Place] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.places = dict(SAMPLE_PLACES if places is None else places)

    def answer(self, method: str, path: str, params: dict[str, str]) -> _Reply:
        if path == "/v1/search":
            return self._geocode(params)
        if path == "/v1/forecast":
            return self._forecast(params)
        return json_reply({"error": True, "reason": "Not Found"}, 404)

    def _geocode(self, params: dict[str, str]) -> _Reply:
        name = _fold(params.get("name", ""))
        count = int(params.get("count", "10"))
        matches = [p for p in self.places.values() if name and _fold(p.name).startswith(name)]
        if not matches:
            return json_reply({"generationtime_ms": 0.1})  # Open-Meteo's answer: no "results" key
        results = [
            {"id": index, **{k: v for k, v in asdict(p).items() if k not in _WEATHER_FIELDS}}
            for index, p in enumerate(matches[:count], start=1)
        ]
        return json_reply({"results": results, "generationtime_ms": 0.1})

    def _forecast(self, params: dict[str, str]) -> _Reply:
        try:
            latitude, longitude = float(params["latitude"]), float(params["longitude"])
        except (KeyError, ValueError):
            return json_reply({"error": True, "reason": "Parameter 'latitude' and 'longitude' are required"}, 400)
        if not -90 <= latitude <= 90:
            return json_reply(
                {"error": True, "reason": f"Latitude must be in range of -90 to 90°. Given: {latitude}."}, 400
            )
        temperature_unit = params.get("temperature_unit", "celsius")
        wind_unit = params.get("wind_speed_unit", "kmh")
        if temperature_unit not in _TEMPERATURE_UNITS or wind_unit not in _WIND_UNITS:
            return json_reply({"error": True, "reason": "Cannot initialize unit from invalid String value"}, 400)
        place = self._place_at(latitude, longitude)
        temperature = place.temperature_c if temperature_unit == "celsius" else place.temperature_c * 9 / 5 + 32
        per_kmh, wind_label = _WIND_UNITS[wind_unit]
        return json_reply(
            {
                "latitude": latitude,
                "longitude": longitude,
                "timezone": place.timezone,
                "current_units": {
                    "time": "iso8601",
                    "interval": "seconds",
                    "temperature_2m": _TEMPERATURE_UNITS[temperature_unit],
                    "weather_code": "wmo code",
                    "wind_speed_10m": wind_label,
                },
                "current": {
                    "time": FIXED_TIME,
                    "interval": 900,
                    "temperature_2m": round(temperature, 1),
                    "weather_code": place.weather_code,
                    "wind_speed_10m": round(place.wind_kmh / per_kmh, 1),
                },
            }
        )

    def _place_at(self, latitude: float, longitude: float) -> Place:
        for place in self.places.values():
            if abs(place.latitude - latitude) < 0.01 and abs(place.longitude - longitude) < 0.01:
                return place
        return Place("anywhere", latitude, longitude, "")  # the real API forecasts any coordinates


_WEATHER_FIELDS = {"temperature_c", "weather_code", "wind_kmh"}


def _fold(text: str) -> str:
    """Case- and accent-insensitive form, as the real geocoder matches: 'Reykjavik' finds 'Reykjavík'."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


class FakeSearxng(FakeService):
    """SearxNG's JSON search API: results for every keyword (lower case) found in the query."""

    def __init__(self, results: dict[str, list[dict[str, str]]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = dict(SAMPLE_RESULTS if results is None else results)

    def answer(self, method: str, path: str, params: dict[str, str]) -> _Reply:
        if path != "/search":
            return _Reply(404, b"Not Found", "text/plain")
        if params.get("format") != "json":  # what SearxNG does when JSON output is not enabled
            return _Reply(403, b"Forbidden", "text/html")
        query = params.get("q", "")
        found: list[dict[str, str]] = []
        for keyword, rows in self.results.items():
            if keyword.lower() in query.lower():
                seen = {row["url"] for row in found}
                found.extend({**row, "engine": "fake"} for row in rows if row["url"] not in seen)
        return json_reply({"query": query, "number_of_results": len(found), "results": found, "answers": []})


class FailingProxy(FakeService):
    """An HTTP proxy that refuses everything with 502: points a client at it to fail fast, offline.
    `requests` shows what the client tried to reach (CONNECT host:port)."""

    def answer(self, method: str, path: str, params: dict[str, str]) -> _Reply:
        return _Reply(502, b"Bad Gateway", "text/plain")


class FakeOllama(FakeService):
    """Ollama's two faces: `/api/tags` lists `models`, and its OpenAI-compatible `/v1/...` is
    relayed to `upstream` (a real llama.cpp server), so the answers are a real model's."""

    def __init__(self, upstream: str, models: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upstream = upstream.rstrip("/")
        self.models = models

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, parts.path, {}, handler.path))
        if parts.path == "/api/tags":
            reply = json_reply({"models": [{"name": name, "model": name} for name in self.models]})
        elif parts.path.startswith("/v1/"):
            reply = self._relay(handler)
        else:
            reply = _Reply(404, b"404 page not found", "text/plain")
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def _relay(self, handler: BaseHTTPRequestHandler) -> _Reply:
        import httpx

        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        upstream = httpx.request(
            handler.command,
            self.upstream + handler.path,
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        return _Reply(upstream.status_code, upstream.content, upstream.headers.get("Content-Type", "application/json"))
