"""Collections in PostgreSQL with pgvector: one shared store for a team, the same behaviour as
the folder store (`collection.Collection`), with the database doing the concurrency.

Layout (schema `public` of the database in the URL):
- `agent_app_collections`: one row per collection: its manifest (the same `storage.Manifest` as a
  folder collection: files, hashes, chunk ids, embedding model, calibration), the name of its
  chunk table, the keyword statistics and a version number bumped by every save.
- one chunk table per collection (`agent_app_chunks_<name>_<hash>`): text, metadata, the vector
  (`vector(d)`, an HNSW index with cosine distance), the keyword tokens as a `tsvector` (a GIN
  index) and the token count. The tokens are `keyword.tokenize`'s (SudachiPy for Japanese), the
  same the folder store's BM25 reads, written as a tsvector literal, so no PostgreSQL text
  search configuration touches them; BM25 is computed in SQL with rank-bm25's formula, so both
  stores score a chunk alike and fuse the two rankings with the same `fusion.fuse`.

Concurrency, by the database: writers (ingest, remove, drop) hold a session advisory lock on the
collection for their whole read-embed-save cycle, so a second ingest waits and then adds to
what the first saved; PostgreSQL releases it when the writer's connection ends, so a killed
ingest leaves nothing locked. A save is one transaction (deletes, inserts, manifest): a reader
sees the old or the new version of every file, never half; a rebuild fills a new table and
switches the row to it in the same transaction. A search reads in one REPEATABLE READ snapshot.

Why not langchain-postgres' PGVectorStore: it computes its tsvector from the raw text with a
PostgreSQL dictionary (no Japanese one), and writes documents and deletions in separate
transactions with no place for the manifest, so "old or new, never half" and a per-collection
embedding model would need a second bookkeeping beside it. Plain SQL through psycopg keeps both
in one transaction and is a few dozen lines.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agent_app.postgres import PostgresUnavailableError, first_line, lost_connection, shown_url
from agent_app.postgres import connect as pg_connect
from agent_app.retrieval.collection import Collection
from agent_app.retrieval.errors import CollectionNotFoundError, RetrievalError, ingest_command
from agent_app.retrieval.settings import DEFAULT_VECTOR_WEIGHT
from agent_app.retrieval.storage import Manifest, check_collection_name, now

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from agent_app.retrieval.fusion import Hit

COLLECTIONS_TABLE = "agent_app_collections"
BM25_K1, BM25_B, BM25_EPSILON = 1.5, 0.75, 0.25
"""rank-bm25's BM25Okapi defaults, which the folder store's keyword index uses."""
EF_SEARCH = 100
"""HNSW candidates examined per query (pgvector's default is 40): at least the fetched count,
with room so the approximate search finds what the exact one would."""


_NEAREST = "SELECT id, 1 - (embedding <=> %s::vector) FROM {} ORDER BY embedding <=> %s::vector"
"""The nearest chunks by cosine distance (the HNSW index's operator), with their cosine."""


def connect(url: str) -> Any:
    """A connection with the store's tables present; one-line errors for what a user can get
    wrong (the URL, a server that is down, a database without pgvector)."""
    conn = pg_connect(url)
    try:
        _ensure_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_schema(conn: Any) -> None:
    """The extension and the collections table, created once; under a transaction lock, because
    two first connections at once would both try (a unique violation inside PostgreSQL)."""
    import psycopg

    if _schema_ready(conn):
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("schema"),))
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise PostgresUnavailableError(
                    f"database {conn.info.dbname!r} has no pgvector extension and it cannot be created here "
                    f"({first_line(exc)})",
                    hint="as a superuser run: CREATE EXTENSION vector; (or use a server with pgvector installed)",
                ) from None
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {COLLECTIONS_TABLE} (
                name text PRIMARY KEY,
                manifest jsonb NOT NULL,
                chunks text NOT NULL,
                stats jsonb NOT NULL DEFAULT '{{}}',
                version bigint NOT NULL DEFAULT 0)"""
        )


def _schema_ready(conn: Any) -> bool:
    row = conn.execute(
        "SELECT (SELECT 1 FROM pg_extension WHERE extname = 'vector'), to_regclass(%s)", (COLLECTIONS_TABLE,)
    ).fetchone()
    return row[0] is not None and row[1] is not None


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha1(f"agent_app:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def writer_lock(url: str, name: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold collection `name`'s writer lock (a session advisory lock) while the block runs."""
    check_collection_name(name)
    conn = connect(url)
    try:
        key = _lock_key(name)
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            if on_wait is not None:
                on_wait()
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield
    finally:
        conn.close()  # the session ends: PostgreSQL releases the lock


