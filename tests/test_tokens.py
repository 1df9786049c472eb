"""models.tokens: the bundled model's tokenizer and chat template without transformers, held to
what transformers itself gives for the same folder."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.real_model]

TEXTS = [
    "東京は日本の首都です。The capital of France is Paris.",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "emoji 🌍 and accents: café, naïve; code: `x = y ** 2`",
    "<|im_start|>user\nspecial tokens in text<|im_end|>",
]
MESSAGES = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "こんにちは"}],
    [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "tool", "content": "calculator: 4"},
        {"role": "user", "content": "Thanks."},
    ],
]


@pytest.fixture(scope="module")
def folder():
    from agent_app.models import onnx_q4
    from agent_app.models.weights import bundled_gguf_path

    return onnx_q4.ensure_onnx(bundled_gguf_path())


def test_ids_text_and_prompts_are_transformers_own(folder):
    from transformers import AutoTokenizer

    from agent_app.models.tokens import Tokenizer

    ours, theirs = Tokenizer.from_folder(folder), AutoTokenizer.from_pretrained(str(folder))
    for text in TEXTS:
        ids = theirs(text, add_special_tokens=False)["input_ids"]
        assert ours.encode(text) == ids
        assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=True)
        assert ours.decode(ids, skip_special_tokens=False) == theirs.decode(ids)
    for messages in MESSAGES:
        assert ours.render_chat(messages) == theirs.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    assert ours.eos_token_ids == [theirs.eos_token_id] and ours.vocab_size == len(theirs)


def test_a_damaged_tokenizer_file_says_how_to_recover(folder, tmp_path):
    import shutil

    from agent_app.errors import ModelError
    from agent_app.models.tokens import Tokenizer

    for name in ("tokenizer_config.json", "generation_config.json"):
        shutil.copy(folder / name, tmp_path / name)
    (tmp_path / "tokenizer.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot read the tokenizer") as info:
        Tokenizer.from_folder(tmp_path)
    assert "converts the model again" in str(info.value.hint)
