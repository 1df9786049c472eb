"""Turning file bytes into text: detect binary files and pick a sensible encoding.

Users often have Japanese files saved as Shift_JIS (cp932), and older Western files as
Latin-1, so strict UTF-8 is tried first, then cp932 when the result looks Japanese, then cp1252.
"""

from __future__ import annotations

import codecs
import re

_SNIFF_BYTES = 8192
# Hiragana, katakana, CJK ideographs, half-width katakana and CJK punctuation.
_JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff9f]")


class BinaryFileError(ValueError):
    """The bytes are not text."""


def looks_binary(data: bytes) -> bool:
    """True for bytes with NULs or many control characters near the start (not UTF-16 with a BOM)."""
    head = data[:_SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return bool(head) and controls / len(head) > 0.1


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode `data`, returning (text, encoding name); raises BinaryFileError for binary data."""
    if looks_binary(data):
        raise BinaryFileError("binary file, not text")
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError:
        text = None
    if text is not None and _mostly_japanese(text):
        return text, "cp932"
    # cp1252 is a superset of Latin-1 for printable text; undefined bytes become U+FFFD.
    return data.decode("cp1252", errors="replace"), "cp1252"


def _mostly_japanese(text: str) -> bool:
    # Latin-1 bytes sometimes happen to be valid cp932 too; real Japanese decodes to mostly
    # Japanese characters among the non-ASCII ones.
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return True
    japanese = sum(1 for c in non_ascii if _JAPANESE.match(c))
    return japanese / len(non_ascii) >= 0.7
