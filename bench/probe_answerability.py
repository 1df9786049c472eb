"""Can the signals the bundled path has tell an answerable question from a close unanswerable one?
(a probe, not a test; issue 28's refusal target).

    .venv/bin/python bench/probe_answerability.py [--train 1 --test 2]

For each question of the tuning rounds of bench/rag_real/questions.yaml (never the check round) it
measures, on the question's own collection: the calibrated retrieval score and the absent-term
flag (agent_app.retrieval.evidence), the keyword share of the best unit and the largest one,
the language, the cosine margin of the best unit over the median unit, and an occlusion score
with the embedding model (for each content word of the question: how much of what the word adds
to the question's vector the best unit matches; cos(q, u) - cos(q without the word, u), divided
by 1 - cos(q, q without the word), averaged with those weights). A logistic regression over
them is fitted on one round and tried on the other; it prints the share of unanswerable
questions refused at the threshold that keeps answerable refusals <= 15% on the training round,
and the best share any threshold could reach on the test round itself (an upper bound).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FEATURES = ("score", "occlusion", "keyword_best", "keyword_max", "absent", "english", "cosine_margin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=1)
    parser.add_argument("--test", type=int, default=2)
    args = parser.parse_args()
    os.environ["AGENT_APP_DATA_DIR"] = tempfile.mkdtemp(prefix="probe-answerability-")
    from bench_rag_real import CHAPTERS, QUESTIONS

    from agent_app.config import load_settings
    from agent_app.retrieval import evidence, get_retriever, ingest
    from agent_app.retrieval.keyword import tokenize

    if max(args.train, args.test) >= max(CHAPTERS):
        sys.exit(f"round {max(CHAPTERS)} is the check set: probe the tuning rounds only")
    cases = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    content = re.compile(r"[A-Za-z0-9\u30a0-\u30ff\u3400-\u9fff]")
    table: dict[int, tuple[Any, Any]] = {}
    for number in (args.train, args.test):
        settings = load_settings(environ={}, overrides={"model": "local"})
        settings.retrieval.default_collection = f"round{number}"
        ingest(list(CHAPTERS[number]), settings=settings.retrieval)
        retriever = get_retriever(settings=settings.retrieval)
        embeddings = retriever.collection.embeddings
        rows, labels = [], []
        for case in (c for c in cases if c.get("round", 1) == number):
            question = unicodedata.normalize("NFKC", case["question"])
            documents = retriever.invoke(question)
            found = evidence.find_evidence(question, documents, retriever.collection)
            units = [u for i, d in enumerate(documents, 1) for u in evidence.passage_units(d.page_content, i)]
            q = np.asarray(embeddings.embed_query(question), dtype=np.float32)
            vectors = np.asarray(embeddings.embed_documents([u.text for u in units]), dtype=np.float32)
            cosines, shares = vectors @ q, evidence.keyword_shares(question, units)
            best = int(np.argmax(cosines + evidence.KEYWORD_WEIGHT * shares))
            weights, supports = [], []
            for word in dict.fromkeys(t for t in tokenize(question) if content.search(t)):
                without = re.sub(re.escape(word), " ", question, flags=re.IGNORECASE)
                if without == question:
                    continue
                w = np.asarray(embeddings.embed_query(without), dtype=np.float32)
                weights.append(max(1 - float(q @ w), 1e-3))
                supports.append((float(cosines[best]) - float(vectors[best] @ w)) / weights[-1])
            rows.append(
                [
                    found.score,
                    float(np.average(supports, weights=weights)) if weights else 1.0,
                    float(shares[best]),
                    float(shares.max()),
                    float(bool(found.absent)),
                    float(evidence.language(question) == "en"),
                    float(cosines[best] - np.median(cosines)),
                ]
            )
            labels.append(int(case["answerable"]))
        table[number] = (np.array(rows), np.array(labels))
    report(table[args.train], table[args.test], args)


def report(train: tuple[Any, Any], test: tuple[Any, Any], args: argparse.Namespace) -> None:
    from sklearn.linear_model import LogisticRegression

    def refusals(p: Any, y: Any, threshold: float) -> tuple[float, float]:
        return float(np.mean(p[y == 1] < threshold)), float(np.mean(p[y == 0] < threshold))

    def threshold_for(p: Any, y: Any) -> float:  # the most refusals with answerable refused <= 15%
        return max((t for t in sorted(set(p)) if refusals(p, y, t)[0] <= 0.15), key=lambda t: refusals(p, y, t)[1])

    print(f"train round {args.train}, test round {args.test}: answerable refused / unanswerable refused")
    for columns in ([0], [1], [0, 1], [0, 1, 4], list(range(len(FEATURES)))):
        model = LogisticRegression(max_iter=1000).fit(train[0][:, columns], train[1])
        chosen = threshold_for(model.predict_proba(train[0][:, columns])[:, 1], train[1])
        p = model.predict_proba(test[0][:, columns])[:, 1]
        held, bound = refusals(p, test[1], chosen), refusals(p, test[1], threshold_for(p, test[1]))
        names = "+".join(FEATURES[c] for c in columns)
        print(f"  {names:70} {held[0]:5.0%} / {held[1]:5.0%}   best possible {bound[0]:5.0%} / {bound[1]:5.0%}")


if __name__ == "__main__":
    main()
