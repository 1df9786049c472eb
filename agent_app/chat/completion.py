"""Tab completion in the chat: command names, then each command's own values (template names
for /template, model choices for /model, conversation ids for /resume and /delete, on|off ...).

What to offer is computed from the session when Tab is pressed, so new templates and saved
conversations appear at once; the model list (which may ask Ollama) is read once per chat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from agent_app.chat import commands

if TYPE_CHECKING:
    from agent_app.chat.session import ChatSession

FIXED_VALUES = {
    "agent": ["on", "off"],
    "verbose": ["on", "off", "debug"],
    "kb": ["remove", "use"],
}


def _constant(values: list[str]) -> Callable[[], Iterable[str]]:
    return lambda: values


class ChatCompleter(Completer):
    """Completes `/command` and its first argument."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self._models: list[str] | None = None
        self.values: dict[str, Callable[[], Iterable[str]]] = {
            "template": self._templates,
            "model": self._model_choices,
            "resume": self._conversations,
            "delete": self._conversations,
        }
        for name, values in FIXED_VALUES.items():
            self.values[name] = _constant(values)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/"):
            return
        name, space, arg = text[1:].partition(" ")
        if not space:
            for command in sorted(commands.COMMANDS):
                if command.startswith(name.lower()):
                    yield Completion(
                        f"/{command}", start_position=-len(text), display_meta=commands.COMMANDS[command].help
                    )
            return
        source = self.values.get(name.lower())
        if source is None or " " in arg:
            return
        for value in source():
            if value.startswith(arg):
                yield Completion(value, start_position=-len(arg))

    def _templates(self) -> list[str]:
        return [info.name for info in self.session.templates.list() if not info.error]

    def _model_choices(self) -> list[str]:
        if self._models is None:
            from agent_app.models.catalog import available_models

            self._models = [c.model for c in available_models(self.session.settings)]
        return self._models

    def _conversations(self) -> list[str]:
        if self.session.log.store is None:
            return ["last"]
        return ["last", *(c.short_id for c in self.session.log.store.list(limit=30))]
