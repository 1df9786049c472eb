"""MCP servers' tools for the agent: one session per server for the whole chat.

Imported only when MCP servers are configured (it imports langchain-core and, at start, the MCP SDK).

langchain-mcp-adapters converts each server's tools (schemas, results, tool errors). The
sessions are held here rather than by its `MultiServerMCPClient`, whose tools open a new
session for every call (a stdio server would be started again for each one). MCP sessions are
asyncio objects and the agent is synchronous, so they live on one background event-loop
thread, each inside a task that keeps its `async with` open until `close()`; a tool call is sent
to that loop and waited for.

A server that fails to start, or dies mid-chat, leaves one line in `take_notices()` and its
tools drop out of `tools()`; a call that was on its way gets a failure observation. Nothing
raises into the chat.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from agent_app.tools.settings import KNOWN_TOOLS, Approval, McpServerSettings


class _StartFailed(Exception):
    """A server did not come up; the message says why."""


@dataclass
class _Server:
    name: str
    settings: McpServerSettings
    tools: list[BaseTool] = field(default_factory=list)
    up: bool = False
    reason: str = ""
    stop: asyncio.Event | None = None


class McpServers:
    """The configured MCP servers of one chat, started together and stopped together."""

    def __init__(self, servers: Mapping[str, McpServerSettings], reserved: Iterable[str] = KNOWN_TOOLS) -> None:
        """`reserved`: tool names already taken (the built-ins); an MCP tool of the same name
        is offered as SERVER_NAME instead."""
        self._servers = {name: _Server(name, settings) for name, settings in servers.items()}
        self._taken = set(reserved)
        self._notices: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[concurrent.futures.Future[None]] = []
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._servers)

    def start(self) -> None:
        """Start every server and wait until each is up or has failed (its own `timeout`)."""
        if self._loop is not None or not self._servers:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-servers", daemon=True)
        self._thread.start()
        waiting = {}
        for server in self._servers.values():
            ready: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._tasks.append(asyncio.run_coroutine_threadsafe(self._serve(server, ready), self._loop))
            waiting[server.name] = ready
        for name, ready in waiting.items():
            server = self._servers[name]
            try:
                ready.result(timeout=server.settings.timeout)
            except concurrent.futures.TimeoutError:
                self._down(server, f"no answer within {server.settings.timeout:g} s")
            except _StartFailed as exc:
                self._down(server, str(exc))

    def tools(self) -> list[BaseTool]:
        """The tools of the servers that are up, as synchronous LangChain tools."""
        with self._lock:
            return [tool for server in self._servers.values() if server.up for tool in server.tools]

    def _server_of(self, tool_name: str) -> _Server | None:
        return next((s for s in self._servers.values() if any(t.name == tool_name for t in s.tools)), None)

    def source(self, tool_name: str) -> str | None:
        """`mcp:SERVER` for a tool of a server here, else None."""
        server = self._server_of(tool_name)
        return f"mcp:{server.name}" if server else None

    def default_approval(self, tool_name: str) -> Approval | None:
        """The approval policy of the server the tool comes from, if it is an MCP tool."""
        server = self._server_of(tool_name)
        return server.settings.approval if server else None

    def take_notices(self) -> list[str]:
        """One-line messages about servers that failed or stopped, each given once."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    def close(self) -> None:
        """Stop every server (a stdio server's process ends with its session)."""
        loop = self._loop
        if loop is None:
            return
        for server in self._servers.values():
            if server.stop is not None:
                loop.call_soon_threadsafe(server.stop.set)
        # Each session's task leaves its `async with` (ending a stdio server's process) first.
        concurrent.futures.wait(self._tasks, timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = None

    # -- inside the loop ---------------------------------------------------------------------
    async def _serve(self, server: _Server, ready: concurrent.futures.Future[None]) -> None:
        from langchain_mcp_adapters.tools import load_mcp_tools

        try:
            async with _session(server.name, server.settings) as session:
                # handle_tool_errors=False: a tool's own error raises, so it can be told apart
                # from a result (the adapter would otherwise return it as ordinary content).
                loaded = await load_mcp_tools(session, server_name=server.name, handle_tool_errors=False)
                server.stop = asyncio.Event()
                with self._lock:
                    server.tools = [self._sync_tool(server, tool, self._name(server, tool)) for tool in loaded]
                    server.up = True
                ready.set_result(None)
                await server.stop.wait()
        except BaseException as exc:  # whatever ends this server must not reach the chat
            if not ready.done():
                ready.set_exception(_StartFailed(describe(exc)))
            else:
                self._down(server, describe(exc))
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise

    def _down(self, server: _Server, reason: str) -> None:
        with self._lock:
            if server.up or not server.reason:
                verb = "stopped" if server.up else "did not start"
                self._notices.append(f"MCP server {server.name!r} {verb}: {reason}; its tools are left out")
            server.up, server.reason = False, reason

    def _call(self, server: _Server, tool: BaseTool, arguments: dict[str, Any]) -> str:
        """Run one tool call on the loop; every failure becomes an observation line."""
        if not server.up or self._loop is None:
            return f"{tool.name} failed: MCP server {server.name!r} is not running ({server.reason})"
        future = asyncio.run_coroutine_threadsafe(tool.ainvoke(arguments), self._loop)
        try:
            content = future.result(timeout=server.settings.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return f"{tool.name} failed: no answer from MCP server {server.name!r} within {server.settings.timeout:g} s"
        except Exception as exc:
            from langchain_core.tools import ToolException

            if isinstance(exc, ToolException):  # the tool ran and reported an error
                return f"{tool.name} failed: {_one_line(str(exc))}"
            self._down(server, describe(exc))
            return f"{tool.name} failed: MCP server {server.name!r} stopped ({server.reason})"
        return content_text(content)

    def _name(self, server: _Server, tool: BaseTool) -> str:
        name = tool.name if tool.name not in self._taken else f"{server.name}_{tool.name}"
        self._taken.add(name)
        return name

    def _sync_tool(self, server: _Server, tool: BaseTool, name: str) -> BaseTool:
        return McpTool(
            name=name,
            description=tool.description,
            args_schema=tool.args_schema,
            metadata={"source": f"mcp:{server.name}"},
            call=lambda arguments: self._call(server, tool, arguments),
        )


class McpTool(BaseTool):
    """A synchronous stand-in for an MCP tool. One text argument may be given as plain text
    (what the ReAct loop's one-line action input is); the server checks the arguments."""

    call: Any

    def _parse_input(self, tool_input: str | dict, tool_call_id: str | None) -> str | dict[str, Any]:
        if isinstance(tool_input, str):
            names = list(self.args)
            if len(names) > 1:
                raise ValueError(f"{self.name} takes {', '.join(names)}: give them as a JSON object")
            return {names[0]: tool_input} if names else {}
        return super()._parse_input(tool_input, tool_call_id)

    def _run(self, *args: Any, run_manager: Any = None, **kwargs: Any) -> str:
        return str(self.call(kwargs))


@contextlib.asynccontextmanager
async def _session(name: str, settings: McpServerSettings) -> AsyncIterator[Any]:
    """An initialised MCP client session to one server.

    A stdio server is started with the SDK directly: the adapter's helper sends the server's
    stderr (banners, logs) to ours, where it would draw over the chat; here it goes to
    `logs/mcp-NAME.log` in the data folder. HTTP goes through the adapter's session helper.
    """
    from mcp import ClientSession

    if settings.command is None:
        from langchain_mcp_adapters.sessions import create_session

        connection: Any = {"transport": "streamable_http", "url": settings.url, "headers": settings.headers or None}
        async with create_session(connection) as session:
            await session.initialize()
            yield session
        return
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=settings.command,
        args=settings.args,
        # The SDK gives a stdio server a minimal environment (PATH, HOME, ...) plus `env`;
        # "${NAME}" in a value is taken from ours, so a token need not be written in the file.
        env={key: _expand(value) for key, value in settings.env.items()} or None,
        cwd=os.path.expanduser(settings.cwd) if settings.cwd else None,
    )
    with open(server_log(name), "a", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


def server_log(name: str) -> Path:
    """Where a stdio server's stderr goes."""
    from agent_app import paths

    folder = paths.data_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"mcp-{name}.log"


def _expand(value: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: os.environ.get(m.group(1), m.group(0)), value)


def content_text(content: Any) -> str:
    """An MCP tool's result (text, or the adapter's content blocks) as observation text."""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable):
        parts = []
        for block in content:
            if isinstance(block, dict):
                parts.append(block.get("text") or f"[{block.get('type', 'content')}]")
            else:
                parts.append(str(block))
        return "\n".join(parts)
    return str(content)


def describe(exc: BaseException) -> str:
    """One line for what stopped a server: the innermost cause, without exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    cause = exc.__cause__ or exc.__context__
    text = _one_line(str(exc))
    if not text and cause is not None and cause is not exc:
        return describe(cause)
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"command not found: {exc.filename}"
    name = type(exc).__name__
    if name == "ClosedResourceError":
        return "its connection closed (the process may have crashed)"
    return f"{name}: {text}" if text else name


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
