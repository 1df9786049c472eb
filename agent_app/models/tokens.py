"""A local model's tokenizer and chat template, without transformers.

Why not transformers' tokenizer: importing it costs a one-shot `ask` about 1.3 s (and pulls in
torch), while the work is Hugging Face `tokenizers` (Rust) underneath anyway, and a chat template
is a jinja2 template. So the model folder's `tokenizer.json` is loaded with `tokenizers` and the
template rendered here, the way transformers renders it (a sandboxed environment with
`trim_blocks`, `lstrip_blocks`, loop controls, `tojson`, `raise_exception`, `strftime_now`):
tests/test_tokens.py holds both to transformers' own output.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from agent_app.errors import ModelError


class Tokenizer:
    """Text to token ids and back, and messages to a prompt."""

    def __init__(
        self,
        backend: Any,
        *,
        eos_token_ids: list[int],
        chat_template: str | None,
        special_tokens: dict[str, str] | None = None,
    ) -> None:
        self.backend = backend
        """The `tokenizers.Tokenizer`."""
        self.eos_token_ids = eos_token_ids
        """Tokens that end an answer (the first is the tokenizer's own end token)."""
        self.chat_template = chat_template
        self.special_tokens = special_tokens or {}
        """bos_token, eos_token, ... as the template may name them."""

    @classmethod
    def from_folder(cls, folder: Path) -> Tokenizer:
        """The tokenizer a transformers model folder holds (`tokenizer.json`, its config, the
        chat template, the generation config's end tokens)."""
        from tokenizers import Tokenizer as Backend

        config = _read_json(folder / "tokenizer_config.json")
        try:
            backend = Backend.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises plain Exceptions for a missing or bad file
            raise ModelError(
                f"cannot read the tokenizer in {folder}: {exc}",
                hint="delete that folder: the next start converts the model again",
            ) from None
        template_file = folder / "chat_template.jinja"
        template = template_file.read_text(encoding="utf-8") if template_file.is_file() else config.get("chat_template")
        special = {k: v for k, v in config.items() if k.endswith("_token") and isinstance(v, str)}
        ends = _ids(_read_json(folder / "generation_config.json").get("eos_token_id"))
        own = backend.token_to_id(special["eos_token"]) if "eos_token" in special else None
        if own is not None and own not in ends:
            ends.insert(0, own)
        return cls(backend, eos_token_ids=ends, chat_template=template, special_tokens=special)

    @classmethod
    def from_transformers(cls, tokenizer: Any, eos_token_id: int | list[int] | None) -> Tokenizer:
        """The same for a transformers tokenizer already loaded (any model on the torch engine)."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelError(
                f"{type(tokenizer).__name__} has no fast tokenizer (tokenizer.json)",
                hint="use a model whose folder has a tokenizer.json",
            )
        ends = _ids(eos_token_id)
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ends:
            ends.insert(0, tokenizer.eos_token_id)
        special = {k: v for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)}
        return cls(backend, eos_token_ids=ends, chat_template=tokenizer.chat_template, special_tokens=special)

    # -- ids -----------------------------------------------------------------------------
    @property
    def eos_token_id(self) -> int | None:
        return self.eos_token_ids[0] if self.eos_token_ids else None

    @property
    def vocab_size(self) -> int:
        return int(self.backend.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self.backend.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return str(self.backend.decode(ids, skip_special_tokens=skip_special_tokens))

    def count(self, text: str) -> int:
        return len(self.encode(text))

    # -- prompts -------------------------------------------------------------------------
    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Role/content dicts in the model's chat template, ready for the answer."""
        if not self.chat_template:
            # Models without a template (base models) get a plain transcript.
            lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
            return "\n".join(lines) + "\nAssistant:"
        return str(
            _compiled(self.chat_template).render(messages=messages, add_generation_prompt=True, **self.special_tokens)
        )

    @functools.cached_property
    def grammar_tokenizer(self) -> Any:
        """This tokenizer as llguidance sees it (models.constrained), built on first constrained
        use (about 0.35 s)."""
        import llguidance

        backend = self.backend.__class__.from_str(self.backend.to_str())  # a copy to change
        backend.no_padding()
        backend.no_truncation()
        return llguidance.LLTokenizer(backend.to_str(), eos_token=self.eos_token_ids or None)


def _read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def _ids(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


@functools.cache
def _compiled(template: str) -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ModelError(f"the model's chat template refused the messages: {message}")

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)