# -- keyword tokens as tsvector / tsquery literals ---------------------------------------------------


def _quoted(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(tokens: Sequence[str]) -> str:
    """`'word':1,4 'other':2`: each token with its positions, so its count in the chunk (the
    term frequency BM25 reads) is the number of positions. (PostgreSQL keeps 256 positions per
    word and positions up to 16383: far more than a chunk holds.)"""
    positions: dict[str, list[int]] = {}
    for i, token in enumerate(tokens[:16383], start=1):
        positions.setdefault(token, []).append(i)
    return " ".join(f"{_quoted(t)}:{','.join(map(str, p[:256]))}" for t, p in positions.items())


def tsquery_any(tokens: Sequence[str]) -> str:
    return " | ".join(_quoted(t) for t in dict.fromkeys(tokens))


def chunk_table_name(name: str) -> str:
    """A table name for a collection: readable, lower case, unique per (name, creation)."""
    import uuid

    slug = re.sub(r"[^a-z0-9_]", "_", name.lower())[:30]
    return f"agent_app_chunks_{slug}_{uuid.uuid4().hex[:8]}"


# -- the collection --------------------------------------------------------------------------------


class PgCollection(Collection):
    """A collection in PostgreSQL. Changes (`put_file`, `drop_file`) wait in memory until
    `save()` applies them in one transaction, as a folder collection's do until its swap."""

    def __init__(
        self,
        url: str,
        manifest: Manifest,
        embeddings: Any,
        *,
        table: str | None,
        stats: dict[str, float] | None = None,
        version: int = 0,
        fresh: bool = False,
    ) -> None:
        super().__init__(manifest, vectors=None)  # type: ignore[arg-type]  # no in-memory index
        self.url = url
        self._embeddings = embeddings
        self.table = table
        self.stats = stats or {}
        self.version = version
        self.fresh = fresh  # a new or rebuilt collection: save() fills a new table
        self._pending_documents: list[Document] = []
        self._pending_vectors: list[Any] = []
        self._dropped_paths: set[str] = set()
        self._conn: Any = None
        self._lock = threading.RLock()

    # -- connection --------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg

        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.url)
            try:
                yield self._conn
            except psycopg.OperationalError as exc:
                self._conn.close()
                raise lost_connection(self.url, exc) from None

    def current_version(self) -> int | None:
        """The saved version number (None: the collection was dropped)."""
        with self._connection() as conn:
            row = conn.execute(f"SELECT version FROM {COLLECTIONS_TABLE} WHERE name = %s", (self.name,)).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """One consistent read (the old or the new version of every file, never half)."""
        with self._connection() as conn:
            from psycopg.pq import TransactionStatus

            if conn.info.transaction_status != TransactionStatus.IDLE:  # inside save(): read what it wrote
                yield conn
                return
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                conn.execute(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}")
                yield conn

    # -- what Collection offers ----------------------------------------------------------------

    @property
    def embeddings(self) -> Any:
        return self._embeddings

    @property
    def chunk_count(self) -> int:
        return self.manifest.chunk_count

    def _sql_terms(self) -> Any:
        """The table of each keyword term's document frequency (beside the chunk table)."""
        from psycopg import sql

        self._sql_table()
        return sql.Identifier(f"{self.table}_df")

    def _sql_table(self) -> Any:
        from psycopg import sql

        if self.table is None:
            raise RetrievalError(
                f"collection {self.name!r} has no documents", hint=f"add some: {ingest_command(self.name)}"
            )
        return sql.Identifier(self.table)

    def rank(self, query: str, fetch_k: int = 20, *, vector_weight: float = DEFAULT_VECTOR_WEIGHT) -> list[Hit]:
        """As `Collection.rank`; a hit's `position` indexes `rank_ids`' list of chunk ids."""
        hits, _ = self.rank_ids(query, fetch_k, vector_weight)
        return hits

    def texts(self, ids: Sequence[str]) -> dict[str, str]:
        """Chunk id -> text, for the given ids."""
        from psycopg import sql

        with self._snapshot() as conn:
            rows = conn.execute(
                sql.SQL("SELECT id, content FROM {} WHERE id = ANY(%s)").format(self._sql_table()), (list(ids),)
            ).fetchall()
        return {str(i): str(c) for i, c in rows}

    def rank_ids(self, query: str, fetch_k: int, vector_weight: float) -> tuple[list[Hit], list[str]]:
        """Hits whose `position` indexes the returned list of chunk ids."""
        import numpy as np

        from agent_app.retrieval.collection import MAX_QUERY_CHARS
        from agent_app.retrieval.errors import EmptyCollectionError
        from agent_app.retrieval.fusion import fuse
        from agent_app.retrieval.keyword import tokenize

        query = query[:MAX_QUERY_CHARS]
        if not query.strip():
            return [], []
        if not self.chunk_count:
            raise EmptyCollectionError(
                f"collection {self.name!r} has no documents", hint=f"add some: {ingest_command(self.name)}"
            )
        vector = _vector_literal(np.asarray(self.embeddings.embed_query(query), dtype=np.float32))
        table = self._sql_table()
        from psycopg import sql

        terms = tokenize(query)
        with self._snapshot() as conn:
            dense = conn.execute(
                sql.SQL(
                    "SELECT id, 1 - (embedding <=> %s::vector) FROM {} ORDER BY embedding <=> %s::vector LIMIT %s"
                ).format(table),
                (vector, vector, fetch_k),
            ).fetchall()
            weights = self._term_weights(conn, terms)
            keyword = self._bm25(conn, weights, limit=fetch_k) if weights else []
            similarity = {str(i): float(s) for i, s in dense}
            bm25 = {str(i): float(s) for i, s in keyword}
            candidates = list(dict.fromkeys([str(i) for i, _ in dense] + [str(i) for i, _ in keyword]))
            missing = [c for c in candidates if c not in similarity]
            if missing:
                rows = conn.execute(
                    sql.SQL("SELECT id, 1 - (embedding <=> %s::vector) FROM {} WHERE id = ANY(%s)").format(table),
                    (vector, missing),
                ).fetchall()
                similarity.update({str(i): float(s) for i, s in rows})
            unscored = [c for c in candidates if c not in bm25]
            if weights and unscored:
                bm25.update({str(i): float(s) for i, s in self._bm25(conn, weights, among=unscored)})
        candidates = [c for c in candidates if c in similarity]
        hits = fuse(
            list(range(len(candidates))),
            [similarity[c] for c in candidates],
            [bm25.get(c, 0.0) for c in candidates],
            vector_weight=vector_weight,
        )
        return hits, candidates

    def _term_weights(self, conn: Any, terms: list[str]) -> dict[str, float]:
        """Query term -> (times in the query) x idf, as rank-bm25 computes idf (a term in over
        half the chunks gets epsilon x the average idf), floored at 0 like the folder store."""
        from psycopg import sql

        if not terms or not self.stats.get("n"):
            return {}
        rows = conn.execute(
            sql.SQL("SELECT term, df FROM {} WHERE term = ANY(%s)").format(self._sql_terms()), (list(set(terms)),)
        ).fetchall()
        n = self.stats["n"]
        weights = {}
        for term, df in rows:
            if not df:
                continue
            idf = math.log(n - df + 0.5) - math.log(df + 0.5)
            if idf < 0:
                idf = BM25_EPSILON * self.stats.get("average_idf", 0.0)
            weights[term] = max(idf, 0.0) * terms.count(term)
        return weights

    def _bm25(
        self, conn: Any, weights: dict[str, float], *, limit: int | None = None, among: list[str] | None = None
    ) -> list[tuple[str, float]]:
        from psycopg import sql

        avgdl = self.stats.get("avgdl") or 1.0
        # Given chunks are found by their key (the join keeps only those holding a term); else
        # the GIN index finds every chunk holding one.
        where = sql.SQL("c.id = ANY(%(among)s)") if among is not None else sql.SQL("c.tokens @@ %(any)s::tsquery")
        tail = sql.SQL("HAVING sum(q.w * cardinality(u.positions)) > 0 ORDER BY s DESC, min(c.seq) LIMIT %(limit)s")
        query = sql.SQL(
            "SELECT c.id, sum(q.w * cardinality(u.positions) * {k1p1} / (cardinality(u.positions) "
            "+ {k1} * (1 - {b} + {b} * c.token_count / %(avgdl)s))) AS s "
            "FROM {table} c CROSS JOIN LATERAL unnest(c.tokens) AS u "
            "JOIN unnest(%(terms)s::text[], %(w)s::float8[]) AS q(term, w) ON q.term = u.lexeme "
            "WHERE {where} GROUP BY c.id {tail}"
        ).format(
            k1p1=sql.Literal(BM25_K1 + 1),
            k1=sql.Literal(BM25_K1),
            b=sql.Literal(BM25_B),
            table=self._sql_table(),
            where=where,
            tail=tail if limit is not None else sql.SQL(""),
        )
        params = {
            "avgdl": avgdl,
            "terms": list(weights),
            "w": list(weights.values()),
            "any": tsquery_any(list(weights)),
            "among": among,
            "limit": limit,
        }
        return [(str(i), float(s)) for i, s in conn.execute(query, params).fetchall()]

    def ranked(
        self, query: str, fetch_k: int, vector_weight: float
    ) -> tuple[list[Hit], Callable[[list[Hit]], list[Document | None]]]:
        def passages(top: list[Hit]) -> list[Document | None]:
            from langchain_core.documents import Document
            from psycopg import sql

            if not top:
                return []
            with self._snapshot() as conn:
                rows = conn.execute(
                    sql.SQL("SELECT id, content, metadata FROM {} WHERE id = ANY(%s)").format(self._sql_table()),
                    ([ids[h.position] for h in top],),
                ).fetchall()
            stored = {str(i): Document(id=str(i), page_content=c, metadata=dict(m)) for i, c, m in rows}
            return [stored.get(ids[h.position]) for h in top]

        hits, ids = self.rank_ids(query, fetch_k, vector_weight)
        return hits, passages

    def best_similarity(self, vector: Any) -> float:
        from psycopg import sql

        literal = _vector_literal(vector)
        with self._snapshot() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT 1 - (embedding <=> %s::vector) FROM {} ORDER BY embedding <=> %s::vector LIMIT 1"
                ).format(self._sql_table()),
                (literal, literal),
            ).fetchone()
        return float(row[0]) if row else 0.0

    def sample_texts(self, count: int) -> list[str]:
        from psycopg import sql

        total = self.chunk_count
        if not total or self.table is None:
            return []
        wanted = sorted({round(i * (total - 1) / max(min(total, count) - 1, 1)) for i in range(min(total, count))})
        with self._snapshot() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT content FROM (SELECT content, row_number() OVER (ORDER BY seq) - 1 AS n FROM {}) s "
                    "WHERE n = ANY(%s) ORDER BY n"
                ).format(self._sql_table()),
                (wanted,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def holds_any_term(self, terms: set[str]) -> bool:
        from psycopg import sql

        if not terms or self.table is None:
            return False
        with self._snapshot() as conn:
            row = conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE tokens @@ %s::tsquery LIMIT 1").format(self._sql_table()),
                (tsquery_any(sorted(terms)),),
            ).fetchone()
        return row is not None

    def keyword_index(self) -> Any:
        raise NotImplementedError("a PostgreSQL collection's keyword index lives in the database")

    # -- changes -------------------------------------------------------------------------------

    def put_file(self, path: str, record: Any, documents: Sequence[Document], vectors: Any) -> None:
        from agent_app.retrieval.errors import EmbeddingMismatchError

        dims = self.manifest.dimensions
        if len(vectors) and dims not in (None, len(vectors[0])):
            raise EmbeddingMismatchError(
                f"collection {self.name!r} holds {dims}-dimensional vectors, "
                f"the embedding model gives {len(vectors[0])}",
                hint=f"rebuild it: {ingest_command(self.name, rebuild=True)}",
            )
        self.drop_file(path)
        self._pending_documents.extend(documents)
        self._pending_vectors.extend(vectors)
        self.manifest.files[path] = record
        if len(vectors):
            self.manifest.dimensions = len(vectors[0])

    def drop_file(self, path: str) -> int:
        record = self.manifest.files.pop(path, None)
        if record is None:
            return 0
        gone = set(record.chunk_ids)
        kept = [(d, v) for d, v in zip(self._pending_documents, self._pending_vectors, strict=True) if d.id not in gone]
        self._pending_documents = [d for d, _ in kept]
        self._pending_vectors = [v for _, v in kept]
        self._dropped_paths.add(path)
        return len(record.chunk_ids)

    def save(self, *, calibrate: Callable[[Collection], Any] | None = None) -> None:
        """Apply the changes, and the manifest, in one transaction (`calibrate` reads the
        changed chunks inside it, before anyone else can see them)."""
        from psycopg import sql

        from agent_app.retrieval.keyword import tokenize

        self.manifest.updated_at = now()
        with self._connection() as conn, conn.transaction():
            row = conn.execute(
                f"SELECT chunks FROM {COLLECTIONS_TABLE} WHERE name = %s FOR UPDATE", (self.name,)
            ).fetchone()
            old_table = row[0] if row else None
            if self.fresh or old_table is None:
                if self.manifest.dimensions is None and not self._pending_documents:
                    self.table = None
                else:
                    self.table = chunk_table_name(self.name)
                    self._create_table(conn, self.manifest.dimensions or 1)
            else:
                self.table = old_table
                if self._dropped_paths:
                    conn.execute(
                        sql.SQL("DELETE FROM {} WHERE path = ANY(%s)").format(self._sql_table()),
                        (sorted(self._dropped_paths),),
                    )
            if self._pending_documents:
                paths = {cid: p for p, r in self.manifest.files.items() for cid in r.chunk_ids}
                with conn.cursor().copy(
                    sql.SQL("COPY {} (id, path, content, metadata, embedding, tokens, token_count) FROM STDIN").format(
                        self._sql_table()
                    )
                ) as copy:
                    for doc, vec in zip(self._pending_documents, self._pending_vectors, strict=True):
                        headings = doc.metadata.get("headings")
                        tokens = tokenize(f"{headings}\n{doc.page_content}" if headings else doc.page_content)
                        copy.write_row(
                            (
                                doc.id,
                                paths.get(str(doc.id), ""),
                                doc.page_content,
                                json.dumps(doc.metadata, ensure_ascii=False, default=str),
                                _vector_literal(vec),
                                tsvector_literal(tokens),
                                len(tokens),
                            )
                        )
                if self.fresh or old_table is None:
                    conn.execute(
                        sql.SQL("CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops)").format(self._sql_table())
                    )
            self.stats = self._measure_stats(conn) if self.table else {}
            if calibrate is not None:
                self.manifest.calibration = calibrate(self)
            self.version += 1
            conn.execute(
                f"INSERT INTO {COLLECTIONS_TABLE} (name, manifest, chunks, stats, version) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET manifest = EXCLUDED.manifest, "
                f"chunks = EXCLUDED.chunks, stats = EXCLUDED.stats, version = {COLLECTIONS_TABLE}.version + 1",
                (self.name, self.manifest.model_dump_json(), self.table or "", json.dumps(self.stats), self.version),
            )
            if old_table and old_table != self.table:
                for name in (old_table, f"{old_table}_df"):
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        self._pending_documents, self._pending_vectors, self._dropped_paths = [], [], set()
        self.fresh = False

    def _create_table(self, conn: Any, dimensions: int) -> None:
        from psycopg import sql

        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (seq bigserial, id text PRIMARY KEY, path text NOT NULL, content text NOT NULL, "
                "metadata jsonb NOT NULL, embedding vector({}) NOT NULL, tokens tsvector NOT NULL, "
                "token_count integer NOT NULL)"
            ).format(self._sql_table(), sql.Literal(int(dimensions)))
        )
        conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (tokens)").format(self._sql_table()))
        conn.execute(sql.SQL("CREATE INDEX ON {} (path)").format(self._sql_table()))
        conn.execute(sql.SQL("CREATE TABLE {} (term text PRIMARY KEY, df integer NOT NULL)").format(self._sql_terms()))

    def _measure_stats(self, conn: Any) -> dict[str, float]:
        """What BM25 needs of the whole collection: chunk count, mean length, mean idf, and each
        term's document frequency (its own table: counting a common term's chunks at query time
        cost 35 ms a query at 100,000 chunks)."""
        from psycopg import sql

        n, avgdl = conn.execute(
            sql.SQL("SELECT count(*), coalesce(avg(token_count), 0) FROM {}").format(self._sql_table())
        ).fetchone()
        conn.execute(sql.SQL("DELETE FROM {}").format(self._sql_terms()))
        stat = sql.SQL("SELECT tokens FROM {}").format(self._sql_table()).as_string(conn)
        conn.execute(sql.SQL("INSERT INTO {} SELECT word, ndoc FROM ts_stat(%s)").format(self._sql_terms()), (stat,))
        if not n:
            return {"n": 0, "avgdl": 0.0, "average_idf": 0.0}
        (average_idf,) = conn.execute(
            sql.SQL("SELECT coalesce(avg(ln(%s - df + 0.5) - ln(df + 0.5)), 0) FROM {}").format(self._sql_terms()),
            (n,),
        ).fetchone()
        return {"n": int(n), "avgdl": float(avgdl), "average_idf": float(average_idf)}


