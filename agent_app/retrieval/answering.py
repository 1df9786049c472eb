"""Answers that come from the retrieved passages: quoted sentences, support checks, citations.

A 135M model handed the right passage still invents prices, mayors and founders, and never
cites. The passages themselves can carry the answer:

- `extractive_answer`: the sentences of the passages that best answer the question, quoted with
  their [n]. Scored by the question's keywords (the keyword index's tokenizer: words, and CJK
  bigrams, so it works in Japanese too), weighted by how rare each keyword is among the
  passages' sentences.
- `is_supported`: every sentence of a generated answer must have most of its keywords, and all
  of its numbers, in the passages.
- `with_citation`: a generated answer without any [n] gets the one of the passage that supports
  it best.

Pure functions over texts: no model call, no LangChain. On the bundled model's path these
rank and check by keywords; which sentences answer, and whether any does, is decided by
`agent_app.retrieval.evidence` (the embedding model and the collection's calibration). A rule
that one passage must hold 75% of the question's "subject words" was retired there: over real
Japanese documents it refused 70% of answerable questions (bench/bench_rag_real.py).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent_app.retrieval.keyword import tokenize

_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.])(?=\s)|\n+")
_CITATION = re.compile(r"\[\d+\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

ABSENT_WEIGHT = 2.0
"""How much more a question keyword that no passage holds weighs (see `best_quotes`)."""
SUPPORT_THRESHOLD = 0.75
"""Share of an answer sentence's keywords that must appear in the passages (0.6 let "open on
Mondays ..., which coincides with the summer holidays" through, on the tuning half)."""
ANSWERABLE_THRESHOLD = 0.34
"""Share of the question's keyword weight the best sentence must hold to count as an answer."""


@dataclass(frozen=True)
class Quote:
    """One sentence of passage `index` (1-based, the citation number) and its score."""

    index: int
    text: str
    score: float


_CONTENT_RUN = re.compile(r"[\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々]+")
_LATIN_WORD = re.compile(r"^[^\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+$")
_TERMINAL = re.compile(r"[.!?。！？]$")
# Words of the question's form, which an answering sentence does not repeat.
_QUESTION_WORDS = frozenset(
    ["did", "can", "could", "much", "many", "long", "i", "my", "me", "you", "your", "there", "have", "has", "get", "do"]
)


# Japanese question words written in kanji; an answer never contains them.
_JA_QUESTION_WORDS = frozenset(["何", "誰", "何故", "如何", "幾つ"])


def keywords(text: str) -> list[str]:
    """Tokens that can carry an answer.

    - English words (the keyword index's tokenizer, stop words out) with plain suffixes cut, so
      "opens" and "opened" meet "open";
    - Japanese: bigrams of the kanji and katakana runs only. Hiragana is mostly particles and
      endings (は, の, です, ます), whose bigrams matched everywhere and drowned the content words
      ("図書館の館長は誰" -> 図書, 書館, 館長, 誰).
    """
    out = [_stem(t) for t in tokenize(text) if _LATIN_WORD.match(t) and t not in _QUESTION_WORDS]
    for run in _CONTENT_RUN.findall(unicodedata.normalize("NFKC", text)):
        if run in _JA_QUESTION_WORDS:  # "RAGとは何ですか": no answer holds 何 (found in use on the seeds)
            continue
        run = run.removeprefix("何")  # 何冊, 何度, 何時: the counter is what an answer holds
        out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return out


def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("ies"):  # ferries -> ferry
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def split_sentences(text: str) -> list[str]:
    """Sentences of English or Japanese text (also split at line breaks)."""
    parts = [" ".join(p.split()) for p in _SENTENCE_END.split(text) if p and p.strip()]
    return [p for p in parts if len(tokenize(p)) >= 2]


