"""The web page of `serve` in a real headless browser: Debian's chromium driven by Selenium
(`apt-get install chromium chromium-driver`; .ci/run installs them where it can)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agent_app.config import load_settings
from agent_app.memory.store import ConversationStore
from tests.support.cli import run_cli
from tests.support.serve_helpers import GatedModel, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver (apt-get install ...)"
)

REPLY = 'Your plant is **Gerald** [1]. <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>'


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # no background fetches (updates, field trials): the page on 127.0.0.1 is all it may reach
    flags = ("--disable-background-networking", "--disable-component-update", "--no-first-run")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, condition: Any, seconds: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def test_the_page_streams_renders_safely_and_cites(browser, tmp_path, embeddings) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from agent_app.retrieval import ingest

    notes = tmp_path / "notes.md"
    notes.write_text("# Office\n\nThe office plant is a ficus named Gerald.\n", encoding="utf-8")
    settings = load_settings(environ={}, overrides={"model": "fake"})
    ingest([notes], collection="notes", settings=settings.retrieval, embeddings=embeddings)
    model = GatedModel(replies=[REPLY], echo=False, gate=threading.Event(), log=[])
    with ConversationStore() as store, running_server(settings, model, store=store) as url:
        browser.get(url + "/")
        wait_for(browser, lambda d: "rag:notes" in d.find_element(By.ID, "model").text)
        Select(browser.find_element(By.ID, "model")).select_by_value("rag:notes")
        browser.find_element(By.ID, "input").send_keys("What is the office plant called?")
        browser.find_element(By.ID, "send").click()

        # the first word shows while the rest is still being generated: it streams
        answer = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".msg.assistant .answer"))
        wait_for(browser, lambda d: answer.text.startswith("Your"))
        assert "Gerald" not in answer.text
        model.gate.set()

        sources = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".msg.assistant .sources"))
        assert "[1]" in sources.text and "notes.md" in sources.text
        assert answer.find_element(By.TAG_NAME, "strong").text == "Gerald"  # Markdown rendered
        # the model's HTML is shown as text, never run
        assert "<img" in answer.text and "<script>" in answer.text
        assert answer.find_elements(By.TAG_NAME, "img") == [] and answer.find_elements(By.TAG_NAME, "script") == []
        assert browser.execute_script("return window.pwned === undefined")
    listed = run_cli("sessions")
    assert "What is the office plant called" in listed.out  # saved like the terminal's


def test_a_server_with_keys_asks_the_page_for_one(browser, monkeypatch) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    monkeypatch.setenv("AGENT_APP_SERVE_KEYS", "page-key")
    settings = load_settings(overrides={"model": "fake"})
    model = GatedModel(replies=["Hello with a key."], echo=False, gate=threading.Event(), log=[])
    model.gate.set()
    with running_server(settings, model) as url:
        browser.get(url + "/")
        key = wait_for(
            browser, lambda d: d.find_element(By.ID, "key-label").is_displayed() and d.find_element(By.ID, "key")
        )
        key.send_keys("page-key", Keys.TAB)  # `change` reloads the models with the key
        wait_for(browser, lambda d: "chat" in d.find_element(By.ID, "model").text)
        browser.find_element(By.ID, "input").send_keys("hi", Keys.ENTER)
        answer = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".msg.assistant .answer"))
        wait_for(browser, lambda d: answer.text == "Hello with a key.")
