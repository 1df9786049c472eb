"""Grammar libraries for the local model's constrained decoding, side by side.

For SmolLM2's tokenizer and a tool-call JSON schema: building the library's view of the
tokenizer, compiling the schema, and the cost of the token mask at each step while a valid call
is walked token by token (the same call for each library). The model's own step costs about
60 ms a token on this machine, which puts the mask costs in proportion. Libraries that are not
installed are reported as such (llguidance is the one the app uses; xgrammar can be installed
for the comparison: `pip install xgrammar`).

    .venv/bin/python bench/bench_constrained.py
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"const": "get_weather"},
        "arguments": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}
CALL = json.dumps({"name": "get_weather", "arguments": {"city": "Paris, France and more text here", "days": 3}})


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from agent_app.models.weights import bundled_gguf_path, ensure_converted

    return AutoTokenizer.from_pretrained(str(ensure_converted(bundled_gguf_path())))


def _figures(imported: float, built: float, compiled: float, steps: list[float]) -> dict[str, float]:
    mask_ms = 1000 * sum(steps) / len(steps)
    return {"import_s": imported, "tokenizer_s": built, "compile_ms": 1000 * compiled, "mask_ms": mask_ms}


def llguidance_figures(tok: Any, ids: list[int]) -> dict[str, float]:
    start = time.perf_counter()
    import llguidance
    import llguidance.hf
    import numpy as np

    imported = time.perf_counter() - start
    start = time.perf_counter()
    ll = llguidance.hf.from_tokenizer(tok)
    built = time.perf_counter() - start
    start = time.perf_counter()
    matcher = llguidance.LLMatcher(ll, llguidance.LLMatcher.grammar_from_json_schema(SCHEMA))
    compiled = time.perf_counter() - start
    steps = []
    for token in ids:
        start = time.perf_counter()
        bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        steps.append(time.perf_counter() - start)
        assert bits[token], "the valid call was masked out"
        matcher.consume_token(token)
    return {
        "import_s": imported,
        "tokenizer_s": built,
        "compile_ms": 1000 * compiled,
        "mask_ms": 1000 * sum(steps) / len(steps),
    }


def xgrammar_figures(tok: Any, ids: list[int]) -> dict[str, float]:
    start = time.perf_counter()
    import torch
    import xgrammar as xgr

    imported = time.perf_counter() - start
    start = time.perf_counter()
    info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
    compiler = xgr.GrammarCompiler(info)
    built = time.perf_counter() - start
    start = time.perf_counter()
    matcher = xgr.GrammarMatcher(compiler.compile_json_schema(json.dumps(SCHEMA)))
    compiled = time.perf_counter() - start
    bitmask, steps = xgr.allocate_token_bitmask(1, len(tok)), []
    for token in ids:
        start = time.perf_counter()
        matcher.fill_next_token_bitmask(bitmask)
        logits = torch.zeros(1, len(tok))
        xgr.apply_token_bitmask_inplace(logits, bitmask)
        steps.append(time.perf_counter() - start)
        assert logits[0, token] == 0, "the valid call was masked out"
        matcher.accept_token(token)
    return {
        "import_s": imported,
        "tokenizer_s": built,
        "compile_ms": 1000 * compiled,
        "mask_ms": 1000 * sum(steps) / len(steps),
    }


def main() -> None:
    tok = tokenizer()
    ids = tok(CALL, add_special_tokens=False)["input_ids"]
    print(f"vocabulary {len(tok)}, call of {len(ids)} tokens")
    print(f"{'library':12} {'import s':>9} {'tokenizer s':>12} {'compile ms':>11} {'mask ms/token':>14}")
    for name, measure in (("llguidance", llguidance_figures), ("xgrammar", xgrammar_figures)):
        if importlib.util.find_spec(name) is None:
            print(f"{name:12} not installed")
            continue
        f = measure(tok, ids)
        print(f"{name:12} {f['import_s']:9.2f} {f['tokenizer_s']:12.2f} {f['compile_ms']:11.2f} {f['mask_ms']:14.3f}")


if __name__ == "__main__":
    main()