def best_quotes(
    question: str, passages: Sequence[str], limit: int = 2, accept: Callable[[str], bool] | None = None
) -> list[Quote]:
    """The passages' sentences that best answer `question`, best first; only those `accept`
    passes, when it is given (sentences of other kinds still weigh the keywords)."""
    candidates: list[tuple[int, str, set[str], set[str]]] = []  # passage, sentence, tokens, previous's
    for i, passage in enumerate(passages, start=1):
        previous: set[str] = set()
        for sentence in split_sentences(passage):
            tokens = set(keywords(sentence))
            candidates.append((i, sentence, tokens, previous))
            previous = tokens
    if not candidates:
        return []
    asked = set(keywords(question))
    # Rarer keywords weigh more: "price" in every sentence says less than "Zorblax" in one; and
    # a keyword found in no sentence at all ("mayor", when no passage names one) weighs double,
    # so that a question about something the documents never mention scores low.
    weight = {}
    for t in asked:
        df = sum(t in c[2] for c in candidates)
        weight[t] = math.log(1 + len(candidates) / (1 + df)) * (ABSENT_WEIGHT if df == 0 else 1.0)
    total = sum(weight.values()) or 1.0
    # The sentence before counts at half weight: "It was designed by ..." is about the subject
    # named just before it.
    scored = [
        Quote(i, s, (sum(weight[t] for t in asked & own) + 0.5 * sum(weight[t] for t in asked & (prev - own))) / total)
        for i, s, own, prev in candidates
    ]
    # A heading ("Orbis X14 Laptop: Quick Facts") names the topic but answers nothing: only
    # full sentences are quoted, when the passages have any.
    if any(_TERMINAL.search(q.text) for q in scored):
        scored = [q for q in scored if _TERMINAL.search(q.text)]
    if accept is not None:
        scored = [q for q in scored if accept(q.text)]
    scored.sort(key=lambda q: (-q.score, q.index))  # ties: the better-ranked passage
    best = [q for q in scored if q.score > 0][:limit]
    return [q for q in best if q.score >= best[0].score * 0.6] if best else []


def extractive_answer(question: str, passages: Sequence[str]) -> tuple[str, float]:
    """Quoted sentences with citations, and the best score (0 when nothing matched). When the
    question asks for a kind of value (a price, a time ...), only sentences that hold one are
    quoted: "市民プールの料金は" is answered by the sentence with 円, not the one naming the pool."""
    quotes = best_quotes(question, passages, accept=lambda sentence: not answer_type_missing(question, sentence))
    if not quotes:
        return "", 0.0
    text = " ".join(f"“{q.text}” [{q.index}]" for q in quotes)
    return text, quotes[0].score


def is_supported(answer: str, passages: Sequence[str]) -> bool:
    """True when every sentence of `answer` is backed by the passages (keywords and numbers)."""
    source_tokens = set(tokenize(" ".join(passages)))
    source_numbers = {n.replace(",", "") for n in _NUMBER.findall(" ".join(passages))}
    sentences = split_sentences(_CITATION.sub("", answer))
    if not sentences:
        return False
    for sentence in sentences:
        tokens = set(tokenize(sentence))
        if tokens and len(tokens & source_tokens) / len(tokens) < SUPPORT_THRESHOLD:
            return False
        if any(n.replace(",", "") not in source_numbers for n in _NUMBER.findall(sentence)):
            return False
    return True


def with_citation(answer: str, passages: Sequence[str]) -> str:
    """`answer`, with the [n] of its best-supporting passage added when it cites none."""
    if _CITATION.search(answer) or not passages:
        return answer
    tokens = set(tokenize(answer))
    overlaps = [len(tokens & set(tokenize(p))) for p in passages]
    best = max(range(len(passages)), key=lambda i: (overlaps[i], -i))
    return f"{answer.rstrip()} [{best + 1}]"


