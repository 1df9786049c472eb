"""The local model's shared-prefix cache: a chat that goes on for turns, with and without it.

Each turn's prompt is the system prompt (a template's worth, about 700 tokens), the history and
the new question; with the cache only the part after what the previous prompt shared is
computed. Prints each turn's time to the first answer token and the tokens taken from the
cache, for both variants, each in a fresh process, greedy, the same answers checked.

    .venv/bin/python bench/bench_prefix_cache.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fresh_process import measure_in_fresh_process, print_result

SYSTEM = (
    "You are a careful assistant for a small team. Answer in one or two short sentences, say so "
    "when you do not know, and never invent numbers. "
) * 24
QUESTIONS = [
    "What is the capital of France?",
    "Name three colours of the rainbow.",
    "What is the boiling point of water in Celsius?",
    "Who wrote Romeo and Juliet?",
    "What is the largest planet in our solar system?",
]


def child(reuse: bool) -> None:
    from agent_app.models.local_runtime import get_runtime
    from agent_app.models.params import GenerationParams

    runtime = get_runtime("bundled", threads=2, decode_threads=1)
    runtime.engine.reuse_prefix = reuse
    params = GenerationParams(temperature=0, max_tokens=24)
    history = [{"role": "system", "content": SYSTEM}]
    firsts, reused, answers, prompt_tokens = [], [], [], []
    for question in QUESTIONS:
        history.append({"role": "user", "content": question})
        prompt = runtime.render_chat(history)
        start = time.perf_counter()
        first = None
        for item in runtime.stream(prompt, params):
            if first is None:
                first = time.perf_counter() - start
            result = item
        firsts.append(first)
        reused.append(runtime.engine.reused_tokens)
        answers.append(result.text)  # type: ignore[union-attr]
        prompt_tokens.append(result.input_tokens)  # type: ignore[union-attr]
        history.append({"role": "assistant", "content": result.text})  # type: ignore[union-attr]
    print_result({"first": firsts, "reused": reused, "answers": answers, "prompt_tokens": prompt_tokens})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["on", "off"])
    args = parser.parse_args()
    if args.child:
        child(args.child == "on")
        return
    off = measure_in_fresh_process(__file__, "--child", "off")
    on = measure_in_fresh_process(__file__, "--child", "on")
    print("turn  prompt tokens  first token without cache  with cache  (tokens from the cache)")
    for i in range(len(QUESTIONS)):
        row = f"{i + 1:4}  {on['prompt_tokens'][i]:13}  {off['first'][i]:25.2f}s  {on['first'][i]:9.2f}s"
        print(f"{row}  ({on['reused'][i]})")
    later_off = sum(off["first"][1:]) / (len(QUESTIONS) - 1)
    later_on = sum(on["first"][1:]) / (len(QUESTIONS) - 1)
    print(f"turns 2-{len(QUESTIONS)}: first token {later_off:.2f}s -> {later_on:.2f}s ({later_off / later_on:.1f}x)")
    print("same answers:", on["answers"] == off["answers"])


if __name__ == "__main__":
    main()
