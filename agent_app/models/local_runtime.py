"""The local model loaded and running: a tokenizer, an engine, and the one thread that runs it.

- where the weights come from: models.weights (the bundled GGUF and its conversions);
- which engine runs them: models.engines (torch) and models.onnx_q4 (ONNX Runtime, the default
  for the bundled model: neither torch nor transformers is imported on that path);
- how tokens are chosen: models.decoding, the one decode loop, for chat answers, grammar-held
  calls and the agent's writer alike.

Why a runtime of our own under the LangChain wrappers: LangChain's `HuggingFacePipeline.stream()`
starts a new thread for every call, measured about 45% slower here (each new thread spins up its
own OpenMP team), and maps stop strings to single token ids, so multi-token stops never fire. We
load and run the model on the process's ONE model thread (`agent_app.torch_thread`), which also
serialises generations, as a single model needs anyway.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_app import torch_thread
from agent_app.errors import ModelError, ModelNotFoundError
from agent_app.models import decoding
from agent_app.models.decode_threads import DecodeThreadsSetting
from agent_app.models.params import GenerationParams
from agent_app.models.weights import BUNDLED_NAME, Progress, bundled_gguf_path, ensure_converted, resolve_dtype

if TYPE_CHECKING:
    from agent_app.models.constrained import Grammar
    from agent_app.models.engines import Engine
    from agent_app.models.tokens import Tokenizer


@dataclass
class GenerationResult:
    """What one generation produced."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # "stop" (eos or stop string), "length", or "cancelled"
    p_call: float | None = None
    """With an optional tool call: the probability the model gave to calling (models.constrained)."""


# The local model's default max_tokens, by bench/bench_answer_length.py (48 chat prompts, English
# and Japanese, uncapped): half the answers end within 112-168 tokens, but 15% loop until any
# cap. On the tuning half, 384 cut no more answers than 512 (17%), and bounds a looping answer at
# about 24 s instead of 32 s at the measured 15.8 tokens/s; a cut answer says so and how to get more.
LOCAL_MAX_TOKENS = 384
LOCAL_DEFAULT_PARAMS = GenerationParams(temperature=0.3, top_p=0.9, repetition_penalty=1.1, max_tokens=LOCAL_MAX_TOKENS)
"""The bundled model's sampling, on either engine (ours here, or llama.cpp)."""


def _load(
    source: str, dtype: str, threads: int | None, decode_threads: DecodeThreadsSetting, progress: Progress | None
) -> tuple[Tokenizer, Engine, int]:
    """The tokenizer, the engine and the context window of `source` at `dtype`."""
    say = progress or (lambda _msg: None)
    cores = threads or len(os.sched_getaffinity(0))
    counts: tuple[int, ...] = (cores, 1) if decode_threads == "auto" else (min(int(decode_threads or cores), cores),)
    if dtype == "q4":
        from agent_app.models import onnx_q4
        from agent_app.models.tokens import Tokenizer

        if source != "bundled":
            raise ModelError(
                "--dtype q4 runs the bundled model's GGUF only",
                hint="for another GGUF file use --model llamacpp/PATH.gguf; for this model another --dtype",
            )
        folder = onnx_q4.ensure_onnx(bundled_gguf_path(), progress)
        say(f"Loading {BUNDLED_NAME}")
        engine = onnx_q4.OnnxEngine(folder, cores, counts)
        return Tokenizer.from_folder(folder), engine, engine.context_window
    return _load_torch(source, dtype, threads, counts, say, progress)


