"""`--dtype q4`: the bundled GGUF's own 4-bit weights, run by ONNX Runtime under transformers.

Why another engine under the same runtime: with fp32 or int8 weights torch reads 200-420 MB per
token and decodes at 0.2-0.3x llama.cpp here, and torch 2.13 has no fast 4-bit kernel for an
AVX2 CPU. ONNX Runtime has one (`MatMulNBits`, MLAS). So the GGUF's Q4_1 blocks are written,
unchanged, into an ONNX graph once (`ensure_onnx`, about 20 s with the tokenizer; 116 MB in the
cache against 540 MB for the fp32 copy), and `OnnxCausalLM` runs that graph as the forward pass
of a transformers model: `generate`, its logits processors and stopping criteria, the prefix
cache, grammar-constrained decoding and the agent's own writer all work as on the torch weights.
bench/bench_generation.py: 90.5 tokens/s (0.88x the llama.cpp server on the same GGUF) against
21.4 for fp32; the first token of a 1,500-token prompt in 2.6 s.

What it does not do: custom 4D attention masks (one causal sequence; agent.scoring scores
candidates one pass each), and a pass over one token rounds differently from a pass over
several (ONNX Runtime's attention has two paths), so the agent does not guess tokens ahead and
a reused prompt still computes its last 2 tokens (LocalRuntime.min_computed_tokens).

How the weights stay the GGUF's: a Q4_1 block is w = d*q + m (q in 0..15, one d and m per 32
weights). MLAS's fast kernels take integer zero points only, and rounding -m/d to an integer
raised perplexity by 25% (33.3 to 41.5, English). Instead w = d*(q - 8) + (m + 8d): the first
term is `MatMulNBits` with its default zero point, the second is the block sums of the input
times a small matrix of per-block offsets (N x K/32), exact in fp32. `accuracy_level=4` lets
MLAS quantise the activations to int8 per block of 32, the arithmetic llama.cpp itself uses for
this format. Measured (bench/bench_int8.py): perplexity within 1.5% of fp32.

The graph is SmolLM2's (Llama) written with ONNX Runtime's fused operators, as its
onnxruntime-genai model builder writes it: `SkipSimplifiedLayerNormalization` (RMSNorm plus
the residual), `GroupQueryAttention` (rotary embedding and the key/value cache; rotary in the
GGUF's interleaved order, so the Q/K rows need no permuting back), `MatMulNBits` with Q, K and V
in one product and gate and up in another, the output head on the GGUF's 8-bit embedding table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent_app import paths
from agent_app.errors import ModelError
from agent_app.models.conversion import converted_folder
from agent_app.models.decode_threads import DecodeThreads
from agent_app.models.engines import Engine

Progress = Callable[[str], None]

GRAPH_FILE = "model.onnx"
# The one-time conversion, start of LocalRuntime to loaded, on an idle 2-core AVX2 machine: 20 s
# (6.3 s imports, 4.4 s tokenizer, 3.1 s configuration, 4.8 s graph, 1.4 s loading). A first
# start after boot, with nothing in the page cache, measured 49 s.
CONVERSION_SECONDS = 20
BLOCK = 32  # weights per GGUF Q4_x / Q8_0 block
_Q4_1_BYTES = 20  # fp16 d, fp16 m, 16 bytes of nibbles
_Q8_0_BYTES = 34  # fp16 d, 32 int8


def onnx_model_dir(gguf: Path) -> Path:
    """Cache folder of the ONNX graph made from `gguf` (named by file size to notice updates)."""
    return paths.cache_dir() / "models" / f"{gguf.stem}-{gguf.stat().st_size}-onnx-q4"


def ensure_onnx(gguf: Path, progress: Progress | None = None) -> Path:
    """Write the ONNX graph, tokenizer and config of `gguf` once; return the folder.

    Written under a temporary name and renamed into place, like the fp32 conversion."""
    target = onnx_model_dir(gguf)
    if (target / GRAPH_FILE).is_file():
        return target
    say = progress or (lambda _msg: None)
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    with converted_folder(target) as tmp:
        say("converting 1/3: reading the tokenizer")
        AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(str(tmp))
        say("converting 2/3: reading the configuration")
        config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        config.save_pretrained(str(tmp))
        GenerationConfig.from_model_config(config).save_pretrained(str(tmp))
        say("converting 3/3: writing the 4-bit graph")
        _save(build_graph(gguf), tmp / GRAPH_FILE)
    say(f"Converted model cached in {target}")
    return target


def _save(model: Any, path: Path) -> None:
    import onnx

    # Weights in one file beside the graph: a protobuf holds at most 2 GB, and the graph stays readable.
    onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data")


class _GraphBuilder:
    """The nodes and weights of one graph, and the helpers that add the model's parts."""

    def __init__(self, reader: Any) -> None:
        self.tensors = {t.name: t for t in reader.tensors}
        self.nodes: list[Any] = []
        self.weights: list[Any] = []

    def weight(self, name: str, array: Any) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        domain = "" if op in _STANDARD_OPS else "com.microsoft"
        self.nodes.append(helper.make_node(op, inputs, outputs, domain=domain, **attrs))
        return outputs[0]

    def blocks(self, name: str, size: int) -> Any:
        tensor = self.tensors[name]
        kind = tensor.tensor_type.name
        expected = {_Q4_1_BYTES: "Q4_1", _Q8_0_BYTES: "Q8_0"}[size]
        if kind != expected:
            raise ModelError(
                f"--dtype q4 reads {expected} weights, but {name} is {kind}",
                hint="run this GGUF with --model llamacpp/PATH.gguf",
            )
        return tensor.data.reshape(tensor.data.shape[0], -1, size)

    def q4_linear(self, x: str, names: list[str], out: str) -> str:
        """x times the Q4_1 matrices `names` (their rows stacked): see the module docstring."""

        blocks = np.concatenate([self.blocks(n, _Q4_1_BYTES) for n in names], axis=0)
        rows, n_blocks, _ = blocks.shape
        d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        m = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
        nibbles = blocks[..., 4:]  # weight j in the low nibble of byte j, weight j+16 in the high one
        q = np.concatenate([nibbles & 0xF, nibbles >> 4], axis=-1)
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)  # MatMulNBits: pairs in order
        main = self.node(
            "MatMulNBits",
            [x, self.weight(f"{out}.q", packed), self.weight(f"{out}.d", d)],
            [f"{out}.main"],
            K=n_blocks * BLOCK,
            N=rows,
            bits=4,
            block_size=BLOCK,
            accuracy_level=4,
        )
        by_block = self.node(
            "Reshape", [x, self.weight(f"{out}.shape", np.array([0, 0, n_blocks, BLOCK]))], [f"{out}.b"]
        )
        sums = self.node("ReduceSum", [by_block, self.weight(f"{out}.axis", np.array([-1]))], [f"{out}.s"], keepdims=0)
        offsets = self.node("MatMul", [sums, self.weight(f"{out}.m", (m + 8 * d).T)], [f"{out}.o"])
        return self.node("Add", [main, offsets], [out])

    def norm(self, name: str) -> str:

        return self.weight(name, np.asarray(self.tensors[name].data, np.float32))


