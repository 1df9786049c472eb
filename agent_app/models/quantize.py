"""`--dtype int8`: the local model's linear layers with int8 weights and dynamically quantised
int8 activations, made at load time from the fp32 weights (about a second).

Measured with bench/bench_int8.py on the 2-core AVX2 target (no AVX-512, no bf16), 2 threads:

- torch's dynamic int8 (`torch.ao.quantization.quantize_dynamic`, FBGEMM kernels) on every
  linear layer decoded 2.8x faster than fp32, but perplexity rose 3.4x in English and 5x in
  Japanese: SmolLM2's MLP output projection (`down_proj`) gets activations with outliers that
  one int8 scale per tensor cannot hold. Left in fp32, with the tied output head, the rest still
  decodes about 1.8x faster (25.1 against 14.1 tokens/s) for +13% perplexity in English and
  +16% in Japanese, with one weight scale per output row (per tensor: +20% and +22%). That is
  what `int8` does.
- Tried and dropped: SmoothQuant (activation outliers moved into the weights, alpha 0.5 and
  0.8, calibrated on other text) before making `down_proj` int8 too: English perplexity 68 and
  57 against 33 for fp32. Quantising any single layer's `down_proj` costs about as much as the
  rest of the model together, so they all stay fp32.
- torchao (the maintained successor) measured slower than fp32 here: int8 weight-only 0.79x,
  int8 dynamic 0.48x, so this module wraps the deprecated-but-present torch API instead; swap it
  when torchao has fast CPU kernels for this machine.
"""

from __future__ import annotations

import warnings
from typing import Any

KEPT_IN_FP32 = ("down_proj", "lm_head")
"""Layers left in fp32 (see the module docstring)."""


def quantize_int8(model: Any) -> Any:
    """`model` with its linear layers (except `KEPT_IN_FP32`) made dynamic int8, in place."""
    import torch

    names = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not any(k in name for k in KEPT_IN_FP32)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice points at torchao (see above)
        from torch.ao.quantization import per_channel_dynamic_qconfig

        # One weight scale per output row rather than per matrix: lower perplexity at the same
        # speed (bench/bench_int8.py, int8 against int8-tensor).
        spec = dict.fromkeys(names, per_channel_dynamic_qconfig)
        return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
