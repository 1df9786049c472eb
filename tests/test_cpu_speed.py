"""agent_app/models/cpu_speed.py: oneDNN linear layers and glibc keeping freed memory."""

from __future__ import annotations

import resource
import sys

import pytest

torch = pytest.importorskip("torch")

from agent_app.models import cpu_speed  # noqa: E402  (after the torch check)

needs_onednn = pytest.mark.skipif(not cpu_speed.onednn_linear_works(), reason="this torch build has no oneDNN")


@needs_onednn
def test_linear_layers_move_to_onednn_with_the_same_parameters_and_results():
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 40, bias=False)
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), head)
    embed = torch.nn.Embedding(40, 16)
    head.weight = embed.weight  # tied, as SmolLM2's output head and embeddings
    x = torch.randn(2, 7, 16)
    with torch.inference_mode():
        expected = model(x)

    assert cpu_speed.use_onednn_linears(model) == 3
    assert all(type(m) is cpu_speed.OneDnnLinear for m in (model[0], model[2], model[3]))
    assert model[3].weight is embed.weight and model[3].bias is None
    with torch.inference_mode():
        assert torch.allclose(model(x), expected, atol=1e-5)
    assert cpu_speed.use_onednn_linears(model) == 0  # already moved


@needs_onednn
def test_the_local_model_runs_on_onednn_and_agrees_with_plain_linear(fp32_chat_model, monkeypatch):
    from agent_app.torch_thread import run

    runtime = fp32_chat_model.runtime
    model = runtime.engine.model
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(type(m) is cpu_speed.OneDnnLinear for m in linears)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    ids = torch.tensor([runtime.tokenizer.encode("東京は日本の首都です。The capital of France is")])

    def logits():
        with torch.inference_mode():
            return model(ids).logits[0]

    fast = run(logits)
    monkeypatch.setattr(cpu_speed.OneDnnLinear, "forward", torch.nn.Linear.forward)
    plain = run(logits)
    assert (fast - plain).abs().max().item() < 1e-3
    assert torch.equal(fast.argmax(-1), plain.argmax(-1))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_large_block_is_reused_instead_of_faulted_in_again():
    """Without keep_freed_memory, glibc maps a block over 32 MB afresh every time: 12,288 page
    faults to write 48 MB (measured). Model activations are smaller, but the same thresholds
    made a 1,526-token prompt fault 220,000 times a pass instead of 20,000 (cpu_speed)."""
    import ctypes

    assert cpu_speed.keep_freed_memory()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 48 << 20
    faults = []
    for _ in range(2):
        block = libc.malloc(size)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        ctypes.memset(block, 1, size)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        libc.free(block)
    assert faults[1] < (size >> 12) // 10, faults  # a fresh mapping faults once per 4 KB page
