"""RAG answer benchmark (a script, not a test): do answers on the bundled model hold the fact, cite
the source that holds it, and refuse what the documents do not say?

    .venv/bin/python bench/bench_rag_answers.py [--style auto|generative|extractive] [--answerable 0.34]

Documents: bench/rag_eval/ (English and Japanese, written for this benchmark). Questions and the
tune/check split: bench/rag_questions.yaml, in rounds (each written before the change it measured;
round 4 is a fresh check half, all check, as every earlier check half has been looked at); each
round's halves are reported apart.
Thresholds are set on the tune halves only; both halves are reported. Targets (check half,
local model, auto): fact >= 60%, correct citation >= 80% of answered, unanswerable refused >= 90%.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = Path(__file__).with_name("rag_eval")
QUESTIONS = Path(__file__).with_name("rag_questions.yaml")
REFUSALS = ("do not seem to contain", "could not find", "don't know", "do not know")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default=None, choices=["auto", "generative", "extractive"])
    parser.add_argument("--answerable", type=float, default=None, help="override ANSWERABLE_THRESHOLD")
    parser.add_argument("--support", type=float, default=None, help="override SUPPORT_THRESHOLD")
    parser.add_argument("--max-tokens", type=int, default=80)
    args = parser.parse_args()
    os.environ["AGENT_APP_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-rag-")

    from agent_app.chains import retrieval as retrieval_chain
    from agent_app.config import load_settings
    from agent_app.retrieval import answering, ingest

    if args.answerable is not None:
        retrieval_chain.ANSWERABLE_THRESHOLD = args.answerable  # read by the chain at call time
    if args.support is not None:
        answering.SUPPORT_THRESHOLD = args.support
    settings = load_settings(environ={}, overrides={"model": "local"})
    ingest([DOCS], settings=settings.retrieval)
    session = rag_session(settings, args.style, args.max_tokens)
    session.reply("warm up")  # loads the model and the embeddings; not measured
    cases = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    rows = []
    for case in cases:
        session.start_conversation()  # each question on its own
        started = time.perf_counter()
        turn = session.reply(case["q"])
        rows.append(judge(case, turn, time.perf_counter() - started))
        r = rows[-1]
        print(
            f"r{case.get('round', 1)} {case['half']:5} {case['lang']} {'+' if r['ok'] else '-'} {r['seconds']:4.1f}s "
            f"{turn.details.get('answer_source', '-'):9} {turn.details.get('match_score', '-')!s:6} {case['q']}\n"
            f"      -> {turn.text[:120]!r}"
        )
    report(rows, args)


def rag_session(settings: Any, style: str | None, max_tokens: int) -> Any:
    """A greedy session on the `rag` template, or on a copy of it with `answer_style: style`."""
    from agent_app.chat.session import ChatSession

    template = "rag"
    if style:
        folder = Path(tempfile.mkdtemp())
        text = (ROOT / "prompts" / "rag.yaml").read_text(encoding="utf-8")
        (folder / "rag-bench.yaml").write_text(
            text.replace("kind: retrieval", f"kind: retrieval\n  answer_style: {style}")
        )
        settings.templates.template_dirs.insert(0, folder)
        template = "rag-bench"
    session = ChatSession(settings, template=template)
    session.set_params({"max_tokens": max_tokens, "temperature": 0})
    return session


def judge(case: dict[str, Any], turn: Any, seconds: float) -> dict[str, Any]:
    text = turn.text
    refused = any(r in text.lower() for r in REFUSALS)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    files = {i: Path(s.path).name for i, s in enumerate(turn.sources, start=1)}
    row: dict[str, Any] = {
        "round": case.get("round", 1),
        "half": case["half"],
        "lang": case["lang"],
        "seconds": seconds,
        "answerable": "fact" in case,
    }
    if "fact" in case:
        row["fact"] = any(str(f) in text for f in case["fact"]) and not refused
        row["answered"] = not refused
        row["cites_right"] = bool(cited) and any(files.get(n) == case["file"] for n in cited)
        row["ok"] = row["fact"]
    else:
        row["refused"] = refused
        row["ok"] = refused
    return row


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    def pct(values: list[bool]) -> str:
        return f"{100 * sum(values) / len(values):5.1f}% ({sum(values)}/{len(values)})" if values else "  n/a"

    print(f"\nstyle {args.style or 'default (extractive on the local model)'}, {len(rows)} questions")
    for round_, half in sorted({(r["round"], r["half"]) for r in rows}, key=lambda p: (p[0], p[1] != "tune")):
        for lang in ("en", "ja", None):
            sel = [r for r in rows if (r["round"], r["half"]) == (round_, half) and (lang is None or r["lang"] == lang)]
            answerable = [r for r in sel if r["answerable"]]
            answered = [r for r in answerable if r["answered"]]
            print(
                f"r{round_} {half:5} {lang or 'all':3}  fact {pct([r['fact'] for r in answerable])}  "
                f"correct citation (of answered) {pct([r['cites_right'] for r in answered])}  "
                f"unanswerable refused {pct([r['refused'] for r in sel if not r['answerable']])}"
            )
    seconds = sorted(r["seconds"] for r in rows)
    print(f"seconds per question: median {seconds[len(seconds) // 2]:.1f}, max {seconds[-1]:.1f}")


if __name__ == "__main__":
    main()
