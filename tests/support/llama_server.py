"""A real OpenAI-compatible server for tests and benchmarks: xllamacpp (prebuilt llama.cpp)
serving the bundled GGUF on 127.0.0.1.

xllamacpp has no command-line entry point, so `python -m tests.support.llama_server PORT ALIAS
THREADS` is the launcher; `LlamaServer` starts it as a child process, waits for `/health` and
stops it with SIGTERM (or SIGKILL, to simulate a crash).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from agent_app.models.llamacpp import free_port

ALIAS = "smollm2"


class LlamaServer:
    """Start/stop an xllamacpp server process serving the bundled GGUF."""

    def __init__(self, threads: int = 1, n_ctx: int = 4096, port: int | None = None) -> None:
        self.port = port or free_port()
        self.threads = threads
        self.n_ctx = n_ctx
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60.0) -> LlamaServer:
        repo = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.llama_server",
                str(self.port),
                ALIAS,
                str(self.threads),
                str(self.n_ctx),
            ],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.stderr else ""
                raise RuntimeError(f"xllamacpp exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)  # polling a starting process; not a timing assertion
        self.stop()
        raise RuntimeError("xllamacpp did not become healthy in time")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(port: int, alias: str, threads: int, n_ctx: int) -> None:
    import xllamacpp

    from agent_app.models.weights import bundled_gguf_path

    params = xllamacpp.CommonParams()
    params.model.path = str(bundled_gguf_path())
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = n_ctx
    params.model_alias = alias
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)  # serves until SIGTERM
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    del server


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
