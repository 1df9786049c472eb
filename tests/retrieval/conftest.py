"""Fixtures for the retrieval tests: a small corpus with one file of every supported type plus
the bad cases. (The `embeddings` fixture is in tests/conftest.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.retrieval_helpers import make_encrypted_pdf, make_pdf


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """docs/ with .txt .md .pdf .html .csv .json, a cp932 file, and files that must be skipped."""
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "notes.txt").write_text(
        "Meeting notes.\nThe backup server is called atlas.\nIt runs every night at 2 am.\n", encoding="utf-8"
    )
    (docs / "guide.md").write_text(
        "# User guide\n\n## Installation\n\nRun make install to create the virtual environment.\n\n"
        "## Troubleshooting\n\nIf the model does not load, delete the cache folder and retry.\n",
        encoding="utf-8",
    )
    make_pdf(docs / "report.pdf", ["Quarterly revenue grew by twelve percent.", "Costs fell in the spring."])
    (docs / "sub" / "page.html").write_text(
        "<html><head><title>Warranty</title><script>var secret = 1;</script></head>\n<body>\n"
        "<h1>Warranty terms</h1>\n<p>The warranty lasts two years from purchase.</p>\n</body></html>\n",
        encoding="utf-8",
    )
    (docs / "team.csv").write_text("name,role\nAlice,database administrator\nBob,graphic designer\n")
    (docs / "product.json").write_text(json.dumps({"product": "Widget", "price_eur": 42}, indent=2))
    (docs / "japanese.txt").write_bytes("東京は日本の首都です。\n富士山は日本で一番高い山です。\n".encode("cp932"))
    # Bad files, skipped by name:
    (docs / "blob.txt").write_bytes(bytes(range(256)) * 8)
    make_encrypted_pdf(docs / "locked.pdf", ["top secret"])
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (docs / "broken.json").write_text('{"unclosed": [1, 2')
    # Ignored without a report: unsupported type, hidden folder.
    (docs / "image.png").write_bytes(b"\x89PNG\r\n")
    (docs / ".git").mkdir()
    (docs / ".git" / "config.txt").write_text("hidden")
    return docs
