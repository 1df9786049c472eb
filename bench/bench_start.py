"""One-shot start: the wall time of `python main.py ask "Say hi."` on the bundled model against
`--model fake` (the same app without a model to load), alternated in one run.

Each run is a fresh process, as a script or an evaluation loop calls the app. The first round
of each is a warm-up (it fills the page cache) and is not counted. Also reports which heavy
modules the bundled run imported. Target (issue 29): ratio <= 3.0.

Usage: .venv/bin/python bench/bench_start.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE = (
    "import sys, atexit\n"
    "atexit.register(lambda: print('IMPORTED', [m for m in ('torch', 'transformers', 'sentence_transformers')"
    " if m in sys.modules], file=sys.stderr))\n"
    "sys.argv = ['main.py', *sys.argv[1:]]\n"
    "import runpy; runpy.run_path('main.py', run_name='__main__')\n"
)


def once(model: list[str], probe: bool = False) -> tuple[float, str]:
    command = [sys.executable, "-c", PROBE] if probe else [sys.executable, "main.py"]
    started = time.perf_counter()
    done = subprocess.run([*command, *model, "ask", "Say hi."], cwd=REPO, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    bundled: list[float] = []
    fake: list[float] = []
    for i in range(args.rounds + 1):
        b, _ = once([])
        f, _ = once(["--model", "fake"])
        if i:
            bundled.append(b)
            fake.append(f)
    _, stderr = once([], probe=True)
    imported = next((line for line in stderr.splitlines() if line.startswith("IMPORTED")), "IMPORTED ?")
    b, f = statistics.median(bundled), statistics.median(fake)
    print(f"ask 'Say hi.', {args.rounds} rounds after a warm-up, alternated, fresh processes")
    print(f"  bundled model : median {b:.2f} s (min {min(bundled):.2f}, max {max(bundled):.2f})")
    print(f"  --model fake  : median {f:.2f} s (min {min(fake):.2f}, max {max(fake):.2f})")
    print(f"  ratio         : {b / f:.2f} (target <= 3.0 -> {'OK' if b / f <= 3.0 else 'ABOVE TARGET'})")
    print(f"  heavy modules the bundled run imported: {imported.removeprefix('IMPORTED ')}")


if __name__ == "__main__":
    main()
