"""The agent's `knowledge_base` tool: searches an ingested collection with the same hybrid
retriever as the `rag` chain and returns numbered passages with their sources.

Failures (nothing ingested, a damaged index) come back as observation strings, so the agent
can tell the user what to do instead of crashing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent_app.errors import AppError
from agent_app.tool_profile import ToolProfile, attach

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from agent_app.retrieval.settings import RetrievalSettings

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Search the user's own documents (files they ingested). Input: a question or keywords. "
    "Returns numbered passages [1], [2] with their file and page or lines; cite those numbers."
)


def search_knowledge_base(
    query: str,
    collection: str | None = None,
    settings: RetrievalSettings | None = None,
    k: int | None = None,
) -> str:
    """Numbered passages for `query`, or a one-line explanation of why there are none."""
    from agent_app.retrieval import format_context, get_retriever

    if not query.strip():
        return "knowledge_base needs a question or keywords to search for."
    try:
        docs = get_retriever(collection, settings, k=k).invoke(query)
    except AppError as exc:
        return f"knowledge_base unavailable: {exc}"
    except Exception as exc:  # an agent tool must not take the chat down; keep the traceback in the log
        log.exception("knowledge_base search failed")
        return f"knowledge_base failed: {type(exc).__name__}: {exc}"
    if not docs:
        return "No passages in the knowledge base match that query."
    return format_context(docs)


def make_knowledge_base_tool(
    collection: str | None = None, settings: RetrievalSettings | None = None, k: int | None = None
) -> BaseTool:
    """The `knowledge_base` tool bound to a collection (default: the settings' default)."""
    from langchain_core.tools import StructuredTool

    def knowledge_base(query: str) -> str:
        return search_knowledge_base(query, collection, settings, k)

    tool = StructuredTool.from_function(knowledge_base, name="knowledge_base", description=DESCRIPTION)
    return attach(
        tool,
        ToolProfile(
            result="documents", task="search your documents for “{input}”", quote="Your documents say: {observation}"
        ),
    )
