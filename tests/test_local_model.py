"""What our local chat model adds over LangChain's pipeline wrappers (real bundled model)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent_app.models.local import LocalChatModel

pytestmark = [pytest.mark.real_model]


def test_renders_every_message_type_with_the_chat_template(local_chat_model):
    messages = [
        SystemMessage("SYS-TEXT"),
        HumanMessage("USER-TEXT"),
        AIMessage("", tool_calls=[{"name": "calculator", "args": {"expression": "2+2"}, "id": "c1"}]),
        ToolMessage("4", tool_call_id="c1", name="calculator"),
        AIMessage("AI-TEXT"),
        HumanMessage("こんにちは"),
    ]
    prompt = local_chat_model.render(messages)
    expected_order = [
        "<|im_start|>system\nSYS-TEXT",
        "<|im_start|>user\nUSER-TEXT",
        '<|im_start|>assistant\n{"name": "calculator", "arguments": {"expression": "2+2"}}',
        "<|im_start|>tool\ncalculator: 4",
        "<|im_start|>assistant\nAI-TEXT",
        "<|im_start|>user\nこんにちは",
    ]
    positions = [prompt.index(part) for part in expected_order]
    assert positions == sorted(positions)
    assert prompt.endswith("<|im_start|>assistant\n")  # ready for the answer, nothing else


def test_returns_only_new_text(local_chat_model):
    reply = local_chat_model.invoke([HumanMessage("Say hello.")], temperature=0, max_tokens=12)
    assert "<|im_start|>" not in reply.text and "Say hello." not in reply.text


def test_too_long_input_is_trimmed_with_a_warning(local_chat_model):
    small = LocalChatModel(llm=local_chat_model.llm, params=local_chat_model.params, context_window=400)
    history = []
    for i in range(12):
        history += [
            HumanMessage(f"Question number {i} about the weather in some town far away?"),
            AIMessage(f"Answer number {i}: it is sunny and warm there today."),
        ]
    reply = small.invoke(
        [SystemMessage("Be brief."), *history, HumanMessage("Last question?")], temperature=0, max_tokens=8
    )
    trimmed = reply.response_metadata["prompt_trimmed"]
    assert trimmed["dropped_messages"] > 0
    assert reply.usage_metadata["input_tokens"] + 8 <= 400
    huge = "word " * 2000
    reply = small.invoke([HumanMessage(huge + "What is this?")], temperature=0, max_tokens=8)
    assert reply.response_metadata["prompt_trimmed"]["truncated_tokens"] > 1000
    assert reply.usage_metadata["input_tokens"] <= 400


def test_completion_model_is_a_huggingface_pipeline_with_stop(local_chat_model):
    from langchain_huggingface import HuggingFacePipeline

    llm = local_chat_model.llm
    assert isinstance(llm, HuggingFacePipeline)
    prompt = "User: Tell me about cats.\nCharacter:"
    full = llm.invoke(prompt, temperature=0, max_tokens=30)
    assert full.strip()
    # The seeds' character-bot format stops at a newline.
    line = llm.invoke(prompt, temperature=0, max_tokens=30, stop=["\n"])
    assert "\n" not in line and full.startswith(line)
    streamed = "".join(llm.stream(prompt, temperature=0, max_tokens=30, stop=["\n"]))
    assert streamed == line


def test_cancelling_a_stream_frees_the_model(local_chat_model):
    stream = local_chat_model.stream([HumanMessage("Write a long story.")], temperature=0, max_tokens=400)
    first = next(stream)
    assert first.text is not None
    stream.close()  # what Ctrl-C does
    runtime = local_chat_model.runtime
    runtime.wait_idle()
    assert runtime.last_result.finish_reason == "cancelled"
    assert runtime.last_result.output_tokens < 100  # stopped, not run on to 400 tokens


def test_model_folder_and_offline_hub_id(local_chat_model, fp32_chat_model):
    from agent_app.config import load_settings
    from agent_app.errors import ModelNotFoundError
    from agent_app.models.factory import build_chat_model, parse_model_spec
    from agent_app.models.weights import bundled_gguf_path, converted_model_dir

    folder = converted_model_dir(bundled_gguf_path())  # a plain transformers folder (fp32's)
    model = build_chat_model(parse_model_spec(f"local/{folder}"), load_settings(overrides={"threads": 1}))
    assert model.runtime is not local_chat_model.runtime and model.model_name == str(folder)
    assert model.invoke("Hi", temperature=0, max_tokens=3).usage_metadata["output_tokens"] <= 3
    with pytest.raises(ModelNotFoundError) as info:  # HF_HUB_OFFLINE=1 in the tests
        build_chat_model(parse_model_spec("local/HuggingFaceTB/no-such-model-here"), load_settings())
    assert "cannot load local model" in str(info.value) and "\n" not in str(info.value)


def test_all_torch_work_runs_on_the_one_torch_thread(local_chat_model):
    """Generation and embeddings share one thread: two threads running torch kernels halve
    the speed of both on this machine (see agent_app/torch_thread.py)."""
    import threading

    import torch

    from agent_app.embeddings import bundled_embeddings

    seen: set[str] = set()
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: seen.add(threading.current_thread().name)
    )
    try:
        embeddings = bundled_embeddings()
        embeddings.embed_query("a question")
        embeddings.embed_documents(["one passage", "another passage"])
        local_chat_model.invoke("Hi", temperature=0, max_tokens=2)
        list(local_chat_model.stream("Hi", temperature=0, max_tokens=2))
    finally:
        hook.remove()
    assert seen and all(name.startswith("torch-worker") for name in seen), seen


def test_int8_quantises_all_but_the_outlier_layers_and_keeps_quality(fp32_chat_model):
    import math

    import torch

    from agent_app.models.local_runtime import get_runtime
    from agent_app.torch_thread import run

    int8 = get_runtime("bundled", dtype="int8", threads=2)
    layer = int8.engine.model.model.layers[0]
    assert isinstance(layer.self_attn.q_proj, torch.ao.nn.quantized.dynamic.Linear)
    assert isinstance(layer.mlp.up_proj, torch.ao.nn.quantized.dynamic.Linear)
    assert isinstance(layer.mlp.down_proj, torch.nn.Linear) and isinstance(int8.engine.model.lm_head, torch.nn.Linear)
    text = (
        "The Moon is Earth's only natural satellite. It orbits at an average distance of 384,400 km, "
        "about 30 times the diameter of Earth. Its gravity causes the tides, and it always shows the "
        "same face to Earth because it is tidally locked. The first people walked on it in 1969."
    )

    def perplexity(runtime) -> float:
        ids = torch.tensor([runtime.tokenizer.encode(text)])
        with torch.inference_mode():
            return math.exp(runtime.engine.model(ids, labels=ids).loss.item())

    fp32, quantised = run(perplexity, fp32_chat_model.runtime), run(perplexity, int8)
    # bench/bench_int8.py: +18% on English; every layer in int8 (down_proj too) gave +240%.
    assert quantised < fp32 * 1.5, (fp32, quantised)


def test_the_prompt_is_read_on_all_threads_and_the_answer_written_on_the_timed_count(fp32_chat_model, monkeypatch):
    """ModelSettings.decode_threads "auto" (models.decode_threads, bench/bench_threads.py): the
    first tokens are timed on 2 threads and on 1, the faster count writes the rest."""
    import torch

    from agent_app.models.decode_threads import TRIAL_TOKENS, DecodeThreads
    from agent_app.models.params import GenerationParams
    from agent_app.torch_thread import run

    runtime = fp32_chat_model.runtime
    engine = runtime.engine
    assert engine.threads == 2 and engine.decode_threads.counts == (2, 1)
    monkeypatch.setattr(engine, "decode_threads", DecodeThreads((2, 1), torch.set_num_threads))  # undecided
    seen: list[int] = []
    prompt = runtime.render_chat([{"role": "user", "content": "Count from one to twenty."}])
    engine.reuse_prefix = False  # keep the prompt's own pass on 2 threads out of the comparison
    try:
        runtime.generate(
            prompt,
            GenerationParams(temperature=0, max_tokens=24, repetition_penalty=None),
            on_text=lambda _t: seen.append(torch.get_num_threads()),
        )
    finally:
        engine.reuse_prefix = True
    chosen = engine.decode_threads.chosen
    assert chosen in (1, 2) and 1 in seen and 2 in seen, seen
    assert seen[-3:] == [chosen] * 3  # after the trial, the faster count writes
    assert len(seen) > 2 * (TRIAL_TOKENS + 1)
    assert run(torch.get_num_threads) == 2  # back for the next prompt


def test_built_like_other_langchain_chat_models(local_chat_model):
    """`LocalChatModel(model=..., temperature=..., max_tokens=...)`, as ChatOpenAI is built."""
    model = LocalChatModel(model="bundled", temperature=0, max_tokens=6, stop=["\n\n"], seed=7, top_p=0.5)
    assert model.runtime is not None and model.params.temperature == 0 and model.params.max_tokens == 6
    assert (model.params.stop, model.params.seed, model.params.top_p) == (["\n\n"], 7, 0.5)
    assert model.params.repetition_penalty == 1.1  # the bundled model's own defaults stay
    first = model.invoke("Name three colours.")
    assert first.usage_metadata["output_tokens"] <= 6
    assert model.invoke("Name three colours.").content == first.content  # temperature 0: greedy
    with pytest.raises(TimeoutError, match="timeout"):
        LocalChatModel(model="bundled", max_tokens=200, timeout=0.05).invoke("Write a long story.")
    with pytest.raises(TimeoutError, match="timeout"):
        for _ in LocalChatModel(model="bundled", max_tokens=200, timeout=0.05).stream("Write a long story."):
            pass


def test_a_prompt_that_repeats_the_last_ones_start_reuses_its_cache_and_answers_the_same(local_chat_model):
    runtime = local_chat_model.runtime.engine
    system = SystemMessage("You answer in one short sentence. " * 20)
    first = [system, HumanMessage("What is the capital of Italy?")]
    second = [system, HumanMessage("What colour is the sky?")]
    try:
        runtime.reuse_prefix = False
        fresh = [local_chat_model.invoke(m, temperature=0, max_tokens=16).text for m in (first, second)]
        runtime.reuse_prefix = True
        reused = []
        for messages in (first, second):
            reused.append(local_chat_model.invoke(messages, temperature=0, max_tokens=16).text)
            shared = runtime.reused_tokens
        assert shared > 100  # the second prompt started from the first one's system prompt
    finally:
        runtime.reuse_prefix = True
    assert reused == fresh


@pytest.mark.parametrize(("dtype", "short_start_reused"), [("float32", False), ("q4", True)])
def test_a_long_prompt_that_shares_only_a_short_start_is_computed_whole_on_torch(
    dtype, short_start_reused, fp32_chat_model, local_chat_model
):
    """engines.TorchEngine.min_reused_share: after a cached prefix torch's attention needs an explicit
    mask, slower than the causal kernel over the whole prompt; q4's attention has no such cost."""
    model = fp32_chat_model if dtype == "float32" else local_chat_model
    runtime = model.runtime
    assert runtime.dtype == dtype
    system = SystemMessage("You answer briefly. " * 8)
    notes = "The council met on Tuesday to discuss the bridge and the mill. " * 30
    model.invoke([system, HumanMessage("Hello!")], temperature=0, max_tokens=1)
    model.invoke([system, HumanMessage("Summarise: " + notes)], temperature=0, max_tokens=1)
    assert (runtime.engine.reused_tokens > 40) is short_start_reused  # about 50 shared tokens of about 450
    model.invoke([system, HumanMessage("Summarise: " + notes + "Thanks.")], temperature=0, max_tokens=1)
    assert runtime.engine.reused_tokens > 400
