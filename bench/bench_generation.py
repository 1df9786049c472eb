"""Generation speed of the local backend, with references measured in the same run.

Same prompt, model, thread count, greedy decoding, 128 new tokens:
  1. raw `model.generate` in the calling thread (the reference);
  2. our `LocalChatModel.stream()` (tokens/s and time to first token) and its ratio to 1;
  3. LangChain's stock `HuggingFacePipeline.stream()` (a new thread per call), for context;
  4. the same GGUF served by llama.cpp (xllamacpp) through our OpenAI wrapper, as an outside reference;
  5. `--dtype int8` (agent_app/models/quantize.py), `--dtype q4` (the GGUF's 4-bit weights on ONNX
     Runtime: agent_app/models/onnx_q4.py) and `--model llamacpp` (llama.cpp inside the process);
  6. our fp32 and int8 paths without agent_app/models/cpu_speed.py (MKL's linear layers, glibc's
     default malloc), the comparison for that module;
  7. the wall time of `python main.py --help`.
For our paths and llama.cpp, also the time to the first token of a ~1,500-token prompt (a RAG or
agent prompt's size).
Targets: streaming >= 0.95x raw generate; --help < 0.5 s.

Each path runs in a fresh child process: measured here, once two threads of one process have
run torch kernels, both run at about half speed, so measuring two paths in one process would
compare two handicapped numbers. The "after a MiniLM query" row checks that the app avoids that
(all its torch work runs on one thread: agent_app/torch_thread.py).

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

from fresh_process import measure_in_fresh_process, print_result  # a sibling: bench/ is on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

NEW_TOKENS = 128
SYSTEM = "You are a helpful assistant who writes vivid, detailed stories for children. " * 3
QUESTION = (
    "Write a long story about a brave knight, a clever fox and a dragon who live near a "
    "mountain village. Describe the village, the seasons, the people and their adventures. "
) * 2


# About 1,500 tokens with the system prompt and the chat template (SmolLM2's tokenizer).
NOTE = "The village council met on Tuesday to discuss the new bridge, the harvest festival and the old mill. "
LONG_QUESTION = "Summarise these notes. " + NOTE * 73


def child(path: str, threads: int, repeats: int) -> dict:
    """Measure one path in this (fresh) process; returns best tokens/s and best TTFT."""
    import torch
    from langchain_core.messages import HumanMessage, SystemMessage

    from agent_app.config import load_settings
    from agent_app.models.factory import build_chat_model, parse_model_spec

    messages = [SystemMessage(SYSTEM), HumanMessage(QUESTION)]
    if path == "llamacpp":
        served = build_chat_model(parse_model_spec("llamacpp"), load_settings(overrides={"threads": threads}))
        return _measure_stream(served, messages, repeats)
    if path == "server":
        from tests.support.llama_server import ALIAS, LlamaServer

        with LlamaServer(threads=threads) as server:
            remote = build_chat_model(
                parse_model_spec(f"openai/{ALIAS}"), load_settings(overrides={"base_url": server.base_url})
            )
            return _measure_stream(remote, messages, repeats)
    if path.endswith("-plain"):
        from agent_app.models import cpu_speed

        cpu_speed.ENABLED = False
    dtype = next((d for d in ("int8", "q4") if path.startswith(f"ours-{d}")), "float32")
    chat = build_chat_model(parse_model_spec("local"), load_settings(overrides={"threads": threads, "dtype": dtype}))
    runtime = chat.runtime
    prompt = chat.render(messages)
    if path in ("raw", "stock"):
        torch.set_num_threads(threads)  # this path runs in the calling (main) thread
    hf_tokenizer = getattr(runtime.engine, "hf_tokenizer", None)  # raw and stock: torch engines only
    inputs = hf_tokenizer(prompt, return_tensors="pt", add_special_tokens=False) if hf_tokenizer else {}
    n_prompt = len(runtime.tokenizer.encode(prompt))
    greedy = {
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "max_new_tokens": NEW_TOKENS,
        "min_new_tokens": NEW_TOKENS,
        "pad_token_id": runtime.tokenizer.eos_token_id,
    }
    if path == "raw":
        speeds = []
        for i in range(repeats + 1):  # the first run warms up
            t = time.perf_counter()
            with torch.inference_mode():
                out = runtime.engine.model.generate(**inputs, **greedy)
            if i:
                speeds.append((out.shape[1] - n_prompt) / (time.perf_counter() - t))
        return {"tokens_per_s": max(speeds), "ttft_s": None, "prompt_tokens": n_prompt}
    if path == "stock":
        from langchain_huggingface import HuggingFacePipeline

        # Its _stream reads generation settings from the call's `pipeline_kwargs`, not the field.
        stock_llm = HuggingFacePipeline(pipeline=runtime.pipeline)
        speeds = []
        for i in range(repeats + 1):
            t = time.perf_counter()
            pieces = list(stock_llm.stream(prompt, pipeline_kwargs=greedy))
            n = runtime.count_tokens("".join(pieces))
            if i:
                speeds.append(n / (time.perf_counter() - t))
        return {"tokens_per_s": max(speeds), "ttft_s": None}
    if path == "ours-after-embedding":
        from agent_app.embeddings import bundled_embeddings

        bundled_embeddings().embed_query("warm up the embedding model like a RAG question does")
    return _measure_stream(chat, messages, repeats)


def _measure_stream(model, messages, repeats: int) -> dict:
    speeds, firsts = [], []
    for i in range(repeats + 1):
        t = time.perf_counter()
        first, n_out = None, 0
        for chunk in model.stream(messages, temperature=0, max_tokens=NEW_TOKENS):
            if first is None and chunk.text:
                first = time.perf_counter() - t
            if chunk.usage_metadata:
                n_out = chunk.usage_metadata["output_tokens"]
        if i:
            speeds.append(n_out / (time.perf_counter() - t))
            firsts.append(first or 0.0)
    from langchain_core.messages import HumanMessage, SystemMessage

    long = [SystemMessage(SYSTEM), HumanMessage(LONG_QUESTION)]
    # Once: a server's prompt cache (llama.cpp keeps the last prompt's KV) would make a repeat
    # of the same long prompt nearly free, which is not what a new RAG question costs.
    t = time.perf_counter()
    long_first = None
    for chunk in model.stream(long, temperature=0, max_tokens=4):
        if chunk.text:
            long_first = time.perf_counter() - t
            break
    return {"tokens_per_s": max(speeds), "ttft_s": min(firsts), "ttft_long_s": long_first}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-server", action="store_true")
    ap.add_argument("--paths", help="only these paths, comma-separated (raw, the reference, always runs)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print_result(child(args.child, args.threads, args.repeats))
        return

    paths = [
        ("raw", "raw model.generate (reference)"),
        ("ours", "LocalChatModel.stream(), --dtype float32"),
        ("ours-after-embedding", "the same, after a MiniLM query"),
        ("stock", "stock HuggingFacePipeline.stream()"),
    ]
    paths.append(("ours-int8", "LocalChatModel.stream(), --dtype int8"))
    paths.append(("ours-q4", "LocalChatModel.stream(), q4 (the default)"))
    paths.append(("ours-plain", "LocalChatModel.stream(), without cpu_speed"))
    paths.append(("ours-int8-plain", "--dtype int8, without cpu_speed"))
    if not args.no_server:
        paths.append(("server", "xllamacpp server (llama.cpp, same GGUF)"))
        paths.append(("llamacpp", "--model llamacpp (in-process llama.cpp)"))
    if args.paths:
        wanted = {"raw", *args.paths.split(",")}
        paths = [(key, label) for key, label in paths if key in wanted]
    results = {}
    for key, _label in paths:
        results[key] = measure_in_fresh_process(
            __file__, "--child", key, "--threads", str(args.threads), "--repeats", str(args.repeats)
        )
    raw = results["raw"]["tokens_per_s"]
    print(
        f"model SmolLM2-135M-Instruct, prompt {results['raw']['prompt_tokens']} tokens, {NEW_TOKENS} new "
        f"tokens, greedy, {args.threads} torch threads, best of {args.repeats}, each path in a fresh process"
    )
    print(f"\n{'path':46} {'tokens/s':>9} {'TTFT s':>8} {'vs raw':>7} {'TTFT 1.5k s':>12}")
    for key, label in paths:
        r = results[key]
        ttft = f"{r['ttft_s']:8.3f}" if r["ttft_s"] is not None else f"{'-':>8}"
        long = f"{r['ttft_long_s']:12.2f}" if r.get("ttft_long_s") is not None else f"{'-':>12}"
        print(f"{label:46} {r['tokens_per_s']:9.1f} {ttft} {r['tokens_per_s'] / raw:6.2f}x {long}")
    if "server" in results:
        ref = results["server"]["tokens_per_s"]
        for key in [k for k in ("ours", "ours-int8", "ours-q4", "llamacpp") if k in results]:
            print(f"{key} decode vs llama.cpp server: {results[key]['tokens_per_s'] / ref:.2f}x (issue target >= 0.6)")

    helps = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([sys.executable, "main.py", "--help"], cwd=REPO, capture_output=True, check=True)
        helps.append(time.perf_counter() - t)
    print(f"\npython main.py --help: median {statistics.median(helps):.3f} s (min {min(helps):.3f}, 7 runs)")
    if "ours" in results:
        ratio = results["ours"]["tokens_per_s"] / raw
        print(f"streaming / raw generate: {ratio:.3f}x (target >= 0.95) -> {'OK' if ratio >= 0.95 else 'BELOW TARGET'}")
    print(f"--help target < 0.5 s -> {'OK' if statistics.median(helps) < 0.5 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
