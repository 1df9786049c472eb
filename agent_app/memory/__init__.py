"""Conversation memory: persistent conversations (`store`) and the strategies that choose which
part of a conversation is sent to the model (`strategies`).

Import the submodules directly; this package stays import-light so that `settings` can be loaded
by the configuration without pulling in LangChain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_app.memory.store import ConversationStore


def open_store(url: str = "") -> ConversationStore:
    """The conversation store the settings name (`memory.store`): the SQLite file in the data
    folder when empty, else PostgreSQL at that URL (`memory.pg_conversations`)."""
    if not url:
        from agent_app.memory.store import ConversationStore

        return ConversationStore()
    from agent_app.memory.pg_conversations import PgConversationStore

    return PgConversationStore(url)
