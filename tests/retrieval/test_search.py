"""Hybrid search: recall on a small labelled set, BM25 and reciprocal rank fusion by hand,
the relevance threshold and the LangChain retriever."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.retrievers import BaseRetriever

from agent_app.retrieval import get_retriever, ingest, open_collection
from agent_app.retrieval.collection import reciprocal_rank_fusion
from agent_app.retrieval.keyword import KeywordIndex, tokenize

# file name -> text; each question below is labelled with the file that answers it.
PASSAGES = {
    "backup.txt": "Nightly backups run at 2 am and are kept for thirty days on the atlas storage server.",
    "vpn.txt": "To reach the office network from home, connect with the WireGuard VPN client first.",
    "holidays.txt": "Employees receive twenty-five days of paid vacation per year, plus public holidays.",
    "printer.txt": "The third-floor printer jams often; use tray 2 and report problems to facilities.",
    "coffee.txt": "The kitchen espresso machine is descaled every Friday by the office manager.",
    "passwords.txt": "Passwords must be at least fourteen characters and are rotated every ninety days.",
    "parking.txt": "Parking spaces in the basement garage are assigned by lottery each January.",
    "expenses.txt": "Travel expenses are reimbursed within two weeks when receipts are uploaded.",
    "onboarding.txt": "New hires get a laptop, a badge and a mentor during their first week.",
    "fuji.txt": "富士山は標高3776メートルで、日本で最も高い山です。",
    "tokyo.txt": "東京は日本の首都で、約1400万人が住んでいます。",
    "sushi.txt": "寿司は酢飯と新鮮な魚を組み合わせた日本の伝統的な料理です。",
}
QUESTIONS = [
    ("How long are backups retained?", "backup.txt"),
    ("How do I connect to the company network remotely?", "vpn.txt"),
    ("How many vacation days do I get?", "holidays.txt"),
    ("The printer keeps jamming, what should I do?", "printer.txt"),
    ("Who cleans the coffee machine?", "coffee.txt"),
    ("What are the password length rules?", "passwords.txt"),
    ("How are garage parking spots allocated?", "parking.txt"),
    ("When do I get my travel costs back?", "expenses.txt"),
    ("What equipment does a new employee receive?", "onboarding.txt"),
    ("日本で一番高い山は？", "fuji.txt"),
    ("東京の人口は何人ですか", "tokyo.txt"),
    ("寿司とはどんな料理ですか", "sushi.txt"),
]


@pytest.fixture
def labelled(tmp_path: Path, embeddings) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    for name, text in PASSAGES.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    ingest([folder])
    return folder


def test_recall_at_4_on_labelled_questions(labelled: Path) -> None:
    coll = open_collection()
    hits = [
        expected in [d.metadata["file_name"] for d in coll.search(question, k=4)] for question, expected in QUESTIONS
    ]
    recall = sum(hits) / len(hits)
    assert recall >= 0.9, [q for (q, _), hit in zip(QUESTIONS, hits, strict=True) if not hit]


def test_top_hit_metadata_and_threshold(labelled: Path) -> None:
    coll = open_collection()
    [top] = coll.search("How long are backups retained?", k=1)
    assert top.metadata["file_name"] == "backup.txt"
    assert top.metadata["rank"] == 1 and top.metadata["collection"] == "default"
    assert 0.3 < top.metadata["similarity"] <= 1.0

    everything = coll.search("How long are backups retained?", k=12)
    strict = coll.search("How long are backups retained?", k=12, relevance_threshold=0.3)
    assert 1 <= len(strict) < len(everything)
    assert all(d.metadata["similarity"] >= 0.3 for d in strict)
    assert coll.search("   ", k=4) == []


def test_langchain_retriever(labelled: Path) -> None:
    retriever = get_retriever(k=2)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("What equipment does a new employee receive?")
    assert len(docs) == 2 and docs[0].metadata["file_name"] == "onboarding.txt"
    assert open_collection().retriever(k=3).invoke("espresso")[0].metadata["file_name"] == "coffee.txt"


def test_tokenize_english_and_japanese() -> None:
    assert tokenize("What is the Backup-Server's NAME?") == ["backup", "server", "s", "name"]
    assert tokenize("東京都に住む") == ["東京", "京都", "都に", "に住", "住む"]
    assert tokenize("ＡＢＣ　テスト") == ["abc", "テス", "スト"]  # full-width letters are normalised


def test_bm25_matches_rank_bm25_and_orders_by_hand() -> None:
    texts = ["apple banana", "apple cherry", "cherry date", "banana banana elder", "fig grape", "kiwi lime pear"]
    index = KeywordIndex(texts)
    reference = index.bm25.get_scores(tokenize("apple cherry"))
    assert list(index.scores("apple cherry")) == pytest.approx(list(reference))
    # By hand: apple and cherry each occur in 2 of 6 docs, idf = ln(4.5 / 2.5) = 0.5878;
    # avgdl = 14/6, so a 2-word doc with tf 1 scores 0.5878 * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 2 / (14/6)))
    # = 0.6282. Doc 1 has both terms (1.2563); docs 0 and 2 tie and keep their order.
    assert index.search("apple cherry", k=10) == [
        (1, pytest.approx(1.25634, abs=1e-4)),
        (0, pytest.approx(0.62817, abs=1e-4)),
        (2, pytest.approx(0.62817, abs=1e-4)),
    ]
    assert [p for p, _ in index.search("banana", k=5)] == [3, 0]  # tf 2 beats tf 1
    assert index.search("zebra", k=5) == []


def test_reciprocal_rank_fusion_by_hand() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62) and scores["d"] == pytest.approx(1 / 63)
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    # Ties keep the order of first appearance.
    assert [item for item, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]
