"""Making text typed or piped by the user safe to store, log and send.

Python decodes undecodable stdin and argv bytes as lone surrogates ("surrogateescape"), which
cannot be encoded again: SQLite, the JSON log and the tokenizer all fail on them. Every piece of
user text passes through `clean_input` at the edge (the chat's input line, `ask`'s question), so
the rest of the app only ever sees valid Unicode.
"""

from __future__ import annotations

NOT_UTF8_WARNING = "the input was not valid UTF-8: the undecodable bytes were replaced with �"


def clean_input(text: str) -> tuple[str, bool]:
    """`text` with lone surrogates replaced by U+FFFD, and whether any were replaced."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text, False
    # Bytes smuggled in by surrogateescape are decoded again (a valid sequence split across
    # reads survives); anything else that cannot be encoded becomes U+FFFD.
    if _only_escaped(text):
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text), True


def _only_escaped(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)
