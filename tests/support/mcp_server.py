"""A small MCP server for the tests, written with the `mcp` SDK (FastMCP), run as a real process.

    python tests/support/mcp_server.py                 # stdio
    python tests/support/mcp_server.py --http PORT     # streamable HTTP at http://127.0.0.1:PORT/mcp

It appends its pid to $MCP_TEST_PID_FILE (when set), one line per start, so a test can count
the processes and kill one mid-chat. Over HTTP it binds a free port itself and prints
`ready PORT` once it listens; with $MCP_TEST_TOKEN set it answers only requests carrying that
bearer token.
"""

from __future__ import annotations

import os
import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("test-tools", host="127.0.0.1", log_level="ERROR")


@server.tool()
def shout(text: str) -> str:
    """Return the text in capital letters."""
    return text.upper() + "!"


@server.tool()
def add_numbers(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
def secret_word() -> str:
    """Return the word the server's environment holds (MCP_TEST_WORD)."""
    return os.environ.get("MCP_TEST_WORD", "(none)")


@server.tool()
def reverse_text(text: str) -> str:
    """Reverse the order of the characters in a text."""
    return text[::-1]


@server.tool()
def count_words(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


@server.tool()
def fail_always(reason: str) -> str:
    """A tool whose every call fails."""
    raise ValueError(f"cannot do that: {reason}")


def main() -> None:
    pid_file = os.environ.get("MCP_TEST_PID_FILE")
    if pid_file:
        with open(pid_file, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
    if sys.argv[1:] == ["--http"]:
        serve_http()
    else:
        server.run()


def serve_http() -> None:
    import socket

    import uvicorn
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import PlainTextResponse

    app = server.streamable_http_app()
    token = os.environ.get("MCP_TEST_TOKEN")
    if token:

        async def check(request, call_next):
            if request.headers.get("authorization") != f"Bearer {token}":
                return PlainTextResponse("unauthorized", status_code=401)
            return await call_next(request)

        app.add_middleware(BaseHTTPMiddleware, dispatch=check)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn accepts them
    print(f"ready {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on")).run(sockets=[sock])


if __name__ == "__main__":
    main()
