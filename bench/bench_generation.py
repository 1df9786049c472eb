"""Generation speed of the local backend, with references measured in the same run.

Same prompt, model, thread count, greedy decoding, 128 new tokens:
  1. raw `model.generate` in the calling thread (the reference);
  2. our `LocalChatModel.stream()` (tokens/s and time to first token) and its ratio to 1;
  3. LangChain's stock `HuggingFacePipeline.stream()` (a new thread per call), for context;
  4. the same GGUF served by llama.cpp (xllamacpp) through our OpenAI wrapper, as an outside reference;
  5. the wall time of `python main.py --help`.
Targets: streaming >= 0.95x raw generate; --help < 0.5 s.

Usage: .venv/bin/python bench/bench_generation.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

NEW_TOKENS = 128
SYSTEM = "You are a helpful assistant who writes vivid, detailed stories for children. " * 3
QUESTION = ("Write a long story about a brave knight, a clever fox and a dragon who live near a "
            "mountain village. Describe the village, the seasons, the people and their adventures. ") * 2


def best(values: list[float]) -> float:
    return max(values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-server", action="store_true")
    args = ap.parse_args()

    import torch
    from langchain_core.messages import HumanMessage, SystemMessage

    from agent_app.config import load_settings
    from agent_app.models.factory import build_chat_model

    settings = load_settings(overrides={"threads": args.threads})
    chat = build_chat_model("local", settings)
    runtime = chat.runtime
    messages = [SystemMessage(SYSTEM), HumanMessage(QUESTION)]
    prompt = chat.render(messages)
    inputs = runtime.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    n_prompt = inputs["input_ids"].shape[1]
    greedy = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None,
              "max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS,
              "pad_token_id": runtime.tokenizer.pad_token_id}
    print(f"model {runtime.name}, prompt {n_prompt} tokens, {NEW_TOKENS} new tokens, greedy, "
          f"{torch.get_num_threads()} torch threads")

    # Warm-up both paths once (first calls allocate).
    with torch.inference_mode():
        runtime.model.generate(**inputs, **{**greedy, "max_new_tokens": 8, "min_new_tokens": 8})
    list(chat.stream(messages, temperature=0, max_tokens=8))

    raw, ours, ttft, stock = [], [], [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        with torch.inference_mode():
            out = runtime.model.generate(**inputs, **greedy)
        raw.append((out.shape[1] - n_prompt) / (time.perf_counter() - t))

        t = time.perf_counter()
        first = None
        n_out = 0
        for chunk in chat.stream(messages, temperature=0, max_tokens=NEW_TOKENS):
            if first is None and chunk.text:
                first = time.perf_counter() - t
            if chunk.usage_metadata:
                n_out = chunk.usage_metadata["output_tokens"]
        total = time.perf_counter() - t
        ours.append(n_out / total)
        ttft.append(first or total)

    # LangChain's stock pipeline streaming (new thread per call), same pipeline object.
    from langchain_huggingface import HuggingFacePipeline

    # Its _stream reads generation settings from the call's `pipeline_kwargs`, not the field.
    stock_llm = HuggingFacePipeline(pipeline=runtime.pipeline)
    for _ in range(args.repeats):
        t = time.perf_counter()
        pieces = list(stock_llm.stream(prompt, pipeline_kwargs=greedy))
        n = len(runtime.tokenizer("".join(pieces), add_special_tokens=False)["input_ids"])
        stock.append(n / (time.perf_counter() - t))

    rows = [("raw model.generate (reference)", best(raw), None),
            ("LocalChatModel.stream()", best(ours), min(ttft)),
            ("stock HuggingFacePipeline.stream()", best(stock), None)]

    if not args.no_server:
        from agent_app.models.factory import build_chat_model as build
        from tests.support.llama_server import ALIAS, LlamaServer

        with LlamaServer(threads=args.threads) as server:
            remote = build(f"openai/{ALIAS}", load_settings(overrides={"base_url": server.base_url}))
            list(remote.stream(messages, temperature=0, max_tokens=8))
            speeds, firsts = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                first, n_out = None, 0
                for chunk in remote.stream(messages, temperature=0, max_tokens=NEW_TOKENS):
                    if first is None and chunk.text:
                        first = time.perf_counter() - t
                    if chunk.usage_metadata:
                        n_out = chunk.usage_metadata["output_tokens"]
                speeds.append(n_out / (time.perf_counter() - t))
                firsts.append(first or 0.0)
            rows.append(("xllamacpp server (llama.cpp, same GGUF)", best(speeds), min(firsts)))

    print(f"\n{'path':44} {'tokens/s':>9} {'TTFT s':>8} {'vs raw':>7}")
    for name, speed, first in rows:
        print(f"{name:44} {speed:9.1f} {first if first is not None else float('nan'):8.3f} {speed / rows[0][1]:6.2f}x")

    helps = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([sys.executable, "main.py", "--help"], cwd=REPO, capture_output=True, check=True)
        helps.append(time.perf_counter() - t)
    print(f"\npython main.py --help: median {statistics.median(helps):.3f} s (min {min(helps):.3f}, 7 runs)")
    ratio = best(ours) / best(raw)
    print(f"streaming / raw generate: {ratio:.3f}x (target >= 0.95) -> {'OK' if ratio >= 0.95 else 'BELOW TARGET'}")
    print(f"--help target < 0.5 s -> {'OK' if statistics.median(helps) < 0.5 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
