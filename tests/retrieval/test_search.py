"""Hybrid search: recall on a small labelled set, BM25 and score fusion by hand,
the relevance threshold and the LangChain retriever."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.retrievers import BaseRetriever

from agent_app.retrieval import get_retriever, ingest, open_collection
from agent_app.retrieval.fusion import fuse, keep_top_hits
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
    # (cosines depend on the model: e5's unrelated pairs sit near 0.75, MiniLM's near 0)
    threshold = top.metadata["similarity"] - 0.05
    strict = coll.search("How long are backups retained?", k=12, relevance_threshold=threshold)
    assert 1 <= len(strict) < len(everything)
    assert all(d.metadata["similarity"] >= threshold for d in strict)
    assert coll.search("   ", k=4) == []


def test_langchain_retriever(labelled: Path) -> None:
    retriever = get_retriever(k=2)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("What equipment does a new employee receive?")
    assert len(docs) == 2 and docs[0].metadata["file_name"] == "onboarding.txt"
    assert open_collection().retriever(k=3).invoke("espresso")[0].metadata["file_name"] == "coffee.txt"


def test_tokenize_english_and_japanese() -> None:
    assert tokenize("What is the Backup-Server's NAME?") == ["backup", "server", "s", "name"]
    assert tokenize("ＡＢＣ　テスト") == ["abc", "テスト"]  # full-width letters are normalised


def test_japanese_tokens_drop_particles_and_keep_numbers_with_counters() -> None:
    tokens = tokenize("月200回まで使えます")
    assert "200回" in tokens and "回" in tokens and "月" in tokens
    assert not {"まで", "ます", "で月", "回し"} & set(tokens)
    # Inflected verbs meet their plain form, so a question and its answer share the keyword.
    assert "開く" in tokenize("開きます")
    assert "時" in tokenize("何時") and "10時" in tokenize("午前10時")  # 何X finds the counter X
    assert not {"は", "に", "か", "何"} & set(tokenize("図書館は何時に開きますか"))


def test_mixed_japanese_and_english() -> None:
    tokens = tokenize("LangChainでRAGを作る")
    assert {"langchain", "rag", "作る"} <= set(tokens)
    assert "で" not in tokens and "を" not in tokens


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


def test_fusion_keeps_a_strong_single_list_hit_above_chunks_in_both_lists() -> None:
    # Chunk 2 is the keyword search's clear winner (BM25 12 against 2-3) and the vector
    # search's weakest; the others are middling in both. Rank fusion put 2 last.
    hits = fuse([0, 1, 2, 3], [0.62, 0.60, 0.55, 0.61], [3.0, 2.5, 12.0, 2.0], vector_weight=0.5)
    top = hits[0]
    assert top.position == 2
    assert top.keyword_rank == 1 and top.vector_rank == 4
    # The cosine range is under MIN_SPREAD: 0.55 stands 0.07 below the best of 0.62, 0.7 of the spread.
    assert top.fused == pytest.approx(0.5 * (1 - 0.07 / 0.1) + 0.5 * 1.0)


def test_fusion_weights_and_scaling_by_hand() -> None:
    hits = {h.position: h for h in fuse([7, 8], [0.9, 0.5], [0.0, 4.0], vector_weight=0.75)}  # min-max
    assert hits[7].fused == pytest.approx(0.75) and hits[8].fused == pytest.approx(0.25)
    assert hits[7].keyword_rank is None  # no query keyword in it
    assert fuse([], [], [], vector_weight=0.5) == []


def test_each_retrievers_top_hit_stays_in_the_results() -> None:
    # The vector top (0) and the keyword top (2) fall below two chunks good at both.
    hits = fuse([0, 1, 2, 3], [0.9, 0.85, 0.1, 0.86], [0.0, 5.0, 6.0, 5.5], vector_weight=0.5)
    assert [h.position for h in hits[:2]] == [3, 1]
    assert {h.position for h in keep_top_hits(hits, 2)} == {0, 2}
    kept3 = keep_top_hits(hits, 3)
    assert {h.position for h in kept3} >= {0, 2} and len(kept3) == 3
