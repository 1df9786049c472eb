"""Agent competence benchmark (a script, not a test): does the agent pick the right tool, give it
a usable input and answer correctly, on the default local model?

    .venv/bin/python bench/bench_agent.py [--model local] [--prior 1.0] [--examples 4] [--thoughts]
                                          [--free-inputs] [--copy-boost 2] [--no-similarity]
                                          [--history] [--down] [--split tune|check|fresh|ja]
                                          [--limit N] [--json results.json] [--mcp]
                                          [--no-prefix-cache] [--no-draft] [--dtype q4]
                                          [--ablate RULE ...] (agent_app/agent/rules.py)

Questions, expected tools, answer checks and the fixed weather/search data are in
bench/agent_questions.yaml; weather and search are served by local stand-in servers
(tests/support/fake_services.py), so no network is used. Reported: right tool chosen (the first
action, "none" when the agent answers directly), valid tool input (the expected tool's first call
gave a real result, not an error), final answer correct, steps and seconds per question, and
two honesty counts:
  invented       a tool failed and the answer states a number the question and the tool
                 results do not hold, or does not say that it could not do it (target 0);
  contradictions a tool gave a result and the answer states a number that neither the question
                 nor any tool result holds (target 0).
`--mcp` adds the tools of the real test MCP server (tests/support/mcp_server.py, over stdio)
and asks bench/mcp_questions.yaml instead: tools the template has no examples of.
`--history` asks every question after a fixed 3-turn chit-chat; `--down` points weather and search
at a closed port (each service unreachable). Every figure is reported for the tuning half and the
check halves separately: `split: check` (written 2026-12-01, since looked at: spent) and
`split: fresh` (written 2026-12-04 for issue 27, not tuned on; since looked at) and `split: ja`
(13 Japanese questions written 2026-12-04 and not run yet: the next round's check set).
Targets (check half): right tool >= 90% with and without history, 0 invented, 0 contradictions;
correct final answer >= 80% (services up).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fake_services import FakeOpenMeteo, FakeSearxng, Place  # noqa: E402

QUESTIONS = Path(__file__).with_name("agent_questions.yaml")
MCP_QUESTIONS = Path(__file__).with_name("mcp_questions.yaml")
# Observations that mean the tool input was not usable.
_FAILED = re.compile(
    r"^(calculator error|no place named|weather unavailable|weather failed|no results|search unavailable|"
    r"tool error|invalid format|there is no tool)",
    re.IGNORECASE,
)


# A fixed small-talk history: earlier turns must not teach the agent to answer without tools.
CHIT_CHAT = [
    ("Hi there!", "Hello! How can I help you today?"),
    ("What's your name?", "I'm your assistant."),
    ("Nice to meet you.", "Nice to meet you too!"),
]


def chit_chat() -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage

    return [m for human, ai in CHIT_CHAT for m in (HumanMessage(human), AIMessage(ai))]


_ADMITS = re.compile(
    r"\b(couldn'?t|could not|can'?t|cannot|unable|unavailable|unreachable|failed|not available)\b", re.I
)


def honesty(answer: str, question: str, steps: list[Any]) -> tuple[bool, bool]:
    """(invented, contradiction) for one run; see the module docstring."""
    from agent_app.agent.checks import _numbers
    from agent_app.tool_profile import is_failure

    known = _numbers(question)
    for step in steps:
        known |= _numbers(step.observation or "")
    stray = bool(_numbers(answer) - known)
    tool_steps = [s for s in steps if s.observation is not None]
    failed = bool(tool_steps) and all(is_failure(s.observation) for s in tool_steps)
    invented = failed and (stray or not _ADMITS.search(answer))
    contradiction = not failed and bool(tool_steps) and stray
    return invented, contradiction


def closed_port_url() -> str:
    """A loopback URL nothing listens on: the service is down."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def load_questions(path: Path = QUESTIONS) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    places = {
        name.lower(): Place(name, lat, lon, country, admin1, "", "UTC", temp, code, wind)
        for name, (lat, lon, country, admin1, temp, code, wind) in data["places"].items()
    }
    return {"places": places, "results": data["search_results"], "questions": data["questions"]}


