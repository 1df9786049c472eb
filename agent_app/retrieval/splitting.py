"""Cutting sections into chunks with LangChain's RecursiveCharacterTextSplitter.

Chunks are measured in the embedding model's own tokens (`count`), not characters: a Japanese
character is about one token and an English word about 1.3, so a character budget either
truncated Japanese chunks before embedding (89 of 142 chunks of the seed articles, with
MiniLM's 256-token limit) or left English ones short. `split_sections` keeps every chunk's
embedded text (heading path included) within the model's limit.

The separators try paragraph, line and sentence breaks before words and characters, including
Japanese sentence and clause ends (。！？、) so that text without spaces still splits at natural
points. Markdown uses LangChain's Markdown separators (headings, code fences, rules) first, and
each chunk carries the heading path it sits under.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_text_splitters import TextSplitter

    from agent_app.retrieval.loaders import Section

# Lookbehinds keep the punctuation at the end of its sentence rather than starting the next chunk.
_SENTENCE_SEPARATORS = [
    r"(?<=[。！？])",
    r"(?<=[.!?])\s+",
    r"(?<=[、，；])",
    r"(?<=[,;:])\s+",
]
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)


@dataclass
class Chunk:
    """A piece of text to embed, with its citation metadata."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    headings: str = ""  # "Guide > Install" for Markdown, included in what is embedded

    @property
    def embedding_text(self) -> str:
        """What the vector and keyword indexes see: the heading path gives context to short chunks."""
        if self.headings and not self.text.lstrip().startswith("#"):
            return f"{self.headings}\n{self.text}"
        return self.text


def split_sections(
    sections: list[Section],
    chunk_size: int,
    chunk_overlap: int,
    count: Callable[[str], int] = len,
    limit: int | None = None,
) -> list[Chunk]:
    """Split every section into chunks of at most `chunk_size` units of `count` (characters by
    default; the embedding model's tokens at ingest), and at most `limit` (what the model reads)
    including the heading path; metadata holds page or start_line/end_line, and chunk_index."""
    if limit is not None:
        chunk_size = min(chunk_size, limit - _HEADING_RESERVE)
        chunk_overlap = min(chunk_overlap, chunk_size // 4)
    chunks: list[Chunk] = []
    for section in sections:
        splitter = _splitter(section.kind, chunk_size, chunk_overlap, count)
        headings = _heading_index(section.text) if section.kind == "markdown" else []
        start = -1
        for text in splitter.split_text(section.text):
            # Where the chunk starts: the first place after the previous chunk's start. (LangChain's
            # add_start_index subtracts chunk_overlap as characters; with an overlap counted in
            # tokens its search started past the chunk, found nothing and gave -1: line 1.)
            found = section.text.find(text, start + 1)
            start = found if found >= 0 else max(start, 0)
            metadata: dict[str, Any] = {}
            if section.page is not None:
                metadata["page"] = section.page
            lines = section.lines_of(start, start + len(text))
            if lines:
                metadata["start_line"], metadata["end_line"] = lines
            path = _heading_path(headings, start)
            if path:
                metadata["headings"] = path
            chunk = Chunk(text, metadata, path)
            if limit is not None and path and count(chunk.embedding_text) > limit:
                chunk.headings = ""  # a very long heading path: embed the text alone (kept in metadata)
            chunks.append(chunk)
    for number, chunk in enumerate(chunks):
        chunk.metadata["chunk_index"] = number
    return chunks


# Tokens kept free for the heading path that is embedded with each chunk.
_HEADING_RESERVE = 32


@lru_cache(maxsize=8)
def _splitter(kind: str, chunk_size: int, chunk_overlap: int, count: Callable[[str], int] = len) -> TextSplitter:
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    if kind == "markdown":
        base = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN)
        # Markdown's list is regex-ready and ends with ["\n", " ", ""]: put sentences before words.
        at = base.index(" ")
        separators = [*base[:at], *_SENTENCE_SEPARATORS, *base[at:]]
    else:
        separators = ["\n\n", "\n", *_SENTENCE_SEPARATORS, " ", ""]
    return RecursiveCharacterTextSplitter(
        separators=separators,
        is_separator_regex=True,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        length_function=count,
    )


def _heading_index(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of every ATX heading outside fenced code blocks."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    out = []
    for match in _HEADING.finditer(text):
        inside_code = sum(1 for f in fences if f < match.start()) % 2 == 1
        if not inside_code:
            out.append((match.start(), len(match.group(1)), match.group(2).strip()))
    return out


def _heading_path(headings: list[tuple[int, int, str]], offset: int) -> str:
    stack: list[tuple[int, str]] = []
    for start, level, title in headings:
        if start > offset:
            break
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
    return " > ".join(title for _, title in stack)
