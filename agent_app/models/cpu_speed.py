"""Two process settings that make the local transformers model faster on a CPU.

Measured on the 2-core AVX2 target (AMD EPYC), 2 threads, fp32 SmolLM2-135M, each variant in a
fresh process and alternated (bench/bench_generation.py's rows "without cpu_speed" give the comparison):

- **oneDNN for the linear layers.** torch's `F.linear` on CPU calls MKL's sgemm, which ran
  1.05-1.3x slower than oneDNN's on the model's shapes for a long prompt, and 2x slower for the
  49,152-row output head on one token. With every `nn.Linear` on oneDNN, a 1,526-token prompt
  was read in 2.6-3.0 s instead of 3.0-3.6 s, and answers were written at 16-19 instead of
  14-15 tokens/s; with `--dtype int8` (its fp32 layers only), 1.75 s instead of 2.4 s and 26.5
  instead of 23.6 tokens/s. Results differ from MKL's by float rounding only: the model's
  logits within 1e-3, with the same argmax (tests/test_cpu_speed.py); the greedy text in the
  trial was the same.
  `torch.ops.mkldnn._linear_pointwise` is the op torch's own compiler (inductor) emits for a
  linear layer on oneDNN; torch has no public switch for it in eager mode.
- **Keeping freed memory in the process.** glibc hands large freed blocks back to the kernel,
  so the first passes over a long prompt page-fault their activations in again and again:
  about 220,000 minor faults a pass for a 1,526-token prompt, against 20,000-30,000 (then none)
  with blocks up to 64 MB kept in the heap. The first such prompt of a session was read in
  2.8 s instead of 3.2 s (oneDNN on in both; 4 runs each, alternated). PyTorch's CPU tuning guide
  recommends jemalloc or tcmalloc for the same reason; `mallopt` gets the effect without
  preloading a library, at the cost of the process keeping up to 512 MB of freed heap.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import torch

ENABLED = True
"""Whether LocalRuntime applies these; bench/bench_generation.py turns it off for a reference."""

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Activations of a 2,048-token prompt are at most 12.6 MB a tensor (2,048 x 1,536 fp32); blocks
# up to this size come from the heap, and up to this much free heap is kept.
_KEEP_BLOCKS_UP_TO = 64 << 20
_KEEP_FREE_HEAP_UP_TO = 512 << 20


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed large blocks for reuse (see the module docstring); False where
    the C library is not glibc (macOS, musl), which changes nothing there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BLOCKS_UP_TO) and mallopt(_M_TRIM_THRESHOLD, _KEEP_FREE_HEAP_UP_TO))


class OneDnnLinear(torch.nn.Linear):
    """`nn.Linear` computed by oneDNN; the same parameters (a tied output head stays tied)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")


def onednn_linear_works() -> bool:
    """Whether this torch build has the oneDNN op and it computes what `F.linear` does."""
    if not torch.backends.mkldnn.is_available():
        return False
    x, w, b = torch.randn(3, 8), torch.randn(5, 8), torch.randn(5)
    try:
        y = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return bool(torch.allclose(y, torch.nn.functional.linear(x, w, b), atol=1e-5))


def use_onednn_linears(model: Any) -> int:
    """Put every plain fp32 `nn.Linear` of `model` on oneDNN, in place; how many were. Layers
    already replaced (int8 ones, see models.quantize) are left as they are."""
    if not onednn_linear_works():
        return 0
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear and child.weight.dtype == torch.float32:
                setattr(parent, name, _on_onednn(child))
                swapped += 1
    return swapped


def _on_onednn(linear: torch.nn.Linear) -> OneDnnLinear:
    new = OneDnnLinear(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
    new.weight = linear.weight
    new.bias = linear.bias
    return new.train(linear.training)
