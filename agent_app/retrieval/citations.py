"""Turning retrieved chunks into prompt context and citable sources.

`format_context` numbers each chunk ([1], [2], ...) and wraps its text in <data> tags so the
prompt can tell the model that the blocks are material to quote, never instructions to follow.
`Source` is the same numbering as a model for `--json` output and the `/sources` command.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from langchain_core.documents import Document

NO_CONTEXT = "(no relevant passages were found in the documents)"
_DATA_TAG = re.compile(r"<(/?)(data)\b", re.IGNORECASE)


class Source(BaseModel):
    """Where one cited passage came from."""

    index: int  # the citation number: [index]
    path: str
    page: int | None = None
    start_line: int | None = None
    end_line: int | None = None
    snippet: str
    similarity: float | None = None

    @property
    def location(self) -> str:
        """ "page 3", "lines 10-24", "line 7" or ""."""
        if self.page is not None:
            return f"page {self.page}"
        if self.start_line is not None:
            if self.end_line in (None, self.start_line):
                return f"line {self.start_line}"
            return f"lines {self.start_line}-{self.end_line}"
        return ""

    @property
    def label(self) -> str:
        """ "/docs/guide.md, lines 10-24"."""
        return f"{self.path}, {self.location}" if self.location else self.path

    @classmethod
    def from_document(cls, doc: Document, index: int, snippet_chars: int = 240) -> Source:
        meta = doc.metadata
        text = " ".join(doc.page_content.split())
        snippet = text if len(text) <= snippet_chars else text[: snippet_chars - 1].rstrip() + "…"
        return cls(
            index=index,
            path=str(meta.get("source", "?")),
            page=meta.get("page"),
            start_line=meta.get("start_line"),
            end_line=meta.get("end_line"),
            snippet=snippet,
            similarity=meta.get("similarity"),
        )


def sources_from_documents(docs: Sequence[Document]) -> list[Source]:
    """Sources numbered like `format_context` numbers the same documents."""
    return [Source.from_document(doc, number) for number, doc in enumerate(docs, start=1)]


def format_context(docs: Sequence[Document], *, empty: str = NO_CONTEXT) -> str:
    """Numbered, delimited context blocks for a prompt:

    [1] source: /docs/guide.md, lines 10-24
    <data>
    ...chunk text...
    </data>
    """
    if not docs:
        return empty
    blocks = []
    for source, doc in zip(sources_from_documents(docs), docs, strict=True):
        # A document must not be able to close its own block and talk to the model directly.
        text = _DATA_TAG.sub(lambda m: f"<{m.group(1)}\u200b{m.group(2)}", doc.page_content.strip())
        blocks.append(f"[{source.index}] source: {source.label}\n<data>\n{text}\n</data>")
    return "\n\n".join(blocks)
