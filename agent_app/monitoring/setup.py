"""The chat's monitoring in one object: the event log, the live notes and the statistics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from langchain_core.callbacks import BaseCallbackHandler
from rich.console import Console

from agent_app.monitoring.jsonl import JsonlLogHandler
from agent_app.monitoring.live import LiveEventPrinter
from agent_app.monitoring.settings import LoggingSettings
from agent_app.monitoring.stats import StatsCallback


@dataclass
class Monitoring:
    """Handlers to pass as `config={"callbacks": monitoring.callbacks}` on every run."""

    log: JsonlLogHandler | None
    live: LiveEventPrinter
    stats: StatsCallback

    @property
    def callbacks(self) -> list[BaseCallbackHandler]:
        handlers: list[BaseCallbackHandler] = [self.stats, self.live]
        if self.log is not None:
            handlers.insert(0, self.log)
        return handlers

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def build_monitoring(
    settings: LoggingSettings,
    *,
    secrets: Iterable[str | None] = (),
    console: Console | None = None,
    on_warning: Callable[[str], None] | None = None,
    log_path: str | Path | None = None,
) -> Monitoring:
    """Handlers per the settings. `secrets`: values never to show (API keys); `console`: where live
    notes go (default: stderr); `on_warning`: how to show the one warning of a failing log."""
    secrets = list(secrets)
    log = None
    if settings.enabled:
        log = JsonlLogHandler(
            log_path,
            log_content=settings.log_content,
            secrets=secrets,
            max_bytes=settings.max_bytes,
            backups=settings.backups,
            on_warning=on_warning,
        )
    live = LiveEventPrinter(console, level=settings.verbose, secrets=secrets)
    return Monitoring(log=log, live=live, stats=StatsCallback())
