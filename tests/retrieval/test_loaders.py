"""Reading, decoding, splitting and finding files (no embedding model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_app.retrieval.discovery import discover
from agent_app.retrieval.loaders import BinaryFileError, Section, UnreadableFile, decode_text, load_sections
from agent_app.retrieval.splitting import split_sections
from tests.support.retrieval_helpers import make_encrypted_pdf, make_pdf


def load(path: Path) -> list[Section]:
    return load_sections(path, path.read_bytes())


@pytest.mark.parametrize(
    ("data", "encoding", "text"),
    [
        ("héllo".encode(), "utf-8", "héllo"),
        (b"\xef\xbb\xbfbom", "utf-8-sig", "bom"),
        ("日本語のテキストです。".encode("cp932"), "cp932", "日本語のテキストです。"),
        ("半角ｶﾀｶﾅと漢字".encode("shift_jis"), "cp932", "半角ｶﾀｶﾅと漢字"),
        ("café résumé été".encode("latin-1"), "cp1252", "café résumé été"),
        ("utf16 テキスト".encode("utf-16"), "utf-16", "utf16 テキスト"),
    ],
)
def test_decode_text_picks_a_sensible_encoding(data: bytes, encoding: str, text: str) -> None:
    assert decode_text(data) == (text, encoding)


def test_decode_text_rejects_binary() -> None:
    with pytest.raises(BinaryFileError):
        decode_text(b"\x00\x01\x02binary")


def test_pdf_pages_and_bad_pdfs(tmp_path: Path) -> None:
    sections = load(make_pdf(tmp_path / "a.pdf", ["First page text.", "Second page text."]))
    assert [(s.page, s.text) for s in sections] == [(1, "First page text."), (2, "Second page text.")]

    with pytest.raises(UnreadableFile, match="encrypted"):
        load(make_encrypted_pdf(tmp_path / "locked.pdf", ["secret"]))
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(UnreadableFile, match="corrupt"):
        load(tmp_path / "bad.pdf")


def test_html_keeps_visible_text_with_source_lines(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text(
        "<html><head><title>Title</title>\n<style>p{}</style></head>\n<body>\n"
        "<p>First &amp; best.</p>\n<script>alert(1)</script>\n<div>Second\n  block</div></body></html>"
    )
    [section] = load(page)
    assert section.text == "Title\nFirst & best.\nSecond block"
    assert section.line_numbers == [1, 4, 6]


def test_csv_rows_become_labelled_lines(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text('name,city\nAlice,Paris\n\n"Bob","Tokyo, Japan"\n')
    [section] = load(table)
    assert section.text == "name | city\nname: Alice | city: Paris\nname: Bob | city: Tokyo, Japan"
    assert section.line_numbers == [1, 2, 4]


def test_json_invalid_and_minified(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(UnreadableFile, match="invalid JSON at line 1"):
        load(tmp_path / "bad.json")
    (tmp_path / "min.json").write_text('{"items": [' + ",".join(['{"n": 1, "name": "x"}'] * 30) + "]}")
    [section] = load(tmp_path / "min.json")
    assert section.line_numbers is None and section.text.startswith('{\n  "items"')


def test_empty_and_unsupported_files_are_unreadable(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(UnreadableFile, match="no text"):
        load(tmp_path / "empty.txt")
    with pytest.raises(UnreadableFile, match="unsupported"):
        load_sections(tmp_path / "x.docx", b"PK")


def test_chunks_know_their_lines() -> None:
    text = "\n".join(f"Line number {i} has a few words in it." for i in range(1, 41))
    section = Section(text, line_numbers=list(range(1, 41)))
    chunks = split_sections([section], chunk_size=200, chunk_overlap=0)
    assert len(chunks) > 3
    for chunk in chunks:
        first, last = chunk.metadata["start_line"], chunk.metadata["end_line"]
        assert chunk.text.startswith(f"Line number {first} ")
        assert chunk.text.endswith(f"Line number {last} has a few words in it.")
    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))


def test_japanese_splits_at_sentence_ends() -> None:
    sentence = "日本語の文章は空白で区切られていませんが、句点で文が終わります。"
    chunks = split_sections([Section(sentence * 6)], chunk_size=100, chunk_overlap=0)
    assert len(chunks) >= 2
    assert all(c.text.endswith("。") for c in chunks)


def test_markdown_chunks_carry_their_heading_path() -> None:
    text = "# Guide\n\n## Install\n\n" + "Install it with make. " * 12 + "\n\n## Usage\n\nRun it.\n"
    chunks = split_sections([Section(text, kind="markdown")], chunk_size=150, chunk_overlap=0)
    assert chunks[-1].metadata["headings"] == "Guide > Usage"
    middle = next(c for c in chunks if not c.text.startswith("#"))
    assert middle.headings == "Guide > Install"
    assert middle.embedding_text.startswith("Guide > Install\n")


def test_discover_with_patterns(tmp_path: Path) -> None:
    for name in ["a.md", "b.txt", "skip.png", "build/c.txt", ".hidden/d.txt", "docs/e.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    names = lambda found: sorted(p.relative_to(tmp_path.resolve()).as_posix() for p in found.files)  # noqa: E731

    assert names(discover([tmp_path], exclude=[".*"])) == ["a.md", "b.txt", "build/c.txt", "docs/e.md"]
    assert names(discover([tmp_path], include=["*.md"], exclude=[".*", "build"])) == ["a.md", "docs/e.md"]
    assert names(discover([tmp_path], include=["docs/*"])) == ["docs/e.md"]
    assert names(discover([tmp_path / "skip.png", tmp_path / "a.md"])) == ["a.md"]


def test_discover_reports_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "x.png").write_bytes(b"")
    found = discover([tmp_path / "empty", tmp_path / "pics", tmp_path / "missing.txt"])
    assert found.files == []
    reasons = dict(found.problems)
    assert reasons[str(tmp_path / "empty")] == "empty folder"
    assert reasons[str(tmp_path / "pics")].startswith("no supported files")
    assert reasons[str(tmp_path / "missing.txt")] == "not found"
