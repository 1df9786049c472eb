"""Torch threads for the local model: 1 against 2, with the other core idle and busy.

    .venv/bin/python bench/bench_threads.py [--busy-procs 1] [--dtype q4]

Each cell is a fresh process running the app's own LocalRuntime (fp32, greedy): the first
token of a 1,645-token prompt (reading the prompt: what a RAG or agent turn waits for) and the
decode rate of a 128-token answer. "busy" starts `--busy-procs` processes spinning a CPU-bound
loop for the whole measurement: a second program on a 2-core machine. The rows are
`threads/decode_threads` (ModelSettings): 2/2 and 1/1 are the plain choices; 2/1 reads the
prompt on 2 threads and writes on 1; 2/auto (the default) times the first tokens on 2 and on 1
and writes on the faster (agent_app/models/decode_threads.py). With `--dtype q4` the threads are
ONNX Runtime's (agent_app/models/onnx_q4.py; torch's own stay on 1 while it writes), and 2/auto
reads the prompt on 2 and writes on 1 (onnx_q4.decode_count).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

from fresh_process import measure_in_fresh_process, print_result  # a sibling: bench/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS: list[tuple[int, int | str]] = [(2, 2), (1, 1), (2, 1), (2, "auto")]


def spin() -> None:
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2**31


def child(threads: int, decode_threads: int | str, dtype: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from agent_app.models.local_runtime import get_runtime
    from agent_app.models.params import GenerationParams

    runtime = get_runtime("bundled", dtype=dtype, threads=threads, decode_threads=decode_threads)
    story = runtime.render_chat([{"role": "user", "content": "Write a long story about a knight and a dragon."}])
    long = "The history of the village is long and full of stories. " * 137
    greedy = GenerationParams(temperature=0, max_tokens=128)
    runtime.generate(story, GenerationParams(temperature=0, max_tokens=8))  # warm up
    first: list[float] = []

    def timed(prompt: str, params: GenerationParams) -> tuple[float, float, int]:
        first.clear()
        started = time.perf_counter()
        result = runtime.generate(prompt, params, on_text=lambda _t: first or first.append(time.perf_counter()))
        end = time.perf_counter()
        return (first[0] if first else end) - started, end - started, result.output_tokens

    rates = []
    for _ in range(2):
        ttft, total, n = timed(story, greedy)
        rates.append((n - 1) / max(1e-9, total - ttft))
    prompt_s, _, _ = timed(long, GenerationParams(temperature=0, max_tokens=1))
    return {"decode": max(rates), "first_token": prompt_s, "prompt_tokens": runtime.count_tokens(long)}


def cell(threads: int, decode_threads: int | str, dtype: str) -> dict:
    return measure_in_fresh_process(__file__, "--child", f"{threads}/{decode_threads}/{dtype}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--busy-procs", type=int, default=1)
    ap.add_argument("--dtype", default="float32", help="weights of the local model (float32, int8, q4)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        threads, decode, dtype = args.child.split("/")
        print_result(child(int(threads), decode if decode == "auto" else int(decode), dtype))
        return
    configs = CONFIGS if args.dtype != "q4" else [(2, 2), (1, 1), (2, "auto")]
    print(f"{args.dtype}; {os.cpu_count()} cores; busy = {args.busy_procs} spinning process(es); fresh processes\n")
    rows = {}
    for load in ("idle", "busy"):
        spinners = [
            multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy_procs * (load == "busy"))
        ]
        for p in spinners:
            p.start()
        try:
            for config in configs:
                rows[(load, config)] = cell(*config, args.dtype)
        finally:
            for p in spinners:
                p.terminate()
                p.join()
    ref = rows[("idle", (2, 2))]
    tokens = ref["prompt_tokens"]
    print(
        f"{'load':5} {'threads/decode':>14} {'decode tok/s':>12} {'vs idle 2/2':>11} {f'1st token, {tokens} tok':>20}"
    )
    for (load, (threads, decode)), r in rows.items():
        print(
            f"{load:5} {f'{threads}/{decode}':>14} {r['decode']:12.1f} {r['decode'] / ref['decode']:10.2f}x "
            f"{r['first_token']:18.2f} s"
        )


if __name__ == "__main__":
    main()
