"""The agent's toolbox: built-ins, knowledge_base, the MCP servers' tools, each under its approval.

One builder for the chat, `ask`, the server and `agent-app tools`:

    with Toolbox(settings.tools, settings.retrieval) as box:
        tools = box.tools(collection)          # what the agent gets (deny left out, ask wrapped)
        rows = box.describe(collection)        # name, source, approval, what it does

MCP servers start at the first `tools()`/`describe()` and run until `close()` (one session
each, kept for the whole chat).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from agent_app.tools.approval import ApprovalGate, Asker
from agent_app.tools.settings import ToolsSettings

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from agent_app.retrieval.settings import RetrievalSettings
    from agent_app.tools.mcp import McpServers


@dataclass(frozen=True)
class ToolRow:
    name: str
    source: str
    """"built-in", or the MCP server's name."""
    approval: str
    description: str


class Toolbox:
    def __init__(self, settings: ToolsSettings, retrieval: RetrievalSettings, *, ask: Asker | None = None) -> None:
        self.settings, self.retrieval = settings, retrieval
        self.approval = ApprovalGate(settings.approval, ask=ask, assume_yes=settings.assume_yes)
        """The session's approvals ("always" answers are kept across turns)."""
        self._mcp: McpServers | None = None

    def __enter__(self) -> Toolbox:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def mcp(self) -> McpServers | None:
        """The configured MCP servers, started at first use; None when there are none."""
        if not self.settings.mcp_servers:
            return None
        if self._mcp is None:
            from agent_app.tools.mcp import McpServers

            self._mcp = McpServers(self.settings.mcp_servers)
            self._mcp.start()
        return self._mcp

    def found(self, collection: str) -> list[BaseTool]:
        """Every configured tool before approval: the built-ins, knowledge_base when `collection`
        has documents (absent otherwise, not faked), then the MCP servers' tools."""
        from agent_app.tools import build_tools

        settings, extra = self.settings, []
        if _has_documents(collection, self.retrieval):
            from agent_app.tools.knowledge_base import make_knowledge_base_tool

            extra.append(make_knowledge_base_tool(collection, self.retrieval))
            if "knowledge_base" not in settings.enabled:
                settings = settings.model_copy(update={"enabled": [*settings.enabled, "knowledge_base"]})
        servers = self.mcp
        return [*build_tools(settings, extra=extra), *(servers.tools() if servers else [])]

    def tools(self, collection: str) -> list[BaseTool]:
        """The tools as the agent gets them: `deny` left out, `ask` wrapped to ask first."""
        servers = self.mcp
        return self.approval.apply(self.found(collection), servers.default_approval if servers else lambda _n: None)

    def describe(self, collection: str) -> list[ToolRow]:
        servers = self.mcp
        rows = []
        for tool in self.found(collection):
            default = (servers.default_approval(tool.name) if servers else None) or "allow"
            rows.append(
                ToolRow(
                    name=tool.name,
                    source=(servers.source(tool.name) if servers else None) or "built-in",
                    approval=self.approval.policy(tool.name, default),
                    description=(tool.description.splitlines() or [""])[0],
                )
            )
        return rows

    def take_notices(self) -> list[str]:
        """MCP servers that failed to start or stopped, once each."""
        return self._mcp.take_notices() if self._mcp else []

    def close(self) -> None:
        if self._mcp is not None:
            self._mcp.close()
            self._mcp = None


def _has_documents(name: str, retrieval: RetrievalSettings) -> bool:
    """True when collection `name` exists and holds chunks (reads manifests only)."""
    from agent_app.errors import AppError
    from agent_app.retrieval import describe_collections

    try:
        return any(info.name == name and info.chunk_count for info in describe_collections(retrieval))
    except AppError:  # a PostgreSQL store that is down: no knowledge base this turn, not a crash
        return False
