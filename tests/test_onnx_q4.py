"""`--dtype q4` (agent_app/models/onnx_q4.py): the bundled GGUF's 4-bit weights on ONNX Runtime,
checked against the GGUF's own numbers and the fp32 model, then through the app's paths."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from agent_app.errors import ModelError  # noqa: E402  (after the checks)
from agent_app.models import onnx_q4  # noqa: E402
from agent_app.models.params import GenerationParams  # noqa: E402
from agent_app.models.weights import bundled_gguf_path, converted_model_dir  # noqa: E402
from agent_app.torch_thread import run  # noqa: E402

TEXT = "東京は日本の首都です。The capital of France is Paris, and the Seine runs through it."


@pytest.fixture(scope="module")
def q4_chat_model():
    from agent_app.config import load_settings
    from agent_app.models.factory import build_chat_model, parse_model_spec

    return build_chat_model(
        parse_model_spec("local"), load_settings(environ={}, overrides={"threads": 2, "dtype": "q4"})
    )


def _logits(runtime, ids: list[int]):
    """Every position's logits of `ids` computed whole (the runtime's cache dropped first)."""

    def forward():
        runtime.engine.forget()
        return torch.from_numpy(runtime.engine.forward(ids, keep=0))

    return run(forward)


def test_a_q4_product_gives_exactly_the_ggufs_weights():
    """One-hot inputs read the weights back: Q4_1's d*q + m through the offset trick, to float
    precision (a one-hot row quantises to int8 without loss, so accuracy_level 4 changes nothing)."""
    import gguf
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    reader = gguf.GGUFReader(str(bundled_gguf_path()))
    builder = onnx_q4._GraphBuilder(reader)
    name = "blk.3.attn_k.weight"
    builder.q4_linear("x", [name], "y")
    tensor = builder.tensors[name]
    rows, cols = int(tensor.shape[1]), int(tensor.shape[0])
    graph = helper.make_graph(
        builder.nodes,
        "one_layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cols, cols])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cols, rows])],
        builder.weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 10
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    read_back = session.run(None, {"x": np.eye(cols, dtype=np.float32)[None]})[0][0].T
    expected = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(rows, cols)
    assert np.abs(read_back - expected).max() < 1e-5


@pytest.mark.real_model
def test_the_q4_model_agrees_with_fp32(q4_chat_model, fp32_chat_model):
    ids = fp32_chat_model.runtime.tokenizer.encode(TEXT)
    assert q4_chat_model.runtime.tokenizer.encode(TEXT) == ids  # the same tokenizer, without transformers
    q4 = _logits(q4_chat_model.runtime, ids)
    fp32 = _logits(fp32_chat_model.runtime, ids)
    assert q4.shape == fp32.shape == (len(ids), 49152)

    def perplexity(logits):
        return math.exp(torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:])).item())

    # Only the activations' int8 rounding differs (measured: 96% same argmax, perplexity +/-1.5%
    # on longer English and Japanese texts, bench/bench_int8.py).
    assert (q4.argmax(-1) == fp32.argmax(-1)).float().mean().item() >= 0.85
    assert abs(perplexity(q4) / perplexity(fp32) - 1) < 0.05


@pytest.mark.real_model
def test_q4_starts_the_greedy_answer_as_fp32_does(q4_chat_model, fp32_chat_model):
    greedy = GenerationParams(temperature=0, max_tokens=12)
    prompt = fp32_chat_model.runtime.render_chat([{"role": "user", "content": "Name three colours of the rainbow."}])
    q4 = q4_chat_model.runtime.generate(prompt, greedy)
    assert q4.output_tokens == 12 and q4.finish_reason == "length"
    # Not the whole text: a near-tie between two tokens can go either way (measured: 4% of positions).
    assert q4.text.split()[:4] == fp32_chat_model.runtime.generate(prompt, greedy).text.split()[:4]


@pytest.mark.real_model
def test_a_longer_prompt_reuses_the_cache_and_matches_a_whole_pass(q4_chat_model):
    """The cache's buffers start at 256 tokens and double: the 80 reused tokens survive that."""
    runtime = q4_chat_model.runtime
    engine = runtime.engine
    ids = runtime.tokenizer.encode(TEXT * 12)
    assert 256 < len(ids) < 512
    run(engine.forget)
    run(engine.prefill, ids[:80])
    assert engine.buffers[0].shape[2] == 256
    last = run(engine.prefill, ids)
    assert engine.reused_tokens == 80 and engine.length == len(ids)
    assert engine.buffers[0].shape[2] == 512
    assert torch.equal(torch.from_numpy(last), _logits(runtime, ids)[-1])  # a pass over several tokens: exact


@pytest.mark.real_model
def test_the_same_prompt_twice_gives_the_same_greedy_answer(q4_chat_model):
    """The second time only the last 2 prompt tokens are computed (min_computed_tokens): one
    token alone goes through attention's other path and could tip a near-tie."""
    runtime = q4_chat_model.runtime
    prompt = runtime.render_chat([{"role": "user", "content": "Write a short poem about the sea."}])
    greedy = GenerationParams(temperature=0, max_tokens=24)
    first = runtime.generate(prompt, greedy).text
    assert runtime.generate(prompt, greedy).text == first
    assert runtime.engine.reused_tokens == runtime.count_tokens(prompt) - 2


@pytest.mark.real_model
def test_a_forced_tool_call_on_q4_is_valid(q4_chat_model):
    from tests.support.sample_tools import add

    reply = q4_chat_model.bind_tools([add], tool_choice="add").invoke("What is 12 plus 30?", temperature=0)
    assert len(reply.tool_calls) == 1 and reply.tool_calls[0]["name"] == "add"
    assert all(isinstance(v, int) for v in reply.tool_calls[0]["args"].values())