def _load_torch(
    source: str, dtype: str, threads: int | None, counts: tuple[int, ...], say: Progress, progress: Progress | None
) -> tuple[Tokenizer, Engine, int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent_app.models import cpu_speed
    from agent_app.models.engines import TorchEngine
    from agent_app.models.hf import quiet_transformers
    from agent_app.models.tokens import Tokenizer

    quiet_transformers()
    if cpu_speed.ENABLED:
        cpu_speed.keep_freed_memory()  # before loading: the weights' own blocks count too
    if threads:
        torch.set_num_threads(threads)
    cores = torch.get_num_threads()
    location = str(ensure_converted(bundled_gguf_path(), progress)) if source == "bundled" else source
    say(f"Loading {BUNDLED_NAME if source == 'bundled' else source}")
    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(location)
        weights = torch.float32 if dtype == "int8" else getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(location, dtype=weights)
    except OSError as exc:
        raise ModelNotFoundError(
            f"cannot load local model {source!r}: {str(exc).splitlines()[0]}",
            hint="give a model folder, or a Hugging Face id while online",
        ) from None
    model.eval()
    if dtype == "int8":
        from agent_app.models.quantize import quantize_int8

        model = quantize_int8(model)
    if cpu_speed.ENABLED:
        cpu_speed.use_onednn_linears(model)
    tokenizer = Tokenizer.from_transformers(hf_tokenizer, model.generation_config.eos_token_id)
    # int8 shares one activation scale per pass: a token's logits depend on the others in it.
    engine = TorchEngine(
        model, hf_tokenizer, cores, tuple(min(c, cores) for c in counts), exact_batches=dtype != "int8"
    )
    return tokenizer, engine, int(getattr(model.config, "max_position_embeddings", 2048) or 2048)


class LocalRuntime:
    """A loaded tokenizer + engine, and the one thread that runs it."""

    def __init__(
        self,
        source: str,
        *,
        dtype: str = "auto",
        threads: int | None = None,
        decode_threads: DecodeThreadsSetting = None,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.dtype = dtype = resolve_dtype(source, dtype)
        self.name = BUNDLED_NAME if source == "bundled" else source
        self.tokenizer, self.engine, self.context_window = _load(source, dtype, threads, decode_threads, progress)
        self.last_result: GenerationResult | None = None

    @functools.cached_property
    def pipeline(self) -> Any:
        """This model as a plain transformers text-generation pipeline (new text only), for
        LangChain code that wants one: `HuggingFacePipeline(pipeline=runtime.pipeline)`. Torch
        engines only; made on first use (importing transformers' pipelines takes about 0.9 s)."""
        from transformers import pipeline

        from agent_app.models.engines import TorchEngine

        if not isinstance(self.engine, TorchEngine):
            raise ModelError(
                f"--dtype {self.dtype} runs on ONNX Runtime, not as a transformers model",
                hint="use --dtype float32 for a transformers pipeline",
            )
        task: Any = "text-generation"
        return pipeline(task, model=self.engine.model, tokenizer=self.engine.hf_tokenizer, return_full_text=False)

    # -- tokens ---------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Render role/content dicts with the model's chat template, ready for the answer."""
        return self.tokenizer.render_chat(messages)

    def wait_idle(self) -> None:
        """Block until generations already submitted have finished."""
        torch_thread.wait_idle()

    # -- generation -----------------------------------------------------------------------
    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        grammar: Grammar | None = None,
    ) -> GenerationResult:
        """Generate on the model thread; `on_text` receives the visible text as it appears.
        With `grammar` (see models.constrained) the text always matches it."""
        return torch_thread.run(self._generate_here, prompt, params, on_text, cancel or threading.Event(), grammar)

    def stream(
        self, prompt: str, params: GenerationParams, grammar: Grammar | None = None
    ) -> Generator[str | GenerationResult, None, None]:
        """Yield text pieces as they are generated, then the `GenerationResult`.

        Closing the iterator early (a consumer that stops, Ctrl-C) cancels the generation.
        """
        result = yield from torch_thread.stream(functools.partial(self._generate_here, grammar=grammar), prompt, params)
        yield result

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        """Total log-probability of each candidate text following `prompt` (models.decoding.score)."""
        return torch_thread.run(decoding.score, self.engine, self.tokenizer, prompt, list(candidates))

    def write_line(self, prompt: str, how: decoding.Decoding) -> Generator[str, None, None]:
        """Greedy text after `prompt`, streamed, ending at a newline or an end token, chosen as
        `how` says (the agent's constrained writer)."""

        def run(emit: Callable[[str], None], cancel: threading.Event) -> None:
            text = decoding.TextStream(self.tokenizer, emit, stop_at_newline=True)
            decoding.decode(self.engine, self.tokenizer.encode(prompt), how, text.take, cancel)

        yield from torch_thread.stream(run)

    def line_ends(self) -> set[int]:
        """Tokens that end a line of the agent's writer: a newline, or the end of the answer."""
        return set(self.tokenizer.encode("\n")) | set(self.tokenizer.eos_token_ids)

    def _generate_here(
        self,
        prompt: str,
        params: GenerationParams,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        grammar: Grammar | None = None,
    ) -> GenerationResult:
        ids = self.tokenizer.encode(prompt)
        max_new = max(1, min(params.max_tokens or LOCAL_MAX_TOKENS, self.context_window - len(ids)))
        mask = None
        if grammar is not None:
            from agent_app.models.constrained import GrammarMask

            # Only the grammar: a stop string could cut the text short of valid, and the
            # penalties count the prompt too, so they keep the model from copying the "3" or
            # "San Francisco" a call needs (GrammarMask has its own loop guard over the new tokens).
            mask = GrammarMask(self.tokenizer.grammar_tokenizer, grammar)
            processors: list[decoding.Processor] = [mask]
        else:
            processors = decoding.processors_for(params)
        sampling = None
        if params.temperature:  # None or 0 mean greedy decoding
            top_k = params.top_k if params.top_k is not None else decoding.Sampling.top_k
            sampling = decoding.Sampling(params.temperature, top_k, params.top_p, params.seed)
        how = decoding.Decoding(max_new, set(self.tokenizer.eos_token_ids), processors, sampling)
        text = decoding.TextStream(self.tokenizer, on_text, stop=None if grammar else params.stop)
        produced, reason = decoding.decode(self.engine, ids, how, text.take, cancel)
        text.flush()
        p_call = mask.p_call if mask is not None else None
        self.last_result = GenerationResult(text.text, len(ids), len(produced), reason, p_call)
        return self.last_result


_RUNTIMES: dict[tuple[str, str, int | None, DecodeThreadsSetting], LocalRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def get_runtime(
    source: str = "bundled",
    *,
    dtype: str = "auto",
    threads: int | None = None,
    decode_threads: DecodeThreadsSetting = None,
    progress: Progress | None = None,
) -> LocalRuntime:
    """A shared runtime per (model, dtype, threads): switching back and forth reloads nothing."""
    dtype = resolve_dtype(source, dtype)
    key = (source, dtype, threads, decode_threads)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            # Loading runs model kernels too: on the model thread, like everything else.
            runtime = _RUNTIMES[key] = torch_thread.run(
                LocalRuntime, source, dtype=dtype, threads=threads, decode_threads=decode_threads, progress=progress
            )
        return runtime
