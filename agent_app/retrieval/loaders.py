"""Reading one file into text sections, by type: .txt, .md, .pdf, .html, .csv, .json.

Each section remembers where its text came from (PDF page, or the source line of every text
line) so that chunks can be cited. Files that cannot be read raise `UnreadableFile` with a
short reason; the caller reports it and carries on with the other files.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from agent_app.quiet_logs import quiet_logger


class UnreadableFile(Exception):
    """A file that is skipped; the message is the reason shown to the user."""


@dataclass
class Section:
    """A run of text from one file: a whole text file, or one PDF page."""

    text: str
    kind: str = "text"  # "text" or "markdown": picks the splitter
    page: int | None = None  # 1-based PDF page
    line_numbers: list[int] | None = None  # source line (1-based) of each line of `text`

    _newlines: list[int] | None = field(default=None, init=False, repr=False, compare=False)

    def lines_of(self, start: int, end: int) -> tuple[int, int] | None:
        """Source line range of the characters text[start:end], if known.

        Newline offsets are found once and bisected: counting newlines from the start of the
        text for every chunk made ingest quadratic in the file's size.
        """
        if self.line_numbers is None:
            return None
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        first = bisect.bisect_left(self._newlines, start)  # newlines before `start`
        last = bisect.bisect_left(self._newlines, max(start, end - 1))
        return self.line_numbers[first], self.line_numbers[min(last, len(self.line_numbers) - 1)]


def load_sections(path: Path, data: bytes) -> list[Section]:
    """Parse the bytes of `path` by its suffix. Raises UnreadableFile."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        sections = _pdf(data)
    else:
        try:
            text, _encoding = decode_text(data)
        except BinaryFileError as exc:
            raise UnreadableFile(str(exc)) from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if suffix in (".md", ".markdown"):
            sections = [_numbered(text, kind="markdown")]
        elif suffix in (".html", ".htm"):
            sections = [_html(text)]
        elif suffix == ".csv":
            sections = [_csv(text)]
        elif suffix == ".json":
            sections = [_json(text)]
        elif suffix == ".txt":
            sections = [_numbered(text)]
        else:
            raise UnreadableFile(f"unsupported file type {suffix or '(none)'}")
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise UnreadableFile("no text found" + (" (scanned PDF?)" if suffix == ".pdf" else ""))
    return sections


def _numbered(text: str, kind: str = "text") -> Section:
    return Section(text, kind=kind, line_numbers=list(range(1, text.count("\n") + 2)))


def _pdf(data: bytes) -> list[Section]:
    # pypdf logs a warning for every oddity of a damaged file; the skip reason says enough, and
    # stray log lines would break the CLI's progress bar.
    with quiet_logger("pypdf"):
        return _pdf_pages(data)


def _pdf_pages(data: bytes) -> list[Section]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are encrypted only against editing and open with an empty password.
            opened: Any
            try:
                opened = reader.decrypt("")
            except Exception:
                opened = 0
            if not opened:
                raise UnreadableFile("encrypted PDF (needs a password)")
        return [Section(page.extract_text() or "", page=number) for number, page in enumerate(reader.pages, start=1)]
    except UnreadableFile:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise UnreadableFile(f"corrupt or unsupported PDF ({type(exc).__name__})") from None


def _json(text: str) -> Section:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"invalid JSON at line {exc.lineno}") from None
    lines = text.split("\n")
    if len(text) / len(lines) <= 200:  # already formatted: keep it, so line numbers are real
        return _numbered(text)
    # Minified JSON: pretty-print so the splitter finds line breaks; lines are no longer the file's.
    return Section(json.dumps(value, indent=2, ensure_ascii=False))


def _csv(text: str) -> Section:
    """Rows as "column: value | column: value" lines, each mapped to its line in the file."""
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    out: list[str] = []
    numbers: list[int] = []
    header: list[str] | None = None
    line = 1
    try:
        for row in reader:
            row_line, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            out.append(table_row(cells, header))
            if header is None:
                header = cells
            numbers.append(row_line)
    except csv.Error as exc:
        raise UnreadableFile(f"invalid CSV at line {reader.line_num} ({exc})") from None
    return Section("\n".join(out), line_numbers=numbers)


