"""How long the local model's answers are when nothing cuts them, to pick its default max_tokens.

    .venv/bin/python bench/bench_answer_length.py [--threads 2] [--limit N]

Each prompt of bench/en_prompts.yaml (24) and the first 24 of bench/ja_prompts.yaml goes through
the chat (default template, local defaults, a fresh conversation each) with max_tokens 1024, so
the answer ends where the model ends it. The prompts are split in two: even positions are the
tuning half, odd the check half. The default is chosen on the tuning half only: the smallest
candidate that cuts no more answers than the largest one does. (Some answers of the 135M model
never end: they loop until any cap. A cap only decides how long those take, and which answers
that do end it cuts.) Reported for both halves: answer length percentiles, decode speed, and
for each candidate the share of answers it would cut and the longest wait it allows (candidate
tokens at the measured speed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).parent
CANDIDATES = (128, 192, 256, 320, 384, 512)


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="prompts per language")
    args = parser.parse_args()

    from agent_app.chat.session import ChatSession
    from agent_app.config import load_settings

    english = yaml.safe_load((HERE / "en_prompts.yaml").read_text(encoding="utf-8"))["en"][: args.limit or 24]
    japanese = yaml.safe_load((HERE / "ja_prompts.yaml").read_text(encoding="utf-8"))["ja"][: args.limit or 24]
    session = ChatSession(load_settings(environ={}, overrides={"model": "local", "threads": args.threads}))
    session.set_params({"max_tokens": 1024})
    session.reply("warm-up")  # loads the model; not measured
    rows = []
    for lang, prompts in (("en", english), ("ja", japanese)):
        for i, prompt in enumerate(prompts):
            session.clear()
            started = time.perf_counter()
            turn = session.reply(prompt)
            rows.append(
                {
                    "lang": lang,
                    "half": "tune" if i % 2 == 0 else "check",
                    "tokens": turn.output_tokens,
                    "seconds": time.perf_counter() - started,
                    "finished": turn.finish_reason != "length",
                }
            )
            print(f"{lang} {rows[-1]['half']:5s} {turn.output_tokens:4d} tok {rows[-1]['seconds']:5.1f}s  {prompt}")

    speed = sum(r["tokens"] for r in rows) / sum(r["seconds"] for r in rows)
    tune = [r for r in rows if r["half"] == "tune"]
    least_cut = sum(r["tokens"] > CANDIDATES[-1] for r in tune)
    chosen = next(c for c in CANDIDATES if sum(r["tokens"] > c for r in tune) == least_cut)
    print(f"\ndecode incl. prompt: {speed:.1f} tokens/s over {len(rows)} answers (threads {args.threads})")
    for half in ("tune", "check"):
        for lang in ("en", "ja", "all"):
            rs = [r for r in rows if r["half"] == half and lang in (r["lang"], "all")]
            lengths = [r["tokens"] for r in rs]
            print(
                f"{half:5s} {lang:3s} n={len(rs):2d}  length p50 {percentile(lengths, 0.5):4.0f}  "
                f"p90 {percentile(lengths, 0.9):4.0f}  max {max(lengths):4d}  mean {statistics.mean(lengths):5.1f}"
                f"  unfinished at 1024: {sum(not r['finished'] for r in rs)}"
            )
    print(f"\n{'max_tokens':>10s} {'cut (tune)':>11s} {'cut (check)':>12s} {'longest wait':>13s}")
    for cap in CANDIDATES:
        cut = {h: [r["tokens"] > cap for r in rows if r["half"] == h] for h in ("tune", "check")}
        print(
            f"{cap:10d} {100 * sum(cut['tune']) / len(cut['tune']):10.0f}% "
            f"{100 * sum(cut['check']) / len(cut['check']):11.0f}% {cap / speed:12.0f}s"
            + ("   <- chosen on the tuning half" if cap == chosen else "")
        )
    print(f"({time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
