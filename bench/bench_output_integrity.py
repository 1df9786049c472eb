"""Output integrity on the local model: no U+FFFD (broken character) in Japanese output.

    .venv/bin/python bench/bench_output_integrity.py [--threads 2] [--max-tokens 40] [--limit N]

The 50 Japanese prompts of bench/ja_prompts.yaml go through every path that writes text:
  chat        the chat model's stream (default template, one fresh conversation per prompt);
  completion  the completion model's stream (plain text continuation);
  character   the shipped Japanese template (`character`, completion mode), through the session.
A short max_tokens makes many answers end mid-word, where a token cut inside a multi-byte
character used to leave U+FFFD. Reported per path: answers, answers holding U+FFFD (target 0),
answers cut at max_tokens, and the share of letters that are Japanese (kana or kanji), which
shows whether the text is Japanese at all.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPTS = Path(__file__).with_name("ja_prompts.yaml")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
_LETTER = re.compile(r"[^\W\d_]")


def japanese_share(text: str) -> float:
    letters = _LETTER.findall(text)
    return sum(bool(_JAPANESE.match(c)) for c in letters) / len(letters) if letters else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    from agent_app.chat.session import ChatSession
    from agent_app.config import load_settings

    prompts = yaml.safe_load(PROMPTS.read_text(encoding="utf-8"))["ja"][: args.limit]
    settings = load_settings(environ={}, overrides={"model": "local", "threads": args.threads})
    session = ChatSession(settings)
    session.set_params({"max_tokens": args.max_tokens})
    completion = session.models.completion_model()
    assert completion is not None

    def chat(prompt: str) -> tuple[str, bool]:
        session.use_template("default")
        session.clear()
        turn = session.reply(prompt)
        return turn.text, turn.finish_reason == "length"

    def plain(prompt: str) -> tuple[str, bool]:
        text = "".join(completion.stream(prompt, max_tokens=args.max_tokens))
        return text, None  # type: ignore[return-value]  # the LLM stream carries no finish reason

    def character(prompt: str) -> tuple[str, bool]:
        session.use_template("character")
        session.clear()
        turn = session.reply(prompt)
        return turn.text, turn.finish_reason == "length"

    print(f"{len(prompts)} Japanese prompts, max_tokens {args.max_tokens}\n")
    print(f"{'path':11s} {'answers':>7s} {'U+FFFD':>7s} {'cut':>5s} {'Japanese letters':>17s} {'s/answer':>9s}")
    total_bad = 0
    for name, run in (("chat", chat), ("completion", plain), ("character", character)):
        bad, cut, shares, started = 0, 0, [], time.perf_counter()
        for prompt in prompts:
            text, was_cut = run(prompt)
            bad += "\ufffd" in text
            cut += bool(was_cut)
            shares.append(japanese_share(text))
            if "\ufffd" in text:
                print(f"  U+FFFD in {name}: {prompt!r} -> {text!r}")
        seconds = (time.perf_counter() - started) / len(prompts)
        total_bad += bad
        cut_text = f"{cut:5d}" if name != "completion" else "    -"
        print(
            f"{name:11s} {len(prompts):7d} {bad:7d} {cut_text} {100 * sum(shares) / len(shares):16.0f}% {seconds:9.1f}"
        )
    print(f"\nanswers with U+FFFD: {total_bad} (target 0)  ({time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