def _html(text: str) -> Section:
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # html.parser is lenient; this is a last resort
        raise UnreadableFile(f"cannot parse HTML ({exc})") from None
    parser.flush()
    # With headings the page is split as Markdown: each chunk carries its heading path.
    kind = "markdown" if parser.headings else "text"
    return Section("\n".join(parser.lines), kind=kind, line_numbers=parser.line_numbers)


def table_row(cells: list[str], header: list[str] | None) -> str:
    """One table row as one line, "column: value | column: value" under a header of the same
    width (CSV files and HTML tables alike): a row quoted or retrieved alone still says what
    each value is."""
    if header is not None and len(header) == len(cells):
        return " | ".join(f"{h}: {v}" if h else v for h, v in zip(header, cells, strict=True))
    return " | ".join(cells)


class _TextExtractor(HTMLParser):
    """Visible text of an HTML page, one output line per block, each with its source line.

    Structure that gives text its meaning is kept: headings as Markdown headings (so chunks get
    a heading path), list items as "- item", and each table row as one line labelled by the
    header row (a cell per line left "ip addr" apart from "ifconfig" and from what it does).
    """

    _HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK_LIST = (
        "address article aside blockquote br dd div dl dt figcaption figure footer form h1 h2 h3 "
        "h4 h5 h6 header hr li main nav ol p pre section table td th tr ul title"
    )
    _BLOCKS = frozenset(_BLOCK_LIST.split())
    _HEADINGS: ClassVar[dict[str, int]] = {f"h{n}": n for n in range(1, 7)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line_numbers: list[int] = []
        self.headings = 0
        self._parts: list[str] = []
        self._start_line = 1
        self._hidden_depth = 0
        self._in_title = False
        self._prefix = ""
        # Open tables, innermost last: [header or None, the row's cells, all cells th, row line]
        self._tables: list[list] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._HIDDEN:
            self._hidden_depth += 1
        if tag in ("td", "th") and self._tables:
            self._parts = []  # stray text between cells (white space, mostly)
            if tag == "td":
                self._tables[-1][2] = False
            return
        if tag in self._BLOCKS:
            self.flush()
        if tag == "table":
            self._tables.append([None, [], True, self.getpos()[0]])
        elif tag == "tr" and self._tables:
            self._tables[-1][1:] = [[], True, self.getpos()[0]]
        elif tag in self._HEADINGS:
            self._prefix = "#" * self._HEADINGS[tag] + " "
        elif tag == "li":
            self._prefix = "- "

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._HIDDEN and self._hidden_depth:
            self._hidden_depth -= 1
        if tag in ("td", "th") and self._tables:
            self._end_cell()
            return
        if tag == "tr" and self._tables:
            self._end_row()
            return
        if tag == "table" and self._tables:
            self._end_row()
            self._tables.pop()
            return
        if tag in self._BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self._hidden_depth and not self._in_title:
            return
        if not self._parts:
            if not data.strip():
                return
            leading = data[: len(data) - len(data.lstrip())]
            self._start_line = self.getpos()[0] + leading.count("\n")
        self._parts.append(data)

    def _end_cell(self) -> None:
        self._tables[-1][1].append(" ".join("".join(self._parts).split()))
        self._parts = []

    def _end_row(self) -> None:
        self._parts = []
        table = self._tables[-1]
        header, cells, all_th, line = table
        table[1] = []
        while cells and not cells[-1]:
            cells.pop()
        if not any(cells):
            return
        if header is None:  # no labels to keep aligned: empty cells (an icon's) say nothing
            cells = [cell for cell in cells if cell]
        if header is None and all_th:
            table[0] = cells
        self.lines.append(table_row(cells, None if header is None else header))
        self.line_numbers.append(line)

    def flush(self) -> None:
        if self._tables:  # text between cells belongs to the cell being read
            return
        text = " ".join("".join(self._parts).split())
        if text:
            if self._prefix.startswith("#"):
                self.headings += 1
            elif text.startswith("#"):  # a root prompt ("# dmesg -n3") is not a Markdown heading
                text = " " + text
            self.lines.append(self._prefix + text)
            self.line_numbers.append(self._start_line)
        self._parts = []
        self._prefix = ""


# -- decoding file bytes to text ---------------------------------------------------------------

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
