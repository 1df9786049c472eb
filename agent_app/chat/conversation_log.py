"""A chat's messages as the conversation store keeps them: each committed as it completes.

A store that cannot take a message now (locked by another process, disk full) does not lose it:
the message waits in `unsaved`, the user is told once, and the next message tries again after
STORE_RETRY_S (so a locked database does not make every message wait its busy timeout); closing
tries once more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

    from agent_app.memory.settings import MemorySettings
    from agent_app.memory.store import Conversation, ConversationStore

STORE_RETRY_S = 5.0
"""How long after a failed save the next message waits before trying the store again."""


class ConversationLog:
    def __init__(
        self, store: ConversationStore | None, notices: list[str], choices: Callable[[], tuple[str, str]]
    ) -> None:
        """`notices`: where one-line warnings go; `choices()`: the model and template a new
        conversation is stored with."""
        self.store = store
        self.notices = notices
        self.choices = choices
        self.conversation: Conversation | None = None
        self.history: list[BaseMessage] = []
        self.unsaved: list[BaseMessage] = []
        """Messages the store could not take yet, oldest first."""
        self._retry_at = 0.0
        self._failing = False

    def start(self) -> None:
        """Begin a new conversation (the last one's pending messages go to the last one)."""
        self.save_unsaved(now=True)
        self.history = []
        self.conversation = None

    def load(self, ref: str) -> Conversation:
        """Make the stored conversation `ref` the current one, with its messages."""
        if self.store is None:
            from agent_app.errors import ConfigError

            raise ConfigError("conversations are not being saved in this session")
        self.save_unsaved(now=True)
        conversation = self.store.get(ref)
        self.history = self.store.messages(conversation.id)
        self.store.touch(conversation.id)
        self.conversation = conversation
        return conversation

    def view(
        self, settings: MemorySettings, model: Any, template: str, config: RunnableConfig | None = None
    ) -> list[BaseMessage]:
        """The part of the history `model` sees, per the memory strategy."""
        from agent_app.memory.strategies import build_memory

        cache = self.store.summary_cache(self.conversation.id) if (self.store and self.conversation) else None
        memory = build_memory(settings, model, cache=cache)
        history = self.history
        if settings.scope == "template":
            # Each message is tagged with the template it was made under; untagged ones (saved
            # before the tag existed) are shared.
            history = [m for m in history if m.response_metadata.get("template", template) == template]
        return memory.select(history, config=config)

    def remember(self, message: BaseMessage) -> None:
        self.history.append(message)
        if self.store is not None:
            self.unsaved.append(message)
            self.save_unsaved()

    def save_choices(self) -> None:
        """Store the current model and template with the conversation (resume restores them)."""
        if self.store is not None and self.conversation is not None:
            model, template = self.choices()
            self.store.update_settings(self.conversation.id, model=model, template=template)

    def save_unsaved(self, *, now: bool = False) -> None:
        """Commit the messages the store has not taken yet, oldest first; `now` tries at once."""
        from agent_app.memory.store import ConversationStoreError

        if self.store is None or not self.unsaved or (not now and time.monotonic() < self._retry_at):
            return
        try:
            if self.conversation is None:
                model, template = self.choices()
                self.conversation = self.store.create(model=model, template=template)
            while self.unsaved:
                self.store.append(self.conversation.id, self.unsaved[0])
                del self.unsaved[0]
        except ConversationStoreError as exc:
            self._retry_at = time.monotonic() + STORE_RETRY_S
            if not self._failing:
                self.notices.append(f"not saved yet: {exc}; the conversation is kept and saved once that works again")
            self._failing = True
            return
        if self._failing:
            self.notices.append("the conversation is saved again, with the messages kept meanwhile")
            self._failing = False
