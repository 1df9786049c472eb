"""Measuring in a fresh process: a benchmark runs itself again with `--child ...` so that every
variant starts cold (no shared caches, torch threads set once), and reads back one result line.

    result = measure_in_fresh_process(__file__, "--child", "int8", "--threads", "2")   # parent
    print_result({"decode": 25.5})                                                     # child
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MARK = "RESULT "
REPO = Path(__file__).resolve().parent.parent


def print_result(result: dict[str, Any]) -> None:
    """The child's answer: one line the parent finds among anything else printed."""
    print(MARK + json.dumps(result))


def measure_in_fresh_process(script: str, *args: str) -> dict[str, Any]:
    """Run `script args...` in a new interpreter from the repository; its `print_result`."""
    path = str(Path(script).resolve())  # the child runs from the repository root
    out = subprocess.run([sys.executable, path, *args], capture_output=True, text=True, cwd=REPO)
    line = next((x for x in out.stdout.splitlines() if x.startswith(MARK)), None)
    if line is None:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(line[len(MARK) :])
    return result
