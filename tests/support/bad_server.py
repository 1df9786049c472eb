"""A loopback stand-in for an OpenAI-compatible server that misbehaves in one chosen way.

Modes:
- `garbage`: accepts, writes bytes that are not HTTP, closes;
- `not_json`: HTTP 200 with an HTML body;
- `hang`: accepts and reads the request, then says nothing until stopped;
- `status`: a fixed HTTP status with an OpenAI-style error body, which may echo the request's
  Authorization header back (as some proxies do);
- `stream_then_die`: starts a streamed answer, sends `chunks` pieces, then drops the connection.
Every wait is bounded, and `stop()` releases a hanging handler at once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any


class BadServer:
    def __init__(
        self,
        mode: str,
        *,
        status: int = 500,
        code: str | None = None,
        echo_auth: bool = False,
        chunks: int = 3,
        chunk_delay: float = 0.05,
    ) -> None:
        self.mode, self.status, self.code, self.echo_auth = mode, status, code, echo_auth
        self.chunks, self.chunk_delay = chunks, chunk_delay
        self._released = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.requests = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def __enter__(self) -> BadServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._released.set()
        self._thread.join(timeout=5)
        self._sock.close()

    # -- serving -----------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._released.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        self.requests += 1
        conn.settimeout(5)
        try:
            headers = self._read_request(conn)
            if self.mode == "garbage":
                conn.sendall(b"\x00\x01 this is not HTTP at all \xff\xfe\r\n\r\n")
            elif self.mode == "not_json":
                self._reply(conn, 200, b"<html><body>Welcome to my homepage</body></html>", "text/html")
            elif self.mode == "hang":
                self._released.wait(timeout=60)
            elif self.mode == "status":
                message = "something went wrong"
                if self.echo_auth:
                    message = f"invalid credentials: your header was {headers.get('authorization', '')}"
                body = {"error": {"message": message, "type": "error", "code": self.code}}
                self._reply(conn, self.status, json.dumps(body).encode(), "application/json")
            elif self.mode == "stream_then_die":
                self._stream_then_die(conn)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> dict[str, str]:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                break
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(body) < length:
            piece = conn.recv(65536)
            if not piece:
                break
            body += piece
        return headers

    @staticmethod
    def _reply(conn: socket.socket, status: int, body: bytes, content_type: str) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        conn.sendall(head.encode() + body)

    def _stream_then_die(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for i in range(self.chunks):
            event: dict[str, Any] = {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": f"part{i} "}, "finish_reason": None}],
            }
            payload = f"data: {json.dumps(event)}\n\n".encode()
            conn.sendall(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            time.sleep(self.chunk_delay)
        conn.shutdown(socket.SHUT_RDWR)  # dies mid-answer: no final chunk, no [DONE]
