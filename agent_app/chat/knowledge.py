"""The user's documents in the chat: ingest with a progress bar, `/kb`, `/sources`, and the
agent's tools (knowledge_base joins them when the current collection has documents).

Shared by `python main.py ingest` and the chat's `/ingest`, so both show the same progress and
the same report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from agent_app.retrieval import IngestReport, RetrievalSettings, Source


WAITING = "waiting for another ingest or removal of this collection to finish (Ctrl-C gives up)"


def ingest_with_progress(
    paths: Sequence[str],
    console: Console,
    *,
    collection: str | None,
    settings: RetrievalSettings,
    rebuild: bool = False,
    ray: str | None = None,
) -> IngestReport:
    """Ingest `paths`, showing files and chunks as they are processed (`ray`: see `ingest`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agent_app.models.hf import quiet_transformers
    from agent_app.retrieval import ingest

    quiet_transformers()  # its own loading bars would tear the progress display
    if not console.is_terminal:  # a log or a pipe: plain lines, a few of them, instead of a bar
        result = ingest(
            list(paths),
            collection=collection,
            settings=settings,
            progress=_ProgressLines(console),
            rebuild=rebuild,
            ray=ray,
        )
        print_report(result, console)
        return result
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        files = progress.add_task("files", total=None)
        chunks = progress.add_task("chunks embedded", total=None)

        def report(p) -> None:
            if p.stage == "waiting":
                progress.update(files, description=WAITING)
                return
            progress.update(files, completed=p.files_done, total=p.files_total or None, description=f"{p.stage} files")
            progress.update(chunks, completed=p.chunks_done, total=p.chunks_total or None)

        result = ingest(
            list(paths), collection=collection, settings=settings, progress=report, rebuild=rebuild, ray=ray
        )
    print_report(result, console)
    return result


class _ProgressLines:
    """Ingest progress as text lines (when output is not a terminal): one per stage change and
    at most one every `every_s` seconds, so a long ingest shows it is alive without flooding."""

    def __init__(self, console: Console, every_s: float = 10.0) -> None:
        import time

        self.console = console
        self.every_s = every_s
        self._clock = time.monotonic
        self._started = self._last = self._clock()
        self._stage = ""

    def __call__(self, p) -> None:
        now = self._clock()
        if p.stage == self._stage and now - self._last < self.every_s:
            return
        self._stage, self._last = p.stage, now
        if p.stage == "waiting":
            self.console.print(f"ingest: {WAITING}", highlight=False)
            return
        if p.stage == "embedding":
            done = f"{p.chunks_done}/{p.chunks_total} chunks, {p.files_done}/{p.files_total} files read"
        else:
            done = f"{p.files_done}/{p.files_total} files, {p.chunks_total} chunks"
        self.console.print(f"ingest: {p.stage} {done} ({now - self._started:.0f} s)", highlight=False)


def print_report(report: IngestReport, console: Console) -> None:
    console.print(report.summary(), highlight=False)
    for skipped in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {skipped.path}: {skipped.reason}", highlight=False)
    for note in report.notes:
        console.print(f"[dim]{note}[/dim]", highlight=False)


def _shown_store(url: str) -> str:
    """ "folder" for the data folder, else the PostgreSQL server and database (host:port/db)."""
    return url.split("@")[-1].split("://")[-1] if url else "folder"


def show_collections(console: Console, settings: RetrievalSettings | None = None) -> None:
    """`/kb`: collections, where each lives, their files and chunks, and the embedding model."""
    from rich.table import Table

    from agent_app.retrieval import describe_collections

    infos = describe_collections(settings)
    if not infos:
        console.print("no documents yet: python main.py ingest PATH (or /ingest PATH)", highlight=False)
        return
    table = Table(box=None, padding=(0, 2))
    for col in ("collection", "store", "files", "chunks", "embeddings", "updated"):
        table.add_column(col)
    for info in infos:
        store = _shown_store(info.store)
        if info.error:
            table.add_row(info.name, store, "", "", "", f"[red]{info.error}[/red]")
            continue
        table.add_row(
            info.name,
            store,
            str(info.file_count),
            str(info.chunk_count),
            info.embedding_model or "",
            (info.updated_at or "")[:16],
        )
    console.print(table)


def show_sources(sources: Sequence[Source], console: Console) -> None:
    """`/sources`: file, page or lines, and a snippet for each passage of the last answer."""
    if not sources:
        console.print("the last answer used no documents", highlight=False)
        return
    for source in sources:
        snippet = " ".join(source.snippet.split())[:160]
        console.print(f"[bold][{source.index}][/bold] {source.label}\n    [dim]{snippet}[/dim]", highlight=False)


def search_rows(query: str, collection: str, settings: RetrievalSettings, k: int | None = None) -> list[dict]:
    """The chunks `query` retrieves from `collection`, ranked as the rag template gets them,
    with the vector, keyword and fused scores (no chat model involved)."""
    from agent_app.retrieval.citations import Source
    from agent_app.retrieval.collection import MAX_QUERY_CHARS
    from agent_app.retrieval.errors import RetrievalError
    from agent_app.retrieval.stores import open_collection

    if len(query) > MAX_QUERY_CHARS:
        raise RetrievalError(
            f"the query is {len(query):,} characters long; search reads at most {MAX_QUERY_CHARS:,}",
            hint="search for its key words or a sentence",
        )
    coll = open_collection(collection, settings, cached=True)
    docs = coll.search(
        query,
        k or settings.k,
        relevance_threshold=settings.relevance_threshold,
        vector_weight=settings.vector_weight,
    )
    rows = []
    for doc in docs:
        source = Source.from_document(doc, doc.metadata["rank"], snippet_chars=400)
        rows.append(
            {
                "rank": doc.metadata["rank"],
                "source": source.path,
                "location": source.location,
                "headings": doc.metadata.get("headings", ""),
                "fused": doc.metadata["score"],
                "vector": doc.metadata["similarity"],
                "keyword": doc.metadata["keyword_score"],
                "text": doc.page_content,
            }
        )
    return rows


def show_search(rows: list[dict], console: Console) -> None:
    """`search` / `/search`: one block per chunk: rank, scores, source, then the text."""
    from rich.markup import escape

    if not rows:
        console.print("nothing found", highlight=False)
        return
    for row in rows:
        where = ", ".join(x for x in (row["source"], row["location"]) if x)
        console.print(
            f"[bold][{row['rank']}][/bold] {escape(where)}  [dim]fused {row['fused']:.3f} · "
            f"vector {row['vector']:.3f} · keyword {row['keyword']:.2f}[/dim]",
            highlight=False,
        )
        if row["headings"]:
            console.print(f"    [dim]{escape(row['headings'])}[/dim]", highlight=False)
        text = " ".join(row["text"].split())
        console.print(f"    {escape(text[:300])}{'…' if len(text) > 300 else ''}", highlight=False)
