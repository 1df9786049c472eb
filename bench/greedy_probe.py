"""Greedy outputs of the local runtime on fixed probes, to show a refactor changed no text.

    .venv/bin/python bench/greedy_probe.py OUT.json [--dtype q4]      # write this tree's outputs
    .venv/bin/python bench/greedy_probe.py --compare A.json B.json    # list the probes that differ

Probes (greedy, so any difference is a real change): chat answers with a repetition penalty,
the same cut at a stop string, streamed with a no-repeat n-gram; tool calls held to a grammar
(forced and optional, with the call probability and a copy boost); the agent's action scores,
a copy-constrained search input and an answer with and without the copy boost. Run it in the
tree before a change and after, then --compare (issue 27: 22 of 22 equal, token counts included).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHATS = [
    [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
    [{"role": "user", "content": "日本の首都はどこですか？"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "List three fruits."}],
    [{"role": "user", "content": "Write a haiku about the sea."}],
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "math",
            "parameters": {
                "type": "object",
                "properties": {"expression": {"type": "string"}},
                "required": ["expression"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
]


def probe(dtype: str) -> dict[str, object]:
    from agent_app.agent.scoring import score_continuations, stream_from
    from agent_app.models.constrained import Grammar, tool_call_grammar
    from agent_app.models.local_runtime import get_runtime
    from agent_app.models.params import GenerationParams

    out: dict[str, object] = {}
    rt = get_runtime("bundled", dtype=dtype)
    greedy = GenerationParams(temperature=0, max_tokens=60, repetition_penalty=1.1)
    for i, messages in enumerate(CHATS):
        prompt = rt.render_chat(messages)
        r = rt.generate(prompt, greedy)
        out[f"gen{i}"] = [r.text, r.input_tokens, r.output_tokens, r.finish_reason]
        r = rt.generate(prompt, greedy.merged({"stop": ["."]}))
        out[f"stop{i}"] = [r.text, r.output_tokens, r.finish_reason]
        pieces = list(rt.stream(prompt, greedy.merged({"no_repeat_ngram_size": 3, "repetition_penalty": None})))
        out[f"stream{i}"] = ["".join(x for x in pieces if isinstance(x, str)), pieces[-1].output_tokens]
    for i, question in enumerate(["What is 17 * 23?", "What's the weather in San Francisco?", "Tell me a joke."]):
        prompt = rt.render_chat([{"role": "user", "content": question}])
        for threshold in (None, 0.02):
            grammar = Grammar(
                tool_call_grammar(TOOLS, optional=threshold is not None),
                call_threshold=threshold,
                copy_from=(question,),
                copy_boost=2.0,
            )
            r = rt.generate(prompt, GenerationParams(temperature=0, max_tokens=40), grammar=grammar)
            out[f"grammar{i}-{threshold}"] = [r.text, r.output_tokens, r.finish_reason, round(r.p_call or 0, 4)]
    prompt = rt.render_chat([{"role": "user", "content": "What is 12 squared?"}]) + "Thought: I should use a tool.\n"
    candidates = ["Action: calculator\n", "Action: web_search\n", "Action: weather\n", "Final Answer:"]
    out["score"] = [round(s, 3) for s in score_continuations(rt, prompt, candidates)]
    question = "Who wrote the novel Pride and Prejudice?"
    prompt = rt.render_chat([{"role": "user", "content": question}]) + "Action: web_search\nAction Input:"
    allowed = set(rt.tokenizer.encode(question)) | set(rt.tokenizer.encode(" " + question))
    out["allowed"] = "".join(stream_from(rt, prompt, max_tokens=20, allowed=allowed))
    prompt = rt.render_chat([{"role": "user", "content": "What is 17 * 23?"}]) + "Observation: 391\nFinal Answer:"
    out["boost"] = "".join(stream_from(rt, prompt, max_tokens=30, copy_from=["391"], boost_value=3.0))
    out["boost0"] = "".join(stream_from(rt, prompt, max_tokens=30))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", type=Path)
    ap.add_argument("--dtype", default="q4")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = ap.parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text(encoding="utf-8")) for p in args.compare)
        differ = [k for k in a if a[k] != b.get(k)]
        for key in differ:
            print(f"{key}:\n  {a[key]!r}\n  {b.get(key)!r}")
        print(f"{len(a) - len(differ)} of {len(a)} probes equal")
        return
    if args.out is None:
        ap.error("give OUT.json, or --compare A B")
    args.out.write_text(json.dumps(probe(args.dtype), ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
