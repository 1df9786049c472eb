"""`serve` against a cold start (a script, not a test), on the bundled model; run it alone.

    .venv/bin/python bench/bench_serve.py [--runs 3] [--clients 4]

Measured in one run, same machine, same prompts (greedy, short answers):
1. `ask "..."` cold (a new process that loads the model) against `ask --server URL "..."`
   through a running `serve` (also a new process each time: what a script pays);
2. 4 clients at once against the server (they queue on the one local model): requests/s and
   each request's latency, p50/p95;
3. time to the first token through the server (HTTP streaming) against in-process
   (ChatSession.stream_reply in this process, model already loaded).
Targets (issue 26): `ask` through the server under 1 s per short answer.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PROMPTS = ["Say hi.", "Name a colour.", "What is 2 plus 2?", "Say goodbye."]
MAX_TOKENS = "24"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {done.stderr.strip()[-400:]}")
    return seconds, done.stdout.strip()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    env = {**os.environ, "AGENT_APP_DATA_DIR": tempfile.mkdtemp(prefix="bench-serve-")}
    py = sys.executable
    ask = [py, "main.py", "ask", "-p", f"max_tokens={MAX_TOKENS}", "-p", "temperature=0"]

    cold = [wall([*ask, PROMPTS[i % len(PROMPTS)]], env)[0] for i in range(args.runs)]

    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [py, "main.py", "serve", "--port", str(port)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:  # "Serving ... on URL" once the model is warm and the port bound
            if line.startswith("Serving"):
                break
        else:
            sys.exit("the server did not start")
        threading.Thread(target=server.stderr.read, daemon=True).start()  # keep its pipe drained
        warm = [wall([*ask, "--server", url, PROMPTS[i % len(PROMPTS)]], env) for i in range(args.runs + 1)][1:]
        through = [seconds for seconds, _ in warm]

        def request(prompt: str, out: list[float]) -> None:
            started = time.perf_counter()
            body = {
                "model": "chat",
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": int(MAX_TOKENS),
                "temperature": 0,
            }
            httpx.post(f"{url}/v1/chat/completions", json=body, timeout=300).raise_for_status()
            out.append(time.perf_counter() - started)

        latencies: list[float] = []
        per_client = 3
        threads = [
            threading.Thread(target=lambda c=c: [request(PROMPTS[(c + i) % 4], latencies) for i in range(per_client)])
            for c in range(args.clients)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        span = time.perf_counter() - started

        def first_token_http() -> float:
            body = {
                "model": "chat",
                "messages": [{"role": "user", "content": "Tell me about the sea."}],
                "max_tokens": int(MAX_TOKENS),
                "temperature": 0,
                "stream": True,
            }
            began = time.perf_counter()
            with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        choices = json.loads(line[6:])["choices"]
                        if choices and choices[0]["delta"].get("content"):
                            seconds = time.perf_counter() - began
                            response.close()
                            return seconds
            raise RuntimeError("no token came")

        first_token_http()  # the prompt's prefix cache is warm for both
        ttft_server = statistics.median(first_token_http() for _ in range(args.runs))
    finally:
        server.terminate()
        server.wait(30)

    os.environ["AGENT_APP_DATA_DIR"] = env["AGENT_APP_DATA_DIR"]
    from agent_app.chat.session import ChatSession
    from agent_app.config import load_settings

    session = ChatSession(load_settings(environ={}, overrides={"model": "local"}))
    session.set_params({"max_tokens": int(MAX_TOKENS), "temperature": 0})

    def first_token_here() -> float:
        session.start_conversation()
        began = time.perf_counter()
        pieces = session.stream_reply("Tell me about the sea.")
        next(piece for piece in pieces if isinstance(piece, str) and piece)
        seconds = time.perf_counter() - began
        pieces.close()
        return seconds

    first_token_here()
    ttft_here = statistics.median(first_token_here() for _ in range(args.runs))

    cold_s, through_s = statistics.median(cold), statistics.median(through)
    print(f"ask, cold (loads the model):      median {cold_s:.2f} s  ({', '.join(f'{s:.2f}' for s in cold)})")
    print(f"ask --server (warm serve):        median {through_s:.2f} s  ({', '.join(f'{s:.2f}' for s in through)})")
    print(f"  ratio cold / through the server: {cold_s / through_s:.1f}x   (target: under 1 s through the server)")
    print(f"  one answer through the server: {warm[0][1][:80]!r}")
    n = len(latencies)
    print(
        f"{args.clients} clients at once, {n} requests: {n / span:.2f} requests/s; latency p50 "
        f"{percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s (queued on one model)"
    )
    print(
        f"first token: through the server {ttft_server * 1000:.0f} ms, in-process {ttft_here * 1000:.0f} ms "
        f"(ratio {ttft_server / ttft_here:.2f})"
    )


if __name__ == "__main__":
    main()