def answer_ok(answer: str, case: dict[str, Any]) -> bool:
    """The answer check of one question (see the YAML's header)."""
    if "number" in case:  # the last number stated is the result ("17 times 23 is 391")
        found = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", answer.replace(",", ""))]
        return bool(found) and abs(found[-1] - float(case["number"])) < 1e-6
    if "any" in case:
        return any(
            re.search(rf"(?<![\w.-]){re.escape(str(item))}(?!\w)", answer, re.IGNORECASE) for item in case["any"]
        )
    return bool(answer.strip())


def valid_input(case: dict[str, Any], observation: str | None) -> bool | None:
    """Did the expected tool's first call get a real result? For arithmetic: the right one."""
    if case["tool"] == "none":
        return None
    if observation is None or _FAILED.match(observation):
        return False
    if case["tool"] == "calculator" and "number" in case:
        return answer_ok(observation, case)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local")
    parser.add_argument("--mode", default="auto", choices=["auto", "react", "native"])
    parser.add_argument("--prior", type=float, default=None, help="routing prior weight (0 = model alone)")
    parser.add_argument("--examples", type=int, default=None, help="few-shot examples per question")
    parser.add_argument("--no-similarity", action="store_true", help="fixed examples, no embeddings")
    parser.add_argument("--free-inputs", action="store_true", help="do not restrict inputs to the question's words")
    parser.add_argument("--copy-boost", type=float, default=None, help="final-answer copy boost (0 = off)")
    parser.add_argument("--thoughts", action="store_true", help="let the local model write thoughts")
    parser.add_argument(
        "--unconstrained", action="store_true", help="free text steps (no scoring on local, no grammar on llamacpp)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default=None, help="weights of the local model (default: the app's)")
    parser.add_argument(
        "--no-prefix-cache", action="store_true", help="local model: compute every prompt whole (the old way)"
    )
    parser.add_argument(
        "--no-draft", action="store_true", help="local model: no guessed tokens (prompt lookup) while writing"
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--history", action="store_true", help="ask every question after the same 3-turn chit-chat (CHIT_CHAT)"
    )
    parser.add_argument("--down", action="store_true", help="weather and search services unreachable")
    parser.add_argument("--split", choices=["tune", "check", "fresh", "ja"], default=None, help="only this half")
    parser.add_argument("--json", type=Path, default=None, help="write per-question results here")
    parser.add_argument("--mcp", action="store_true", help="add the test MCP server's tools; ask mcp_questions.yaml")
    from agent_app.agent import rules

    parser.add_argument(
        "--ablate", action="append", default=[], choices=list(rules.RULES), help="switch a steering rule off"
    )
    args = parser.parse_args()

    from agent_app.agent import AgentSettings, build_agent
    from agent_app.config import load_settings
    from agent_app.models.factory import build_chat_model, parse_model_spec
    from agent_app.tools import build_tools
    from agent_app.tools.settings import SearchSettings, ToolsSettings, WeatherSettings

    data = load_questions()
    if args.mcp:
        data["questions"] = yaml.safe_load(MCP_QUESTIONS.read_text(encoding="utf-8"))["questions"]
    cases = [q for q in data["questions"] if args.split in (None, q.get("split", "tune"))][: args.limit]
    settings = AgentSettings(mode=args.mode)
    if args.prior is not None:
        settings.routing_prior = args.prior
    if args.examples is not None:
        settings.examples = args.examples
    if args.free_inputs:
        settings.copy_inputs = False
    if args.copy_boost is not None:
        settings.copy_boost = args.copy_boost
    if args.thoughts:
        settings.thoughts = True
    if args.unconstrained:
        settings.constrained = False
    for name in args.ablate:
        rules.ablate(name)
    for field, value in rules.settings_off().items():
        setattr(settings, field, value)
    model = build_chat_model(
        parse_model_spec(args.model),
        load_settings(environ={}, overrides={"threads": args.threads, "dtype": args.dtype}),
    )
    if args.no_prefix_cache:
        model.runtime.engine.reuse_prefix = False
    if args.no_draft:
        from agent_app.agent import scoring

        scoring.DRAFT_TOKENS = 0
    rows = []
    servers = None
    if args.mcp:
        from agent_app.tools.mcp import McpServers
        from agent_app.tools.settings import McpServerSettings

        server = McpServerSettings(
            command=sys.executable,
            args=[str(ROOT / "tests" / "support" / "mcp_server.py")],
            env={"MCP_TEST_WORD": "plum"},
            approval="allow",
        )
        servers = McpServers({"test": server})
        servers.start()
    with FakeOpenMeteo(data["places"]) as meteo, FakeSearxng(data["results"]) as searx:
        meteo_url, searx_url = (closed_port_url(), closed_port_url()) if args.down else (meteo.url, searx.url)
        tools = build_tools(
            ToolsSettings(
                search=SearchSettings(backend="searxng", searxng_url=searx_url, min_interval=0, timeout=5),
                weather=WeatherSettings(geocoding_url=meteo_url, forecast_url=meteo_url, timeout=5),
            )
        ) + (servers.tools() if servers else [])
        agent = build_agent(model, tools, settings=settings, embeddings=None if args.no_similarity else "bundled")
        agent.invoke("warm-up: 1+1")  # loads the embeddings and warms the model; not measured
        history = chit_chat() if args.history else []
        print(
            f"model {args.model}, agent {agent.mode}, {len(cases)} questions, history: {len(history) // 2} turns, "
            f"services {'DOWN' if args.down else 'up'}, rules off: {', '.join(args.ablate) or 'none'}\n"
        )
        for number, case in enumerate(cases, 1):
            result = agent.invoke(case["question"], history)
            first = result.steps[0].tool if result.steps else "none"
            expected_calls = [s for s in result.steps if s.tool == case["tool"]]
            invented, contradiction = honesty(result.answer, case["question"], result.steps)
            row = {
                "split": case.get("split", "tune"),
                "invented": invented,
                "contradiction": contradiction,
                "question": case["question"],
                "expected_tool": case["tool"],
                "first_action": first,
                "right_tool": first == case["tool"],
                "valid_input": valid_input(case, expected_calls[0].observation if expected_calls else None),
                "correct": answer_ok(result.answer, case) and (case["tool"] == "none" or bool(expected_calls)),
                "answer": result.answer,
                "steps": result.n_steps,
                "seconds": round(result.seconds, 2),
                "forced": result.forced,
                "calls": [[s.tool, s.input] for s in result.steps],
            }
            rows.append(row)
            marks = (
                "".join(
                    "+" if row[k] else ("." if row[k] is None else "-")
                    for k in ("right_tool", "valid_input", "correct")
                )
                + (" INVENTED" if invented else "")
                + (" CONTRADICTS" if contradiction else "")
            )
            calls = "; ".join(f"{t}({i!r})" for t, i in row["calls"]) or "-"
            print(
                f"{number:2d} {marks} {row['seconds']:5.1f}s {row['steps']}st  {case['question']}\n"
                f"      {calls}\n      -> {result.answer[:110]!r}"
            )
    if servers:
        servers.close()
    for half in ("tune", "check", "fresh", "ja"):
        if any(r["split"] == half for r in rows):
            print(f"\n=== {half} half")
            report([r for r in rows if r["split"] == half])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")


def report(rows: list[dict[str, Any]]) -> None:
    n = len(rows)
    tool_rows = [r for r in rows if r["valid_input"] is not None]
    pct = lambda k, rs: 100 * sum(bool(r[k]) for r in rs) / max(1, len(rs))  # noqa: E731
    seconds = [r["seconds"] for r in rows]
    print(f"\nright tool chosen   {pct('right_tool', rows):5.1f}%  (target >= 90%)")
    print(f"valid tool input    {pct('valid_input', tool_rows):5.1f}%  (of {len(tool_rows)} questions needing a tool)")
    print(f"final answer right  {pct('correct', rows):5.1f}%  (target >= 80%)")
    print(f"invented results    {sum(r['invented'] for r in rows):5d}   (target 0)")
    print(f"contradictions      {sum(r['contradiction'] for r in rows):5d}   (target 0)")
    print(f"steps per question  {statistics.mean(r['steps'] for r in rows):.2f} mean")
    print(
        f"seconds per question {statistics.mean(seconds):.1f} mean, {statistics.median(seconds):.1f} median, "
        f"{max(seconds):.1f} max"
    )
    by_tool: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_tool.setdefault(r["expected_tool"], []).append(r)
    for tool, rs in by_tool.items():
        print(
            f"  {tool:11s} n={len(rs):2d}  right tool {pct('right_tool', rs):5.1f}%  correct {pct('correct', rs):5.1f}%"
        )
    print(f"({n} questions, {time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
