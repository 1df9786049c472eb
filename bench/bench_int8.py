"""int8 weights for the local (transformers) model: speed and quality against fp32, same run.

    .venv/bin/python bench/bench_int8.py [--threads 2] [--variants int8,int8-all]

Speed (each variant in a fresh process, 2 torch threads, greedy): decode tokens/s over 128 new
tokens (best of 2) and the time to run a 1,500-token prompt (what a RAG or agent prompt costs
before the first token). Quality, against fp32 in one process: perplexity on a fixed English
text (README.md) and a fixed Japanese text (the first seed article), and greedy agreement on
the 40 first prompts of bench/en_prompts.yaml and bench/ja_prompts.yaml (first token equal;
mean common prefix of 32 tokens).

Variants: fp32 (reference); int8 (what `--dtype int8` does: agent_app/models/quantize.py); q4
(`--dtype q4`: the GGUF's Q4_1 weights on ONNX Runtime, agent_app/models/onnx_q4.py);
int8-tensor (the same layers with one weight scale per matrix, as int8 did before); int8-all
(every linear layer, the textbook call, for comparison). With torchao installed,
ao-w8 (Int8WeightOnlyConfig) and ao-da8w8 (Int8DynamicActivationInt8WeightConfig) too.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import yaml
from fresh_process import measure_in_fresh_process, print_result  # a sibling: bench/ is on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SEEDS = REPO.parent / "shared" / "seeds"


def load(variant: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent_app.models import cpu_speed
    from agent_app.models.quantize import quantize_int8
    from agent_app.models.weights import bundled_gguf_path, ensure_converted

    cpu_speed.keep_freed_memory()

    if variant == "q4":  # the GGUF's own 4-bit weights on ONNX Runtime, as `--dtype q4` loads them
        from agent_app.models import onnx_q4

        folder = onnx_q4.ensure_onnx(bundled_gguf_path())
        return AutoTokenizer.from_pretrained(folder), onnx_q4.load_model(folder, (torch.get_num_threads(),))
    folder = ensure_converted(bundled_gguf_path())
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    if variant == "int8":
        quantize_int8(model)
    elif variant == "int8-tensor":  # the same layers with one weight scale per matrix
        names = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        names = {n for n in names if not any(k in n for k in ("down_proj", "lm_head"))}
        torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8, inplace=True)
    elif variant == "int8-all":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    elif variant.startswith("ao-"):
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_

        quantize_(model, Int8WeightOnlyConfig() if variant == "ao-w8" else Int8DynamicActivationInt8WeightConfig())
    # As LocalRuntime runs every variant: the layers left in fp32 on oneDNN.
    cpu_speed.use_onednn_linears(model)
    return tok, model


def speed(variant: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    tok, model = load(variant)
    if variant == "q4":
        torch.set_num_threads(1)  # as the app writes on q4: idle torch threads spin against ONNX Runtime's
    chat = [
        {"role": "user", "content": "Write a long story about a brave knight and a dragon near a mountain village."}
    ]
    inputs = tok(tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True), return_tensors="pt")
    long = tok("The history of the village is long and full of stories. " * 137, return_tensors="pt")
    greedy = {"do_sample": False, "max_new_tokens": 128, "min_new_tokens": 128, "pad_token_id": tok.pad_token_id}
    with torch.inference_mode():
        model.generate(**inputs, do_sample=False, max_new_tokens=8, pad_token_id=tok.pad_token_id)  # warm up
        best = 0.0
        for _ in range(2):
            t = time.perf_counter()
            model.generate(**inputs, **greedy)
            best = max(best, 128 / (time.perf_counter() - t))
        t = time.perf_counter()
        model(**long, logits_to_keep=1)  # as the app's prefill and transformers' generate
        prefill = time.perf_counter() - t
    return {"decode": best, "prefill": prefill, "prompt_tokens": int(long["input_ids"].shape[1])}


def quality(variants: list[str]) -> dict:
    import torch

    torch.set_num_threads(2)
    prompts = (
        yaml.safe_load((REPO / "bench/en_prompts.yaml").read_text())["en"][:20]
        + yaml.safe_load((REPO / "bench/ja_prompts.yaml").read_text(encoding="utf-8"))["ja"][:20]
    )
    english = (REPO / "README.md").read_text(encoding="utf-8")[:6000]
    japanese = sorted(SEEDS.glob("*"))[0].read_text(encoding="utf-8")[:3000]

    def perplexity(tok, model, text: str) -> float:
        ids = tok(text, return_tensors="pt")["input_ids"][:, :1024]
        with torch.inference_mode():  # from the logits: q4's forward pass takes no labels
            logits = model(input_ids=ids).logits[0, :-1].float()
            return math.exp(torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item())

    def answers(tok, model) -> list[list[int]]:
        out = []
        for prompt in prompts:
            text = tok.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
            x = tok(text, return_tensors="pt")
            with torch.inference_mode():
                ids = model.generate(**x, do_sample=False, max_new_tokens=32, pad_token_id=tok.pad_token_id)
            out.append(ids[0][x["input_ids"].shape[1] :].tolist())
        return out

    def common(a: list[int], b: list[int]) -> int:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    results, reference = {}, None
    for variant in ["fp32", *variants]:
        tok, model = load(variant)
        got = answers(tok, model)
        reference = reference or got
        results[variant] = {
            "ppl_en": perplexity(tok, model, english),
            "ppl_ja": perplexity(tok, model, japanese),
            "first_same": sum(a[:1] == b[:1] for a, b in zip(got, reference, strict=True)) / len(prompts),
            "prefix": sum(common(a, b) for a, b in zip(got, reference, strict=True)) / len(prompts),
        }
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="int8,q4,int8-tensor,int8-all")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print_result(speed(args.child, args.threads))
        return
    variants = args.variants.split(",")
    try:
        import torchao  # noqa: F401

        variants += ["ao-w8", "ao-da8w8"]
    except ImportError:
        pass
    fast = {}
    for variant in ["fp32", *variants]:
        fast[variant] = measure_in_fresh_process(__file__, "--child", variant, "--threads", str(args.threads))
    good = quality(variants)
    ref = fast["fp32"]
    print(f"SmolLM2-135M-Instruct, {args.threads} torch threads, greedy; speed: each variant in a fresh process")
    print(
        f"\n{'variant':9} {'decode tok/s':>12} {'vs fp32':>7} {'prefill ' + str(ref['prompt_tokens']) + ' tok':>16} "
        f"{'ppl en':>7} {'ppl ja':>7} {'1st token = fp32':>16} {'common prefix /32':>17}"
    )
    for variant in ["fp32", *variants]:
        s, q = fast[variant], good[variant]
        print(
            f"{variant:9} {s['decode']:12.1f} {s['decode'] / ref['decode']:6.2f}x {s['prefill']:14.2f} s "
            f"{q['ppl_en']:7.2f} {q['ppl_ja']:7.2f} {q['first_same']:16.0%} {q['prefix']:17.1f}"
        )


if __name__ == "__main__":
    main()
