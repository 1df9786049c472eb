"""Pytest fixtures for the loopback stand-ins of Open-Meteo and SearxNG, shared by the tools'
and the agent's tests (each conftest imports the ones it needs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_services import FakeOpenMeteo, FakeSearxng


@pytest.fixture
def open_meteo() -> Iterator[FakeOpenMeteo]:
    with FakeOpenMeteo() as service:
        yield service


@pytest.fixture
def searxng() -> Iterator[FakeSearxng]:
    with FakeSearxng() as service:
        yield service