_STANDARD_OPS = {
    "SimplifiedLayerNormalization",
    "Gather",
    "Reshape",
    "ReduceSum",
    "MatMul",
    "Add",
    "Mul",
    "Sigmoid",
    "Split",
    "Slice",
}


def build_graph(gguf: Path) -> Any:
    """The ONNX graph of a Llama-architecture GGUF with Q4_1 layers and a Q8_0 embedding table
    (the bundled SmolLM2). Inputs: `input_ids` [1, S], `seqlens_k` [1] and `total_len` (the
    tokens in the cache after this pass, minus one, and that count), `keep` [1] (minus the
    positions to return logits for; 0 for all), `past.{i}.key|value`; outputs `logits` and
    `present.{i}.key|value` [1, kv heads, T, head size]."""
    import gguf as gguf_lib
    from onnx import TensorProto, helper

    reader = gguf_lib.GGUFReader(str(gguf))

    def field(key: str) -> Any:
        return reader.get_field(key).contents()  # type: ignore[union-attr]  # a missing key: a bug

    if field("general.architecture") != "llama":
        raise ModelError("--dtype q4 runs Llama-architecture GGUF files", hint="use --model llamacpp/PATH.gguf")
    layers, hidden = int(field("llama.block_count")), int(field("llama.embedding_length"))
    heads, kv_heads = int(field("llama.attention.head_count")), int(field("llama.attention.head_count_kv"))
    ffn, eps = int(field("llama.feed_forward_length")), float(field("llama.attention.layer_norm_rms_epsilon"))
    theta, context = float(field("llama.rope.freq_base")), int(field("llama.context_length"))
    head_dim = hidden // heads
    g = _GraphBuilder(reader)
    if "output.weight" in g.tensors:
        raise ModelError(
            "--dtype q4 expects the output head tied to the embeddings", hint="use --model llamacpp/PATH.gguf"
        )

    # The 8-bit embedding table serves both ends: rows gathered at the input, the output head.
    table = g.blocks("token_embd.weight", _Q8_0_BYTES)
    vocab = table.shape[0]
    scales = table[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    codes = (table[..., 2:].copy().view(np.int8).astype(np.int16) + 128).astype(np.uint8)  # zero point 128
    g.weight("embed.q", codes)
    g.node(
        "GatherBlockQuantized",
        ["embed.q", "input_ids", g.weight("embed.d", scales[..., None])],
        ["embed.rows"],
        bits=8,
        block_size=BLOCK,
        gather_axis=0,
        quantize_axis=2,
    )
    h = g.node("Reshape", ["embed.rows", g.weight("embed.shape", np.array([1, -1, hidden]))], ["h.0"])
    inv_freq = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(context, dtype=np.float64)[:, None] * inv_freq[None]
    g.weight("cos", np.cos(angles).astype(np.float32))
    g.weight("sin", np.sin(angles).astype(np.float32))

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "S"]),
        helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [1]),
        helper.make_tensor_value_info("total_len", TensorProto.INT32, []),
        helper.make_tensor_value_info("keep", TensorProto.INT64, [1]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "K", vocab])]
    x = g.node("SimplifiedLayerNormalization", [h, g.norm("blk.0.attn_norm.weight")], ["x.0"], epsilon=eps, axis=-1)
    for i in range(layers):
        for kind in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(f"past.{i}.{kind}", TensorProto.FLOAT, [1, kv_heads, "P", head_dim])
            )
            outputs.append(
                helper.make_tensor_value_info(f"present.{i}.{kind}", TensorProto.FLOAT, [1, kv_heads, "T", head_dim])
            )
        blk = f"blk.{i}"
        qkv = g.q4_linear(x, [f"{blk}.attn_q.weight", f"{blk}.attn_k.weight", f"{blk}.attn_v.weight"], f"qkv.{i}")
        attn = g.node(
            "GroupQueryAttention",
            [qkv, "", "", f"past.{i}.key", f"past.{i}.value", "seqlens_k", "total_len", "cos", "sin"],
            [f"attn.{i}", f"present.{i}.key", f"present.{i}.value"],
            num_heads=heads,
            kv_num_heads=kv_heads,
            do_rotary=1,
            rotary_interleaved=1,  # the GGUF's Q/K rows are in llama.cpp's order
        )
        out = g.q4_linear(attn, [f"{blk}.attn_output.weight"], f"o.{i}")
        g.node(
            "SkipSimplifiedLayerNormalization",  # RMSNorm of h + out, and h + out itself
            [out, h, g.norm(f"{blk}.ffn_norm.weight")],
            [f"x2.{i}", "", "", f"h2.{i}"],
            epsilon=eps,
        )
        x, h = f"x2.{i}", f"h2.{i}"
        gate_up = g.q4_linear(x, [f"{blk}.ffn_gate.weight", f"{blk}.ffn_up.weight"], f"gu.{i}")
        g.node("Split", [gate_up, g.weight(f"split.{i}", np.array([ffn, ffn]))], [f"gate.{i}", f"up.{i}"], axis=-1)
        g.node("Sigmoid", [f"gate.{i}"], [f"sig.{i}"])
        g.node("Mul", [f"gate.{i}", f"sig.{i}"], [f"silu.{i}"])
        g.node("Mul", [f"silu.{i}", f"up.{i}"], [f"act.{i}"])
        down = g.q4_linear(f"act.{i}", [f"{blk}.ffn_down.weight"], f"down.{i}")
        gamma = f"blk.{i + 1}.attn_norm.weight" if i + 1 < layers else "output_norm.weight"
        g.node(
            "SkipSimplifiedLayerNormalization",
            [down, h, g.norm(gamma)],
            [f"x.{i + 1}", "", "", f"h.{i + 1}"],
            epsilon=eps,
        )
        x, h = f"x.{i + 1}", f"h.{i + 1}"
    # Logits for the last `keep` positions only: a prompt needs one row, not a vocabulary per token.
    last = g.node(
        "Slice", [x, "keep", g.weight("end", np.array([2**62])), g.weight("seq_axis", np.array([1]))], ["last"]
    )
    g.node(
        "MatMulNBits",
        [last, "embed.q", g.weight("head.d", scales)],
        ["logits"],
        K=hidden,
        N=vocab,
        bits=8,
        block_size=BLOCK,
        accuracy_level=4,
    )
    graph = helper.make_graph(g.nodes, "gguf_q4", inputs, outputs, g.weights)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 10
    return model