def fit_to_budget(question: str, passages: Sequence[str], budget: int, count: Callable[[str], int]) -> list[str]:
    """The passages cut down to about `budget` tokens (by `count`) for a model's prompt.

    Passages that fit together are returned whole. Otherwise each passage gets an even share of
    the budget (a share it does not use passes to the next), and keeps its sentences that
    best match the question, in their original order: the best sentences of every passage
    rather than the first passages whole. A small model's prompt stays short (a 2,000-token
    RAG prompt waited tens of seconds for its first token on a 2-core CPU).
    """
    sizes = [count(p) for p in passages]
    if sum(sizes) <= budget:
        return list(passages)
    asked = set(keywords(question))
    out: list[str] = []
    left = budget
    for i, passage in enumerate(passages):
        share = left // (len(passages) - i)
        if sizes[i] <= share:
            out.append(passage)
            left -= sizes[i]
            continue
        sentences = split_sentences(passage) or [passage]
        ranked = sorted(range(len(sentences)), key=lambda j: (-len(asked & set(keywords(sentences[j]))), j))
        keep: list[int] = []
        used = 0
        for j in ranked:
            size = count(sentences[j])
            if used + size > share:
                continue
            keep.append(j)
            used += size
        if not keep:  # not even one sentence fits: the best one, cut to the share in characters
            keep, used = [ranked[0]], share
            sentences[ranked[0]] = sentences[ranked[0]][: max(1, share)]
        out.append(" … ".join(sentences[j] for j in sorted(keep)))
        left -= used
    return out


# What kind of answer a question asks for, and what a sentence that gives it contains. A
# sentence that shares the question's words but lacks the kind of value asked for ("How much RAM
# ...?" met by "... weighs 1.2 kilograms") does not answer it: keyword overlap alone cannot tell
# these apart, and on the tuning half of bench/rag_questions.yaml it was the one refusal missed.
# The table is conservative: a question that matches no row is judged by keywords alone.
_UNIT = r"(?:\d[\d.,]*\s*)"
ANSWER_TYPES: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (  # price
        re.compile(r"\bhow much (?:does|do|is|are)\b.*\bcost|\bprice\b|\bcost\b|いくら|値段|料金|価格", re.I),
        re.compile(r"[€$£¥]|\b(?:euros?|dollars?|pounds?|yen|cents?)\b|円|ドル|ユーロ|無料|\bfree\b", re.I),
    ),
    (  # weight
        re.compile(r"\bhow heavy\b|\bweigh|重さ|何キロ|何グラム", re.I),
        re.compile(rf"{_UNIT}(?:kg|g|kilograms?|grams?|lbs?|pounds?)\b|キロ|グラム", re.I),
    ),
    (  # memory and storage
        re.compile(r"\bram\b|\bmemory\b|\bstorage\b|\bdisk\b|メモリ|容量", re.I),
        re.compile(rf"{_UNIT}(?:[kmgt]b|gigabytes?|terabytes?)\b|リットル|ギガ", re.I),
    ),
    (  # temperature
        re.compile(r"\btemperature\b|\bhow (?:hot|warm|cold)\b|何度", re.I),
        re.compile(rf"{_UNIT}(?:°|degrees?\b)|\d\s*度", re.I),
    ),
    (  # colour
        re.compile(r"\bwhat colou?r\b|何色", re.I),
        re.compile(
            r"\b(?:red|blue|green|yellow|black|white|grey|gray|silver|gold|orange|purple|pink|brown)\b"
            r"|[赤青緑黄黒白銀金紫茶]色|[赤青白黒]い",
            re.I,
        ),
    ),
    (  # population and head counts
        re.compile(
            r"\bpopulation\b|\bhow many (?:people|employees|staff|inhabitants|residents)\b|人口|従業員|何人", re.I
        ),
        re.compile(rf"{_UNIT}(?:people|employees|staff|inhabitants|residents|persons?)\b|\d\s*人", re.I),
    ),
    (  # time of day
        re.compile(r"\bwhat time\b|\bwhen does\b.*\b(?:open|close)|何時", re.I),
        re.compile(r"\d{1,2}[:.]\d\d|\d\s*(?:am|pm)\b|\d\s*時|o'clock", re.I),
    ),
    (  # phone numbers and passwords: the value itself
        re.compile(r"\bphone\b|\bnumber to call\b|電話番号|パスワード|\bpassword\b", re.I),
        re.compile(r"\d{2,}[-\s]\d{2,}|\bpassword (?:is|:)|パスワードは", re.I),
    ),
]


def answer_type_missing(question: str, text: str) -> bool:
    """True when `question` asks for a kind of value (a price, a weight, a time ...) that
    `text` does not contain."""
    question = unicodedata.normalize("NFKC", question)
    text = unicodedata.normalize("NFKC", text)
    return any(asks.search(question) and not gives.search(text) for asks, gives in ANSWER_TYPES)