def _vector_literal(vector: Any) -> str:
    return "[" + ",".join(f"{float(x):.8g}" for x in vector) + "]"


# -- opening, listing, dropping ----------------------------------------------------------------


def open_collection(url: str, name: str) -> PgCollection:
    from agent_app.retrieval.embedding_models import lazy_embeddings

    check_collection_name(name)
    conn = connect(url)
    try:
        row = conn.execute(
            f"SELECT manifest, chunks, stats, version FROM {COLLECTIONS_TABLE} WHERE name = %s", (name,)
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        raise CollectionNotFoundError(
            f"no documents ingested into collection {name!r} in {shown_url(url)} yet",
            hint=f"add some first: {ingest_command(name)} --store URL",
        )
    manifest = Manifest.model_validate(row[0])
    return PgCollection(
        url, manifest, lazy_embeddings(manifest.embedding_model), table=row[1] or None, stats=row[2], version=row[3]
    )


def new_collection(url: str, name: str, manifest: Manifest) -> PgCollection:
    from agent_app.retrieval.embedding_models import lazy_embeddings

    return PgCollection(url, manifest, lazy_embeddings(manifest.embedding_model), table=None, fresh=True)


def manifests(url: str) -> list[Manifest]:
    conn = connect(url)
    try:
        rows = conn.execute(f"SELECT manifest FROM {COLLECTIONS_TABLE} ORDER BY name").fetchall()
    finally:
        conn.close()
    return [Manifest.model_validate(r[0]) for r in rows]


def drop_collection(url: str, name: str, on_wait: Callable[[], None] | None = None) -> bool:
    from psycopg import sql

    with writer_lock(url, name, on_wait):
        conn = connect(url)
        try:
            with conn.transaction():
                row = conn.execute(
                    f"DELETE FROM {COLLECTIONS_TABLE} WHERE name = %s RETURNING chunks", (name,)
                ).fetchone()
                if row is not None and row[0]:
                    for name in (row[0], f"{row[0]}_df"):
                        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        finally:
            conn.close()
    return row is not None