@pytest.mark.real_model
def test_candidates_scored_in_turn_equal_side_by_side(fp32_chat_model, q4_chat_model):
    """q4 has no custom attention masks, so its candidates are scored one pass each (the
    engines' base `branch_logits`): on fp32, where both ways run, they agree; on q4 the
    likeliest candidate is fp32's."""
    from agent_app.models.engines import Engine

    runtime = fp32_chat_model.runtime
    engine = runtime.engine
    prompt = runtime.render_chat([{"role": "user", "content": "What is 12% of 250?"}]) + "Action:"
    ids = runtime.tokenizer.encode(prompt)
    branches = {
        i: runtime.tokenizer.encode(prompt + c)[len(ids) :]
        for i, c in enumerate([" calculator\n", " web_search\n", " weather\n"])
    }

    def both():
        engine.prefill(ids)
        return engine.branch_logits(branches), Engine.branch_logits(engine, branches), engine.length

    together, in_turn, kept = run(both)
    assert kept == len(ids)  # the candidates' tokens were cut off again
    for i in branches:
        assert together[i].shape == in_turn[i].shape == (len(branches[i]), 49152)
        assert abs(together[i] - in_turn[i]).max() < 1e-3
    candidates = [" calculator\n", " web_search\n", " weather\n"]
    fp32 = runtime.score(prompt, candidates)
    q4 = q4_chat_model.runtime.score(prompt, candidates)
    assert q4.index(max(q4)) == fp32.index(max(fp32))


@pytest.mark.real_model
def test_the_q4_cache_is_one_folder_under_half_the_fp32_copy(q4_chat_model, fp32_chat_model):
    gguf = bundled_gguf_path()
    folder = onnx_q4.onnx_model_dir(gguf)

    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    assert (folder / onnx_q4.GRAPH_FILE).is_file() and (folder / "tokenizer.json").is_file()
    assert size(folder) < 0.5 * size(converted_model_dir(gguf))
    assert not list(folder.parent.glob("*.tmp-*"))
    assert onnx_q4.ensure_onnx(gguf) == folder  # made once


def test_q4_refuses_other_sources_with_what_to_do_instead():
    from agent_app.models.local_runtime import LocalRuntime

    with pytest.raises(ModelError, match="bundled model's GGUF only") as info:
        run(LocalRuntime, "/some/model/folder", dtype="q4")
    assert "--model llamacpp/PATH.gguf" in str(info.value.hint)


def test_a_gguf_of_another_format_is_refused_naming_the_tensor(tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "f32.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    for key, value in {
        "block_count": 1,
        "embedding_length": 64,
        "feed_forward_length": 128,
        "context_length": 32,
    }.items():
        writer.add_uint32(f"llama.{key}", value)
    writer.add_uint32("llama.attention.head_count", 1)
    writer.add_uint32("llama.attention.head_count_kv", 1)
    writer.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_tensor("token_embd.weight", np.zeros((8, 64), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelError, match=r"reads Q8_0 weights, but token_embd\.weight is F32"):
        onnx_q4.build_graph(path)


@pytest.mark.real_model
def test_q4_reads_on_all_threads_and_writes_on_the_timed_count(q4_chat_model, monkeypatch):
    """The prompt's pass runs on 2 ONNX Runtime threads; the answer's first tokens are timed on
    2 and on 1 (models.decode_threads, as on torch) and the faster writes on."""
    from agent_app.models.decode_threads import DecodeThreads

    runtime = q4_chat_model.runtime
    engine = runtime.engine
    assert {n: s.get_session_options().intra_op_num_threads for n, s in engine.sessions.items()} == {2: 2, 1: 1}
    assert engine.session is engine.sessions[2]
    monkeypatch.setattr(engine, "decode_threads", DecodeThreads((2, 1), engine.write_on))  # undecided
    used: list[int] = []
    for count, session in engine.sessions.items():
        monkeypatch.setattr(
            session,
            "run_with_iobinding",
            lambda b, n=count, s=session: used.append(n) or type(s).run_with_iobinding(s, b),
        )
    prompt = runtime.render_chat([{"role": "user", "content": "Count from one to twenty."}])
    runtime.generate(prompt, GenerationParams(temperature=0, max_tokens=16, repetition_penalty=None))
    chosen = engine.decode_threads.chosen
    assert used[0] == 2 and 1 in used[1:] and 2 in used[1:]  # the prompt, then both timed
    assert used[-3:] == [chosen] * 3
    assert engine.decode_session is engine.session  # back on all threads for the next prompt


def test_a_one_shot_answer_on_q4_imports_neither_torch_nor_transformers():
    """The bundled model's default path is ONNX Runtime, `tokenizers` and the decode loop in
    numpy (models.decoding): importing torch and transformers cost a one-shot `ask` about 4.6 s.
    A tool call held to a grammar needs neither either."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from agent_app.config import load_settings\n"
        "from agent_app.models.factory import build_chat_model, parse_model_spec\n"
        "from tests.support.sample_tools import add\n"
        "model = build_chat_model(parse_model_spec('local'), load_settings(environ={}, overrides={'dtype': 'q4'}))\n"
        "answer = model.invoke('Say hi.', max_tokens=4)\n"
        "call = model.bind_tools([add], tool_choice='add').invoke('What is 12 plus 30?', temperature=0)\n"
        "loaded = [name in sys.modules for name in ('torch', 'transformers')]\n"
        "print(bool(answer.content), call.tool_calls[0]['name'], *loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "add", "False", "False"]
