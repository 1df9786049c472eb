"""Answers from real-looking documents on the bundled path: structure kept by the HTML loader,
quotable units, the e5 sentence scorer and the collection's calibration (real model), the
refusal that shows what was closest, and a capable model's answer passed through unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent_app.chat.session import ChatSession
from agent_app.retrieval import ingest, open_collection
from agent_app.retrieval.evidence import find_evidence, language, passage_units
from agent_app.retrieval.loaders import load_sections
from agent_app.retrieval.splitting import split_sections
from tests.support.rag_helpers import rag_session

PAGE = """<html><body>
<h1>Network guide</h1>
<h2>Commands</h2>
<p>Old and new commands compared.</p>
<table>
<thead><tr><th>old</th><th>new</th><th>what it does</th></tr></thead>
<tbody>
<tr><td>ifconfig</td><td>ip addr</td><td>device addresses</td></tr>
<tr><td>arp</td><td>ip neigh</td><td>ARP cache entries</td></tr>
</tbody></table>
<h2>Files</h2>
<p>The resolver reads these files:</p>
<ul><li>/etc/hosts</li><li>/etc/resolv.conf</li></ul>
<pre># dmesg -n3</pre>
</body></html>
"""

GUIDE = (
    "# 富士山ガイド\n\n富士山は日本で一番高い山です。標高は3776メートルです。"
    "山頂の気温は夏でも10度前後です。\n\n"
    "## 交通\n\n新宿から河口湖まで高速バスで約2時間です。河口湖駅から五合目まではバスで50分かかります。\n\n"
    "## 山小屋\n\n山小屋の宿泊は予約制です。一泊二食付きで一万円前後です。寝袋は貸し出していません。\n\n"
    "## Climbing\n\nThe climbing season runs from early July to early September. "
    "Mountain huts along the Yoshida trail serve hot meals.\n\n"
    "## Weather\n\nThe weather at the summit changes quickly, and thunderstorms are common in August. "
    "Bring a rain jacket and warm layers even in midsummer.\n\n"
    "## Rules\n\nClimbers pay a conservation fee at the fifth station. Drones may not be flown near the summit.\n"
)


def test_html_tables_rows_keep_their_header_and_lists_their_lead_in(tmp_path: Path):
    page = tmp_path / "guide.html"
    page.write_text(PAGE)
    [section] = load_sections(page, page.read_bytes())
    lines = section.text.splitlines()
    assert section.kind == "markdown" and "## Commands" in lines
    assert "old: arp | new: ip neigh | what it does: ARP cache entries" in lines
    assert "- /etc/resolv.conf" in lines
    assert " # dmesg -n3" in lines  # a root prompt, not a heading
    chunks = split_sections([section], 40, 0)
    row = next(c for c in chunks if "ip neigh" in c.text)
    assert row.headings == "Network guide > Commands"  # the chunk knows where it sits
    # Quotable units: a table row whole, a list item with the line before it, headings left out.
    units = [u.text for u in passage_units(section.text, 1)]
    assert "old: ifconfig | new: ip addr | what it does: device addresses" in units
    assert "The resolver reads these files: - /etc/hosts" in units
    assert not any(u.startswith("#") for u in units)


@pytest.mark.usefixtures("embeddings")
def test_sentence_scorer_and_calibration_on_the_real_model(tmp_path: Path):
    (tmp_path / "fuji.md").write_text(GUIDE, encoding="utf-8")
    ingest([tmp_path / "fuji.md"])
    collection = open_collection()
    calibration = collection.manifest.calibration
    assert calibration is not None and calibration.language == "ja"
    assert set(calibration.by_language) == {"en", "ja"} and calibration.related > calibration.unrelated
    for question, fact in (("富士山の標高は何メートルですか？", "3776"), ("When is the climbing season?", "July")):
        documents = collection.search(question, k=2)
        evidence = find_evidence(question, documents, collection)
        assert evidence.answerable, (question, evidence)
        assert fact in evidence.answer_quotes[0][0].text
    # A name-like term the documents never mention (a year here): refused whatever the cosines say.
    question = "How much does the 2024 season pass of the summit huts cost?"
    evidence = find_evidence(question, collection.search(question, k=2), collection)
    assert not evidence.answerable and evidence.absent == ["2024"]
    assert language("標高は？") == "ja" and language("altitude?") == "en"


def _session(tmp_path: Path, style: str, replies: list[str] | None = None) -> ChatSession:
    return rag_session(tmp_path, style, replies)[0]


@pytest.mark.usefixtures("embeddings")
def test_answers_lead_with_their_source_and_refusals_show_what_was_closest(tmp_path: Path):
    (tmp_path / "fuji.md").write_text(GUIDE, encoding="utf-8")
    ingest([tmp_path / "fuji.md"])
    session = _session(tmp_path, "extractive")
    turn = session.reply("富士山の標高は何メートルですか？")
    assert turn.text.startswith("From your documents: “") and "3776" in turn.text and "[1]" in turn.text
    session.start_conversation()
    turn = session.reply("How much does the 2024 season pass of the summit huts cost?")
    assert turn.details["answer_source"] == "not found"
    closest = re.match(r"Your documents do not seem to contain this\. The closest passage is \[(\d)\] ", turn.text)
    assert closest is not None, turn.text
    # The closest units, the first from the passage named, and what to try.
    assert f"” [{closest.group(1)}]" in turn.text.split("“", 2)[1] and "search" in turn.text


@pytest.mark.usefixtures("embeddings")
@pytest.mark.parametrize(
    ("question", "reply"),
    [
        ("How high is Mount Fuji?", "Mount Fuji rises to 3,776 metres, the highest peak in Japan."),
        ("富士山の高さは？", "日本最高峰の富士山は、海抜三千七百七十六メートルの高さがあります。"),
    ],
)
def test_a_capable_models_paraphrase_passes_through_generative(tmp_path: Path, question: str, reply: str):
    (tmp_path / "fuji.md").write_text(GUIDE, encoding="utf-8")
    ingest([tmp_path / "fuji.md"])
    turn = _session(tmp_path, "generative", [reply]).reply(question)
    # Word for word, with the citation of the passage it rests on added: no rule replaced it.
    assert turn.text.startswith(reply) and turn.text[len(reply) :].strip() in {"[1]", "[2]"}


@pytest.mark.usefixtures("embeddings")
def test_a_quote_is_not_repeated_by_a_fragment_joined_to_it(tmp_path: Path):
    # "注記" (a note's label) is a fragment: as a unit it is the line before it plus itself, and
    # must not be quoted beside that line again.
    (tmp_path / "locale.txt").write_text(
        'The system wide default locale value is set in "/etc/default/locale".\n注記\n'
        "The locales-all package comes with all locale data pre-compiled.\n",
        encoding="utf-8",
    )
    ingest([tmp_path / "locale.txt"])
    collection = open_collection()
    question = "Which file sets the system-wide default locale?"
    evidence = find_evidence(question, collection.search(question, k=1), collection)
    texts = [unit.text for unit, _ in evidence.quotes]
    assert texts[0].startswith("The system wide default locale") and len(texts) == 2
    assert not any(a != b and (a in b or b in a) for a in texts for b in texts)