class OnnxEngine(Engine):
    """The graph in a converted folder, run by ONNX Runtime: one session per thread count (a
    session fixes its threads); passes over several tokens (a prompt) run on `threads`, passes
    over one (writing) on the count `write_on` chose.

    Why two counts: on the 2-core machine 2 threads wrote 80-102 tokens/s and 1 thread 81-83
    with the other core idle, but with it busy 2 threads fell to 42 while 1 kept 74-75
    (bench/bench_threads.py --dtype q4), so the runtime times both (models.decode_threads). The
    second session costs about 170 MB (its own packed weights).

    The key/value cache is as ONNX Runtime's GroupQueryAttention shares it between passes: one
    buffer per layer and kind, [1, kv heads, capacity, head size], read as the past and written
    in place as the present. Without that every pass returns a copy of the whole cache: 47
    against 72 tokens/s at 1,500 tokens of context (measured). Cropping only moves the length
    back; the next pass overwrites what lies beyond it."""

    # A pass over one token rounds differently from a pass over several (ONNX Runtime's
    # attention has two paths: up to about 1 in the logits, measured): the decode loop does not
    # guess tokens ahead, and a reused prompt still computes its last 2 tokens, so it answers as
    # it would from scratch. There is no slower path after a prefix: 51 reused tokens of 1,359
    # read in 2.40-2.43 s against 2.50-2.60 s whole (alternated, 2 rounds).
    exact_batches = False
    min_computed_tokens = 2

    def __init__(self, folder: Path, threads: int, counts: tuple[int, ...]) -> None:
        import json

        import onnxruntime as ort

        super().__init__(threads, DecodeThreads(counts, self.write_on))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.context_window = int(config.get("max_position_embeddings") or 2048)
        self.kv_heads = int(config["num_key_value_heads"])
        self.head_dim = int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])
        self.names = [f"{i}.{kind}" for i in range(int(config["num_hidden_layers"])) for kind in ("key", "value")]

        def session(count: int) -> Any:
            options = ort.SessionOptions()
            options.intra_op_num_threads = count
            options.inter_op_num_threads = 1
            return ort.InferenceSession(str(folder / GRAPH_FILE), options, providers=["CPUExecutionProvider"])

        self.sessions = {count: session(count) for count in dict.fromkeys((threads, *counts))}
        self.session = self.sessions[threads]
        self.decode_session = self.session
        self._length = 0
        self.buffers: list[Any] = []
        self.ort_values: list[Any] = []

    @property
    def length(self) -> int:
        return self._length

    def crop(self, length: int) -> None:
        self._length = max(0, min(self._length, length))

    def forget(self) -> None:
        """Drop the cache and its buffers (they only grow while kept: up to about 95 MB at
        2,048 tokens)."""
        super().forget()
        self.buffers, self.ort_values = [], []

    def write_on(self, count: int) -> None:
        self.decode_session = self.sessions[count]

    def read_on_all(self) -> None:
        self.decode_session = self.session

    def _reserve(self, total: int) -> None:
        """Room for `total` tokens: the buffers double as needed, keeping what they hold."""
        import onnxruntime as ort

        capacity = self.buffers[0].shape[2] if self.buffers else 0
        if total <= capacity:
            return
        size = max(256, capacity)
        while size < total:
            size *= 2
        grown = [np.zeros((1, self.kv_heads, size, self.head_dim), np.float32) for _ in self.names]
        for new, old in zip(grown, self.buffers, strict=False):
            new[:, :, : self._length] = old[:, :, : self._length]
        self.buffers = grown
        self.ort_values = [ort.OrtValue.ortvalue_from_numpy(b) for b in grown]  # shares their memory

    def forward(self, ids: list[int], keep: int = 1) -> Any:
        total = self._length + len(ids)
        self._reserve(total)
        session = self.decode_session if len(ids) == 1 else self.session
        binding = session.io_binding()
        binding.bind_cpu_input("input_ids", np.array([ids], np.int64))
        binding.bind_cpu_input("seqlens_k", np.array([total - 1], np.int32))
        binding.bind_cpu_input("total_len", np.array(total, np.int32))
        binding.bind_cpu_input("keep", np.array([-keep]))
        binding.bind_output("logits")  # first: outputs come back in the order they were bound
        for name, value in zip(self.names, self.ort_values, strict=True):
            binding.bind_ortvalue_input(f"past.{name}", value)
            binding.bind_ortvalue_output(f"present.{name}", value)  # written in place
        session.run_with_iobinding(binding)
        self._length = total
        return binding.get_outputs()[0].numpy()[0]
