"""tool_choice="auto" on the local chat model: does it call a tool when one is needed, and
only then? And the tool it calls when made to call (tool_choice="any").

For each question the model is asked once with the threshold at 0 (it always calls), which
gives both the probability it put on opening a call (`tool_call_probability`) and the tool it
then chose; a threshold t decides "call" when that probability >= t. The threshold is picked on
the tune half only; the check half is reported at that threshold.

    .venv/bin/python bench/bench_tool_choice.py            # both halves
    .venv/bin/python bench/bench_tool_choice.py --show     # every question's probability
    .venv/bin/python bench/bench_tool_choice.py --llamacpp # llama.cpp's own (native) tool calls

With --llamacpp, the bundled GGUF is served by llama.cpp with its tools template
(agent_app/models/chat_templates/chatml_tools.jinja) and asked with `tool_calling: native`:
how often the server returns a real call with tool_choice "auto" and with "any" (forced).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.tools import tool

from agent_app.models.local import DEFAULT_CALL_THRESHOLD, LocalChatModel

THRESHOLDS = [0.0, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 1.01]


@tool
def calculator(expression: str) -> str:
    """Evaluate a math expression, e.g. 15% of 80 or sqrt(2)*3."""
    raise NotImplementedError


@tool
def get_weather(location: str) -> str:
    """Current weather at a place."""
    raise NotImplementedError


@tool
def web_search(query: str) -> str:
    """Search the web for current information."""
    raise NotImplementedError


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units of length, weight or temperature."""
    raise NotImplementedError


TOOLS = [calculator, get_weather, web_search, convert_units]


def measure(questions: list[dict], model: LocalChatModel) -> list[dict]:
    bound = model.model_copy(update={"call_threshold": 0.0}).bind_tools(TOOLS)
    rows = []
    for item in questions:
        start = time.perf_counter()
        reply = bound.invoke(item["q"])
        calls = reply.tool_calls
        rows.append(
            {
                "q": item["q"],
                "want": item["tool"],
                "p": reply.response_metadata.get("tool_call_probability", 0.0),
                "tool": calls[0]["name"] if calls else None,
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def score(rows: list[dict], threshold: float) -> dict[str, float]:
    decided = [(r["p"] >= threshold) == (r["want"] is not None) for r in rows]
    right = [r["p"] >= threshold and r["tool"] == r["want"] if r["want"] else r["p"] < threshold for r in rows]
    need = [r for r in rows if r["want"]]
    return {
        "decision": 100 * sum(decided) / len(rows),
        "right": 100 * sum(right) / len(rows),
        "called_when_needed": 100 * sum(r["p"] >= threshold for r in need) / max(1, len(need)),
        "called_when_not": 100 * sum(r["p"] >= threshold for r in rows if not r["want"]) / (len(rows) - len(need)),
    }


def measure_llamacpp(data: dict) -> None:
    """llama.cpp's native tool calls on both halves (nothing is tuned here)."""
    from agent_app.config import load_settings
    from agent_app.models.factory import build_chat_model, parse_model_spec

    settings = load_settings(environ={}, overrides={"tool_calling": "native", "max_retries": 0})
    model = build_chat_model(parse_model_spec("llamacpp"), settings)
    for name in ("tune", "check"):
        need = [q for q in data[name] if q["tool"]]
        rest = [q for q in data[name] if not q["tool"]]
        calls = {}
        for choice in ("auto", "any"):
            bound = model.bind_tools(TOOLS, tool_choice=choice)
            calls[choice] = [bound.invoke(q["q"], temperature=0, max_tokens=128).tool_calls for q in data[name]]
        auto = dict(zip([q["q"] for q in data[name]], calls["auto"], strict=True))
        forced = dict(zip([q["q"] for q in data[name]], calls["any"], strict=True))
        right = sum(bool(forced[q["q"]]) and forced[q["q"]][0]["name"] == q["tool"] for q in need)
        print(
            f"{name}: auto called when needed {sum(bool(auto[q['q']]) for q in need)}/{len(need)}, "
            f"when not {sum(bool(auto[q['q']]) for q in rest)}/{len(rest)}; "
            f"any opened a call {sum(bool(c) for c in calls['any'])}/{len(data[name])}, "
            f"right tool {right}/{len(need)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every question's probability and tool")
    parser.add_argument("--llamacpp", action="store_true", help="llama.cpp's native tool calls instead")
    args = parser.parse_args()
    data = yaml.safe_load((Path(__file__).parent / "tool_choice_questions.yaml").read_text(encoding="utf-8"))
    if args.llamacpp:
        measure_llamacpp(data)
        return
    model = LocalChatModel(model="bundled", temperature=0, max_tokens=128)
    halves = {name: measure(data[name], model) for name in ("tune", "check")}
    if args.show:
        for name, rows in halves.items():
            for r in rows:
                print(f"{name:5} p={r['p']:.4f} want={r['want']!s:13} forced={r['tool']!s:13} {r['q']}")
    tune = {t: score(halves["tune"], t) for t in THRESHOLDS}
    print("threshold | tune: decision, right tool | check: decision, right tool")
    for t in THRESHOLDS:
        c = score(halves["check"], t)
        mark = "  <- default" if t == DEFAULT_CALL_THRESHOLD else ""
        a = tune[t]
        print(f"{t:9.4f} | {a['decision']:5.1f}% {a['right']:5.1f}% | {c['decision']:5.1f}% {c['right']:5.1f}%{mark}")
    best = max(THRESHOLDS, key=lambda t: (tune[t]["right"], tune[t]["decision"]))
    print(f"best on tune: {best}")
    for name, rows in halves.items():
        s = score(rows, DEFAULT_CALL_THRESHOLD)
        forced = [r for r in rows if r["want"]]
        forced_right = 100 * sum(r["tool"] == r["want"] for r in forced) / len(forced)
        seconds = sorted(r["seconds"] for r in rows)[len(rows) // 2]
        print(
            f"{name} at default {DEFAULT_CALL_THRESHOLD}: decision {s['decision']:.1f}%, right {s['right']:.1f}%, "
            f"called when needed {s['called_when_needed']:.1f}%, when not {s['called_when_not']:.1f}%; "
            f"tool_choice=any picks the right tool {forced_right:.1f}%; median {seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
