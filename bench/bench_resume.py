"""An ingest stopped half way and run again, against one run straight through (a script, not a
test; issue 29's "safe to interrupt and resume"). Run alone.

    .venv/bin/python bench/bench_resume.py [--mb 0.6]

One text file of about --mb million characters (English and Japanese chapters of Debian's reference, installed
with apt-get install debian-reference-en debian-reference-ja, repeated with a number on every
line so that no chunk repeats), ingested by `main.py ingest` in fresh processes and data folders:
(a) straight through; (b) stopped with SIGINT (Ctrl-C) once half the chunks are embedded, then
the same command again. Prints each wall time, the chunks the interrupted run kept, and the
total of (b) against (a): with nothing kept, (b) would cost (a) plus the half done twice.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [Path(f"/usr/share/debian-reference/ch0{n}.{lang}.html") for n in (3, 5) for lang in ("en", "ja")]
PROGRESS = re.compile(r"embedding ([\d,]+)/([\d,]+) chunks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=0.6)
    args = parser.parse_args()
    if not all(p.is_file() for p in SOURCES):
        sys.exit("missing Debian's reference: apt-get install debian-reference-en debian-reference-ja")
    text = _text(int(args.mb * 1024 * 1024))
    work = Path(tempfile.mkdtemp(prefix="bench-resume-"))
    big = work / "big.txt"
    big.write_text(text, encoding="utf-8")
    print(f"file: {big.stat().st_size / 1e6:.2f} MB")

    straight, chunks = _run(big, work / "a")
    print(f"(a) straight through: {straight:.1f} s, {chunks} chunks")

    child, started = _start(big, work / "b"), time.perf_counter()
    assert child.stdout is not None
    for line in child.stdout:
        if (m := PROGRESS.search(line)) and int(m[1].replace(",", "")) * 2 >= int(m[2].replace(",", "")):
            child.send_signal(signal.SIGINT)
            break
    out, _ = child.communicate(timeout=600)
    first = time.perf_counter() - started
    kept = re.search(r"the ([\d,]+) chunks embedded so far are kept", out)
    said = kept[0] if kept else "nothing kept: " + out[-200:]
    print(f"(b) stopped at half: {first:.1f} s, exit {child.returncode}; {said}")
    second, chunks_b = _run(big, work / "b")
    print(f"(b) the same ingest again: {second:.1f} s, {chunks_b} chunks")
    print(f"(b) in all: {first + second:.1f} s, {(first + second) / straight:.2f}x of (a)")


def _text(size: int) -> str:
    sys.path.insert(0, str(ROOT))
    from agent_app.retrieval.loaders import load_sections

    base = [
        line
        for p in SOURCES
        for section in load_sections(p, p.read_bytes())
        for line in section.text.splitlines()
        if line.strip()
    ]
    out, n = [], 0
    while sum(map(len, out)) < size:
        out.append(f"{n}: {base[n % len(base)]}")
        n += 1
    return "\n\n".join(out)


def _start(file: Path, data: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "AGENT_APP_DATA_DIR": str(data)}
    return subprocess.Popen(
        [sys.executable, "-u", str(ROOT / "main.py"), "ingest", str(file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _run(file: Path, data: Path) -> tuple[float, int]:
    started = time.perf_counter()
    child = _start(file, data)
    out, _ = child.communicate(timeout=3600)
    if child.returncode:
        sys.exit(f"ingest failed: {out[-400:]}")
    found = re.search(r"([\d,]+) chunks$", out.strip())
    return time.perf_counter() - started, int(found[1].replace(",", "")) if found else 0


if __name__ == "__main__":
    main()
