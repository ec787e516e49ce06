"""The LanceDB vector store: one Lance table, in a local directory or on object storage.

Every write is one Lance commit (a ``merge_insert`` on the ``key`` column, which is
``(user_id, id)`` in one string and the table's primary key, or a ``delete``), so it is
all or nothing. Lance commits are optimistic: a writer that loses the race to another
writer (thread, process or machine) rebases or retries inside lance; what still fails with
a commit conflict is retried here, with backoff.

No filter is ever SQL text built from a value: reads and deletes pass lancedb expression
objects (``col``/``lit``), and ``update``, which takes text only, gets values hex-encoded
(:func:`rows.keys_sql`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lancedb.background_loop import LOOP
from lancedb.expr import col, lit
from lancedb.query import ColumnOrdering, MatchQuery
from lancedb.table import AsyncTable
from llm_memory.errors import ConfigError, DimensionMismatch, NotSupported, StoreBusy
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.retry import RetryPolicy, Transient, with_retries
from llm_memory.storage import MemoryFilter, StoreHit, VectorStore

from llm_memory_lancedb import indexes, rows
from llm_memory_lancedb.options import LanceDBOptions

__all__ = ["LanceDBStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_SECRET = re.compile(r"secret|token|password|key", re.IGNORECASE)
_CONFLICT = re.compile(r"conflict|too many concurrent", re.IGNORECASE)
#: Fewest rows written before ``optimize_growth`` starts an optimize (it rewrites the
#: table's small files, so it should not run after every small write).
OPTIMIZE_MIN_ROWS = 1_000
#: Writes between two row counts while the count only decides the ANN build.
RECOUNT_WRITES = 100


class LanceDBStore(VectorStore):
    """Memories in one LanceDB table, with a BTREE index on ``user_id``, a native
    full-text index on ``content`` and, past ``ann_index_threshold`` rows, an ANN index."""

    name = "lancedb"

    def __init__(
        self,
        uri: str | Path,
        table: str = "memories",
        options: LanceDBOptions | None = None,
    ) -> None:
        self.options = options or LanceDBOptions()
        self.uri = str(uri)
        self.table_name = table
        self._storage = self.options.resolved_storage_options()
        seconds = self.options.read_consistency_seconds
        try:
            self._db: Any = lancedb.connect(
                self.uri,
                storage_options=self._storage or None,
                read_consistency_interval=None if seconds is None else timedelta(seconds=seconds),
            )
        except (ValueError, OSError, RuntimeError) as exc:
            raise ConfigError(_connect_error(self.uri, exc)) from exc
        self._tbl: Any = None
        self._dim: int | None = None
        #: The core's keyword text is kept in the rows (llm_memory_lancedb.keyword).
        self._row_keywords = False
        self._has_keywords = True  # the open table has the keyword columns
        #: ``{key: (links, terms)}`` of the rows a clear() dropped, for the refill.
        self._kept: dict[str, tuple[list[str], str]] = {}
        self._lock = threading.RLock()
        self._ann_settled = False  # the ANN index exists, or this process gave up building it
        # One background job at a time: the ANN build, or an optimize.
        self._builder: threading.Thread | None = None
        self._writes = 0  # commits since the last optimize (this process)
        self._rows_written = 0  # rows written since the last optimize (this process)
        #: Background optimizes this store started (for benchmarks and tests).
        self.optimizes = 0
        self._counted: int | None = None  # the last row count, and what this process
        self._since_count = 0  # has written since (rows), in how many writes
        self._writes_since_count = 0
        self._policy = RetryPolicy(
            max_retries=self.options.write_retries,
            backoff=0.05,
            max_wait=2.0,
            env_prefix="LANCEDB_",
            retries_setting="LANCEDB_WRITE_RETRIES",
        )

    @classmethod
    def from_options(cls, options: LanceDBOptions, settings: Any) -> LanceDBStore:
        uri = options.uri or str(Path(settings.vector_store_dir) / "lancedb")
        return cls(uri, options.table or settings.collection, options)

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        # Lance commits are optimistic and retried, so processes may share a directory.
        found = {"persistent", "multiprocess"}
        if self.options.fts:
            found.add("keyword_search")
        if "://" in self.uri and not self.uri.startswith("file://"):
            found.add("shared")  # object storage: many machines read and write this table
        return frozenset(found)

    def own_keyword_index(self, settings: Any) -> Any:
        """The core's keyword text in the rows, under LanceDB's native full-text index,
        where the native index is chosen (``KEYWORD_INDEX=native``, or ``auto`` on object
        storage): every machine then searches the same keyword data, as good as the
        core's SQLite index. Otherwise None (the core's SQLite index beside the table)."""
        mode = getattr(settings, "keyword_index", "native")
        if not self.options.fts:
            return None
        if mode == "native" or (mode == "auto" and "shared" in self.capabilities):
            from llm_memory_lancedb.keyword import LanceRowKeywords

            return LanceRowKeywords(self)
        return None

    def own_history_log(self, settings: Any) -> Any:
        """On object storage (``"shared"``) the history is a second table in the same
        database, so every machine sees every change; locally the core's SQLite file
        beside the table is as good and cheaper (no extra Lance commit per write)."""
        if "shared" not in self.capabilities:
            return None
        from llm_memory_lancedb.history import LanceHistoryLog

        return LanceHistoryLog(self._db, f"{self.table_name}_history", self._retry)

    # -- the embedder ------------------------------------------------------------------
    def embedding_info(self) -> EmbedderInfo | None:
        table = self._table()
        return None if table is None else rows.info_of(table.schema)

    def set_embedding_info(self, info: EmbedderInfo) -> None:
        with self._lock:
            table = self._table()
            if table is None:
                self._create(info.dimension, info)
            elif rows.dimension_of(table.schema) == info.dimension:
                meta = {rows.EMBEDDER_KEY: info.model_dump_json()}
                self._retry(
                    lambda: table.update_field_metadata({"path": "vector", "metadata": meta})
                )
            elif table.count_rows() == 0:
                self.clear()
                self._create(info.dimension, info)
            else:
                raise DimensionMismatch(
                    f"Table {self.table_name!r} holds {table.count_rows()} memories of "
                    f"{rows.dimension_of(table.schema)} dimensions, not {info.dimension}. Run "
                    "`llm-memory reindex` (it clears the table first) or choose another table."
                )

    def check_dimension(self, vectors: Sequence[Sequence[float]]) -> None:
        want = self._dimension()
        for vector in vectors:
            want = len(vector) if want is None else want
            if len(vector) != want:
                raise DimensionMismatch(
                    f"Table {self.table_name!r} holds {want}-dimensional vectors; got a "
                    f"{len(vector)}-dimensional one. Run `llm-memory reindex` or choose another table."
                )

    def _write_schema(self, table: Any) -> pa.Schema:
        """The columns a write sends, built from the cached dimension: reading the table's
        schema is a manifest check per write (a request on object storage)."""
        dimension = self._dimension()
        if dimension is None:
            return table.schema
        full = rows.schema(dimension)
        if self._has_keywords:
            return full
        return pa.schema([f for f in full if f.name not in rows.KEYWORD_FIELDS])  # older table

    def _dimension(self) -> int | None:
        """The vector column's length, read from the schema once per opened table (a
        schema read is a round trip; the dimension only changes with a new table)."""
        if self._dim is None:
            table = self._table()
            self._dim = None if table is None else rows.dimension_of(table.schema)
        return self._dim

    # -- writes ------------------------------------------------------------------------
    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        if not self.check_upsert(items, vectors):
            return
        items, vectors = rows.last_per_key(items, vectors)
        with self._lock:
            table = self._table()  # not `or`: an empty Table is falsy (it has a __len__)
            if table is None:
                table = self._create(len(vectors[0]), None)
        data = rows.to_table(items, vectors, self._write_schema(table))
        # use_index(False): lance matches the keys by a scan of the key column, not through
        # the key's BTREE. Through the index (once an optimize has folded rows into it),
        # two processes inserting the same new key at once both commit: 160 duplicate
        # rows in one of two runs of 2 x 40 batches of the same 20 new ids, none by scan
        # (tests/test_concurrency.py). The scan reads one string column.
        self._retry(
            lambda: (
                table.merge_insert("key")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .use_index(False)
                .execute(data)
            )
        )
        self._after_write(table, data.num_rows)

    def write(
        self,
        new: Sequence[MemoryItem],
        vectors: Sequence[Sequence[float]],
        changed: Sequence[MemoryItem] = (),
    ) -> None:
        """New and refreshed memories in one ``merge_insert`` commit, not two: the
        refreshed rows are written with their stored vectors (read by key, one scan),
        which leaves them as they were. Either kind alone is :meth:`upsert` or
        :meth:`update`."""
        table = self._table()
        if not changed or not new or table is None:
            super().write(new, vectors, changed)
            return
        if not self.check_upsert(new, vectors):
            return
        latest, _ = rows.last_per_key(changed, None)
        wanted = sorted({rows.key(i.user_id, i.id) for i in latest})
        stored: dict[str, Any] = {}
        for chunk in rows.chunks(wanted):
            found = _scan(table, col("key").isin(chunk), ["key", "vector"])
            stored.update(zip(found["key"].to_pylist(), found["vector"].to_pylist(), strict=True))
        kept = [i for i in latest if stored.get(rows.key(i.user_id, i.id)) is not None]
        self.upsert([*new, *kept], [*vectors, *(stored[rows.key(i.user_id, i.id)] for i in kept)])

    def update(self, items: Sequence[MemoryItem]) -> None:
        table = self._table()
        if table is None or not items:
            return
        items, _ = rows.last_per_key(items, None)
        # Without the vector column, a matched row keeps its stored vector.
        data = rows.to_table(items, None, self._write_schema(table))
        self._retry(lambda: table.merge_insert("key").when_matched_update_all().execute(data))
        self._after_write(table, data.num_rows)  # rewritten rows: new files to compact

    def delete(self, user_id: str, ids: Sequence[str]) -> int:
        table = self._table()
        if table is None or not ids:
            return 0
        where = rows.where_keys(user_id, sorted(set(ids)))  # one commit: all or none
        deleted = self._retry(lambda: table.delete(where)).num_deleted_rows
        self._after_write(table)
        return int(deleted)

    def delete_user(self, user_id: str) -> int:
        table = self._table()
        if table is None:
            return 0
        where = col("user_id") == lit(user_id)
        deleted = self._retry(lambda: table.delete(where)).num_deleted_rows
        self._after_write(table)
        return int(deleted)

    def clear(self) -> None:
        """Drop the table: a reindex may then create it with another dimension."""
        self.wait_for_index()
        with self._lock:
            table = self._table()
            if table is not None and self._row_keywords:
                self._kept.update(_kept_links(table))
            if table is not None:
                self._db.drop_table(self.table_name)
            self._tbl = None
            self._dim = None
            self._ann_settled = False
            self._counted = None

    # -- reads -------------------------------------------------------------------------
    def get(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        found = {m.id: m for m in self._fetch(user_id, ids, list(rows.FIELDS), rows.to_items)}
        return [found[i] for i in ids if i in found]

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[MemoryItem]:
        """One scan of the ``key`` index for every user of the batch (not one per user)."""
        table = self._table()
        wanted = sorted({rows.key(user_id, memory_id) for user_id, memory_id in keys})
        if table is None or not wanted:
            return []
        out: list[MemoryItem] = []
        for chunk in rows.chunks(wanted):
            out += rows.to_items(_scan(table, col("key").isin(chunk), list(rows.FIELDS)))
        return out

    def record_access(self, accesses: Mapping[tuple[str, str], tuple[int, datetime]]) -> None:
        """Increment in place: one ``UPDATE`` commit per 1,000 memories (each memory's
        count picked by its key: ``1 * (key IN ...) + 2 * (key IN ...)``), no read, and concurrent increments from
        other processes all count. The time written is the batch's latest (the core
        flushes touches at most every 2 s).

        Reads must never rewrite the table: these commits count neither as writes nor as
        growth toward a background optimize (the next optimize a real write starts
        compacts the files they left)."""
        table = self._table()
        if table is None or not accesses:
            return
        counts = {rows.key(u, m): int(count) for (u, m), (count, _) in accesses.items()}
        at = rows.timestamp_sql(max(at for _, at in accesses.values()))
        for chunk in rows.chunks(sorted(counts)):
            by_count: dict[int, list[str]] = {}
            for key in chunk:
                by_count.setdefault(counts[key], []).append(key)
            if len(by_count) == 1:
                increment = str(next(iter(by_count)))
            else:
                # lance's planner has no CASE: each count times its keys' membership
                increment = (
                    "("
                    + " + ".join(
                        f"{count} * CAST({rows.keys_sql(keys)} AS BIGINT)"
                        for count, keys in sorted(by_count.items())
                    )
                    + ")"
                )
            where = rows.keys_sql(chunk)
            values = {
                "access_count": f"access_count + {increment}",
                "last_accessed_at": f"greatest(last_accessed_at, {at})",
            }
            self._retry(lambda where=where, values=values: table.update(where, values_sql=values))

    def get_vectors(self, user_id: str, ids: Sequence[str]) -> dict[str, list[float]]:
        def convert(batch: pa.Table) -> list[tuple[str, list[float]]]:
            vectors = batch["vector"].to_pylist()
            ids = batch["id"].to_pylist()
            return [(i, [float(x) for x in v]) for i, v in zip(ids, vectors, strict=True) if v]

        return dict(self._fetch(user_id, ids, ["id", "vector"], convert))

    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        table, where = self._table(), rows.where(flt)
        if table is None or where is None or limit <= 0:
            return []
        order = [ColumnOrdering(column_name="created_at"), ColumnOrdering(column_name="id")]
        query = table.search().where(where).order_by(order).offset(offset).limit(limit)
        return rows.to_items(query.select(list(rows.FIELDS)).to_arrow())

    def count(self, user_id: str | None = None) -> int:
        table = self._table()
        if table is None:
            return 0
        if user_id is None:
            return int(table.count_rows())
        # count_rows takes only SQL text, so the user's rows are counted by a scan of one
        # column under an expression: no filter text is ever built from a value.
        return _scan(table, col("user_id") == lit(user_id), ["id"]).num_rows

    def users(self) -> list[str]:
        table = self._table()
        if table is None:
            return []
        ids = table.search().select(["user_id"]).limit(None).to_arrow()["user_id"]
        return sorted(pc.unique(ids).to_pylist())

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        table, where = self._table(), rows.where(flt)
        if table is None or where is None or k <= 0:
            return []
        self.check_dimension([vector])
        opts = self.options
        vector_array = np.asarray(vector, dtype=np.float32)
        fast = _async_table(table)
        if fast is not None:  # the same query without the sync wrapper's round trips
            query = fast.query().nearest_to(vector_array).column("vector").where(where)
        else:
            query = table.search(vector_array, vector_column_name="vector")
            query = query.where(where, prefilter=True)  # the async query prefilters anyway
        query = query.distance_type("cosine").limit(k).select([*rows.FIELDS, "_distance"])
        if opts.nprobes:
            query = query.nprobes(opts.nprobes)
        if opts.refine_factor:
            query = query.refine_factor(opts.refine_factor)
        if opts.ef:
            query = query.ef(opts.ef)
        result = LOOP.run(query.to_arrow()) if fast is not None else query.to_arrow()
        scores = [1.0 - d if d == d else 0.0 for d in result["_distance"].to_pylist()]  # NaN: 0
        return [StoreHit(m, s) for m, s in zip(rows.to_items(result), scores, strict=True)]

    def keyword_query(self, text: str, flt: MemoryFilter, k: int) -> list[StoreHit]:
        if not self.options.fts:
            raise NotSupported(
                "Full-text search is off for this lancedb store; set LANCEDB_FTS=true to use it."
            )
        if self._row_keywords:
            return self.row_keyword_query(text, flt, k)
        table, where = self._table(), rows.where(flt)
        if table is None or where is None or k <= 0 or not text.strip():
            return []
        query = (
            table.search(MatchQuery(text, "content"), query_type="fts")
            .where(where, prefilter=True)
            .limit(k)
            .select([*rows.FIELDS, "_score"])
        )
        result = query.to_arrow()
        scores = result["_score"].to_pylist()
        return [StoreHit(m, float(s)) for m, s in zip(rows.to_items(result), scores, strict=True)]

    # -- the core's keyword text in the rows (llm_memory_lancedb.keyword) ------------------
    def use_row_keywords(self) -> None:
        """Keep the core's keyword text in the rows and search it (own_keyword_index):
        an open table gets the columns and the index it lacks, and its rows without
        keyword text are filled in."""
        with self._lock:
            self._row_keywords = True
            if self._tbl is not None:
                self._ann_settled = self._migrate(self._tbl)

    def _migrate(self, table: Any) -> bool:
        """Give an older table the keyword columns, and fill the rows that have none (an
        older table's, or rows written while the core's SQLite index was in use): their
        users' rows are re-linked as the core's rebuild does (turns of one session, oldest
        first, when the user has no links yet) and rewritten, a commit per 1,000 rows."""
        if not rows.has_keywords(table.schema):
            missing = [f for f in rows.keyword_fields() if f.name not in table.schema.names]
            try:
                self._retry(lambda: table.add_columns(missing))
            except (RuntimeError, ValueError, OSError) as exc:
                if "already exists" not in str(exc) and "Duplicate" not in str(exc):
                    raise
            table.checkout_latest()
        self._has_keywords = True
        settled = indexes.ensure(table, self._fts_column(), self._retry)
        unfilled = table.search().where("kw_terms IS NULL").select(["user_id"]).limit(None)
        users = sorted(set(unfilled.to_arrow()["user_id"].to_pylist()))
        for user_id in users:
            self._fill_user(table, user_id)
        if users:
            log.info("lancedb: wrote the keyword text of %d users' rows", len(users))
        return settled

    def _fill_user(self, table: Any, user_id: str) -> None:
        from llm_memory.keyword.rebuild import guessed_neighbours

        from llm_memory_lancedb.keyword import date_of, keyword_text, terms_of

        found = _scan(table, col("user_id") == lit(user_id), [*rows.FIELDS, "key", "kw_links"])
        items = sorted(rows.to_items(found), key=lambda m: (m.created_at, m.id))
        stored = dict(zip(found["id"].to_pylist(), found["kw_links"].to_pylist(), strict=True))
        if any(stored.values()):
            links = [list(stored.get(m.id) or []) for m in items]
        else:
            links = guessed_neighbours(items)
        terms = {m.id: terms_of(m) for m in items}
        out = []
        for item, linked in zip(items, links, strict=True):
            context = " ".join(terms[i] for i in linked if i in terms)
            text = keyword_text(terms[item.id], context, date_of(item))
            out.append((rows.key(user_id, item.id), terms[item.id], linked, text))
        self._write_keywords(table, out)

    def _write_keywords(self, table: Any, out: Sequence[tuple[str, str, list[str], str]]) -> None:
        """Rewrite only the keyword columns of these rows (the others are kept)."""
        schema = pa.schema([table.schema.field("key"), *rows.keyword_fields()])
        for start in range(0, len(out), rows.CHUNK):
            part = out[start : start + rows.CHUNK]
            data = pa.table(
                {
                    "key": [r[0] for r in part],
                    "kw_terms": [r[1] for r in part],
                    "kw_links": [r[2] for r in part],
                    "kw_text": [r[3] for r in part],
                },
                schema=schema,
            )
            self._retry(
                lambda data=data: table.merge_insert("key").when_matched_update_all().execute(data)
            )

    def write_with_keywords(
        self,
        new: Sequence[MemoryItem],
        vectors: Sequence[Sequence[float]],
        changed: Sequence[MemoryItem] = (),
        neighbours: Sequence[Sequence[str]] | None = None,
    ) -> None:
        """:meth:`write` with each row's keyword text, in one ``merge_insert`` commit.

        ``neighbours`` (per item of ``[*new, *changed]``) replaces the items' links;
        without it an item keeps the links its row has (or had before a clear). Rows
        linking to an item whose words change are rewritten in the same commit.
        """
        from llm_memory_lancedb.keyword import date_of, keyword_text, terms_of

        given: dict[tuple[str, str], list[str]] | None = None
        if neighbours is not None:
            given = {
                (i.user_id, i.id): [n for n in around if n != i.id]
                for i, around in zip([*new, *changed], neighbours, strict=True)
            }
        if new and not self.check_upsert(new, vectors):
            new = []
        new, vectors = rows.last_per_key(new, vectors) if new else ([], [])
        fresh = {(i.user_id, i.id) for i in new}
        changed, _ = rows.last_per_key([i for i in changed if (i.user_id, i.id) not in fresh], None)
        if not new and not changed:
            return
        with self._lock:
            table = self._table()
            if table is None:
                if not new:
                    return
                table = self._create(len(vectors[0]), None)
        batch = [*new, *changed]
        keys = [rows.key(i.user_id, i.id) for i in batch]
        stored = self._keyword_rows(table, keys, with_vectors=bool(changed))
        # The changed rows keep their stored vectors; those no longer stored are skipped.
        kept = [i for i in changed if stored.get(rows.key(i.user_id, i.id), {}).get("vector")]
        items = [*new, *kept]
        all_vectors: list[Any] = [
            *vectors,
            *(stored[rows.key(i.user_id, i.id)]["vector"] for i in kept),
        ]
        terms = {(i.user_id, i.id): terms_of(i) for i in items}
        links: dict[tuple[str, str], list[str]] = {}
        for i in items:
            k = rows.key(i.user_id, i.id)
            if given is not None:
                links[(i.user_id, i.id)] = given.get((i.user_id, i.id), [])
            elif k in stored:
                links[(i.user_id, i.id)] = list(stored[k]["kw_links"] or [])
            else:
                links[(i.user_id, i.id)] = list(self._kept.get(k, ([], ""))[0])
        # Rows linking to an item whose words changed get its new words.
        reworded = [
            i
            for i in items
            if (k := rows.key(i.user_id, i.id)) in stored
            and stored[k]["kw_terms"] is not None
            and stored[k]["kw_terms"] != terms[(i.user_id, i.id)]
        ]
        linkers: list[tuple[MemoryItem, list[float], list[str]]] = []
        if reworded:
            linkers = self._linkers(
                table, reworded, exclude={rows.key(i.user_id, i.id) for i in items}
            )
        for item, vector, linked in linkers:
            items.append(item)
            all_vectors.append(vector)
            terms[(item.user_id, item.id)] = terms_of(item)
            links[(item.user_id, item.id)] = linked
        wanted = {
            rows.key(i.user_id, n)
            for i in items
            for n in links[(i.user_id, i.id)]
            if (i.user_id, n) not in terms
        }
        elsewhere = self._keyword_rows(table, sorted(wanted), with_vectors=False) if wanted else {}

        def neighbour_terms(user_id: str, memory_id: str) -> str | None:
            if (user_id, memory_id) in terms:
                return terms[(user_id, memory_id)]
            k = rows.key(user_id, memory_id)
            if k in elsewhere:
                return elsewhere[k]["kw_terms"]
            return self._kept.get(k, ([], None))[1]  # refilling after a clear

        keywords = []
        for i in items:
            own = terms[(i.user_id, i.id)]
            context = " ".join(
                t for n in links[(i.user_id, i.id)] if (t := neighbour_terms(i.user_id, n))
            )
            keywords.append((own, links[(i.user_id, i.id)], keyword_text(own, context, date_of(i))))
        data = rows.to_table(items, all_vectors, self._write_schema(table), keywords)
        self._retry(
            lambda: (
                table.merge_insert("key")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .use_index(False)  # see upsert
                .execute(data)
            )
        )
        for i in items:  # back in the table: its row answers from now on
            self._kept.pop(rows.key(i.user_id, i.id), None)
        self._after_write(table, data.num_rows)

    def _keyword_rows(
        self, table: Any, keys: Sequence[str], with_vectors: bool
    ) -> dict[str, dict[str, Any]]:
        columns = ["key", "kw_links", "kw_terms", *(["vector"] if with_vectors else [])]
        out: dict[str, dict[str, Any]] = {}
        for chunk in rows.chunks(sorted(set(keys))):
            found = _scan(table, col("key").isin(chunk), columns).to_pylist()
            out.update((r["key"], r) for r in found)
        return out

    def _linkers(
        self, table: Any, targets: Sequence[MemoryItem], exclude: set[str]
    ) -> list[tuple[MemoryItem, list[float], list[str]]]:
        """The stored rows of the same users linking to any of ``targets`` (but not those
        of ``exclude``): each memory, its vector and its links."""
        by_user: dict[str, list[str]] = {}
        for item in targets:
            by_user.setdefault(item.user_id, []).append(item.id)
        out = []
        for user_id, ids in by_user.items():
            for chunk in rows.chunks(sorted(set(ids))):
                where = (
                    f"user_id = {rows.strings_sql([user_id])} AND "
                    f"array_has_any(kw_links, make_array({rows.strings_sql(chunk)}))"
                )
                found = (
                    table.search()
                    .where(where)
                    .select([*rows.FIELDS, "key", "vector", "kw_links"])
                    .limit(None)
                    .to_arrow()
                )
                keep = [n for n, k in enumerate(found["key"].to_pylist()) if k not in exclude]
                found = found.take(pa.array(keep, type=pa.int64()))
                for item, vector, linked in zip(
                    rows.to_items(found),
                    found["vector"].to_pylist(),
                    found["kw_links"].to_pylist(),
                    strict=True,
                ):
                    out.append((item, vector, list(linked or [])))
        return out

    def unlink(self, user_id: str, ids: Sequence[str]) -> None:
        """After these memories were deleted: rewrite the rows that linked to them without
        the links and without their words (one commit, only when there are such rows)."""
        from llm_memory_lancedb.keyword import date_of, keyword_text, terms_of

        table = self._table()
        if table is None or not ids:
            return
        gone = set(ids)
        targets = [MemoryItem(id=i, user_id=user_id, content="-") for i in sorted(gone)]
        linkers = self._linkers(table, targets, exclude=set())
        if not linkers:
            return
        wanted = {rows.key(user_id, n) for _, _, linked in linkers for n in linked if n not in gone}
        around = self._keyword_rows(table, sorted(wanted), with_vectors=False)
        out = []
        for item, _, linked in linkers:
            linked = [n for n in linked if n not in gone]
            own = terms_of(item)
            context = " ".join(
                t for n in linked if (t := (around.get(rows.key(user_id, n)) or {}).get("kw_terms"))
            )
            out.append(
                (rows.key(user_id, item.id), own, linked, keyword_text(own, context, date_of(item)))
            )
        self._write_keywords(table, out)

    def row_keyword_query(self, text: str, flt: MemoryFilter, k: int) -> list[StoreHit]:
        """The ``k`` best BM25 matches of the query's stemmed terms in ``kw_text``."""
        from llm_memory_lancedb.keyword import query_text

        table, where = self._table(), rows.where(flt)
        terms = query_text(text)
        if table is None or where is None or k <= 0 or not terms:
            return []
        match = MatchQuery(terms, "kw_text")
        fast = _async_table(table)
        if fast is not None:  # as query(): 4.8 -> 2.9 ms p50 on 5,000 rows (measured)
            found = fast.query().nearest_to_text(match).where(where)  # prefilters
            result = LOOP.run(found.limit(k).select([*rows.FIELDS, "_score"]).to_arrow())
        else:
            found = table.search(match, query_type="fts").where(where, prefilter=True)
            result = found.limit(k).select([*rows.FIELDS, "_score"]).to_arrow()
        scores = result["_score"].to_pylist()
        return [StoreHit(m, float(s)) for m, s in zip(rows.to_items(result), scores, strict=True)]

    def keyword_freshness(self) -> dict[str, Any]:
        """How current keyword search is: rows not yet in the full-text index are searched
        by a flat scan, so a write is found once this process sees the table's new version
        (``read_consistency_seconds``)."""
        table = self._table()
        out: dict[str, Any] = {
            "lag_bound_s": self.options.read_consistency_seconds,
            "follows": "the table itself (keyword text in the rows)",
        }
        if table is not None:
            for ix in indexes.describe(table):
                if ix["columns"] == ["kw_text"]:
                    out["unindexed_rows"] = ix["unindexed_rows"]
        return out

    # -- housekeeping --------------------------------------------------------------------
    def location(self) -> str | None:
        return _mask_uri(self.uri)

    def describe(self) -> dict[str, Any]:
        table = self._table()
        out: dict[str, Any] = {
            "backend": self.name,
            "uri": _mask_uri(self.uri),
            "table": self.table_name,
            "collection": self.table_name,
            "storage_options": {
                k: "********" if _SECRET.search(k) and k != "allow_http" else v
                for k, v in sorted(self._storage.items())
            },
        }
        if table is None:
            return {**out, "memories": 0, "indexes": []}
        info = rows.info_of(table.schema)
        out.update(
            memories=int(table.count_rows()),
            version=int(table.version),
            dimension=rows.dimension_of(table.schema),
            embedder=str(info) if info else None,
            indexes=indexes.describe(table),
            ann_index_threshold=self.options.ann_index_threshold,
        )
        return out

    def optimize(self) -> None:
        """Compact small files and fold rows written since into every index."""
        table = self._table()
        if table is not None:
            self._optimize(table)

    def create_vector_index(self) -> None:
        """Build the ANN index now, whatever the row count (it needs a few hundred rows)."""
        table = self._table()
        if table is None:
            raise ConfigError(
                f"Table {self.table_name!r} does not exist yet; write memories first."
            )
        self.wait_for_index()
        with self._lock:
            self._build_ann(table)

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for the background job a write started (an ANN build or an optimize);
        False if it is still running after ``timeout`` seconds."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
            return not builder.is_alive()
        return True

    def close(self) -> None:
        # A build in progress is finished, not abandoned: a CLI writing one memory per
        # process would otherwise never see its table indexed.
        self.wait_for_index()
        self._tbl = None
        self._dim = None
        self._db = None

    # -- internals -----------------------------------------------------------------------
    def _table(self) -> Any:
        if self._tbl is None:
            if self._db is None:
                raise ConfigError("This lancedb store is closed; build a new one to use it.")
            try:
                self._tbl = self._db.open_table(self.table_name)
            except ValueError:  # "Table 'x' was not found"
                return None
            self._has_keywords = rows.has_keywords(self._tbl.schema)
            if self._row_keywords:
                self._ann_settled = self._migrate(self._tbl)
            else:
                self._ann_settled = indexes.ensure(self._tbl, self._fts_column(), self._retry)
        return self._tbl

    def _create(self, dimension: int, info: EmbedderInfo | None) -> Any:
        schema = rows.schema(dimension, info)
        table = self._db.create_table(self.table_name, schema=schema, exist_ok=True)
        if rows.dimension_of(table.schema) != dimension:  # another process won the race
            raise DimensionMismatch(
                f"Table {self.table_name!r} was just created by another writer with "
                f"{rows.dimension_of(table.schema)}-dimensional vectors, not {dimension}."
            )
        self._tbl = table
        self._dim = dimension
        self._has_keywords = rows.has_keywords(table.schema)
        self._ann_settled = indexes.ensure(table, self._fts_column(), self._retry)
        return table

    def _fts_column(self) -> str | None:
        if not self.options.fts:
            return None
        return "kw_text" if self._row_keywords else "content"

    def _after_write(self, table: Any, rows_written: int = 0) -> None:
        """Start background housekeeping when it is due: the ANN index once the table
        crosses ``ann_index_threshold``, else an optimize after ``optimize_every`` commits
        or once the rows written since the last one reach ``optimize_growth`` of the table.

        Both run in a thread (one at a time), never in the writer's time; searches stay
        correct meanwhile (lance searches unindexed rows too)."""
        self._writes += 1
        self._rows_written += rows_written
        self._since_count += rows_written
        if self._builder is not None:
            return
        growth = self.options.optimize_growth and self._rows_written >= OPTIMIZE_MIN_ROWS
        total = self._total(table, exact=bool(growth)) if growth or not self._ann_settled else 0
        job: Callable[[Any], None] | None = None
        if not self._ann_settled and total >= self.options.ann_index_threshold:
            job = self._build_ann_in_background
        elif self._optimize_due(total):
            job = self._optimize_in_background
        if job is None:
            return
        with self._lock:
            if self._builder is None:
                if job == self._optimize_in_background:
                    self._writes = self._rows_written = 0
                self._builder = threading.Thread(target=job, args=(table,), daemon=True)
                self._builder.start()

    def _total(self, table: Any, exact: bool) -> int:
        """The table's row count, for the housekeeping decisions. Counting is a request on
        object storage and a manifest read locally, so while only the ANN threshold asks,
        the last count plus this process's rows since stands in for it; counted again
        every ``RECOUNT_WRITES`` writes (other processes' rows) or near the threshold."""
        self._writes_since_count += 1
        estimate = None if self._counted is None else self._counted + self._since_count
        if (
            exact
            or estimate is None
            or estimate >= self.options.ann_index_threshold
            or self._writes_since_count >= RECOUNT_WRITES
        ):
            self._counted, self._since_count, self._writes_since_count = (
                int(table.count_rows()),
                0,
                0,
            )
            return self._counted
        return estimate

    def _optimize_due(self, total: int) -> bool:
        every, growth = self.options.optimize_every, self.options.optimize_growth
        if every and self._writes >= every:
            return True
        return bool(growth) and self._rows_written >= max(OPTIMIZE_MIN_ROWS, growth * total)

    def _optimize(self, table: Any) -> None:
        """Compact small files, prune old versions, fold new rows into every index;
        retried on a commit conflict, including a compaction that lost its race to a
        writer, which lance drops with a log line ("Compaction commit failed") while the
        call succeeds: small fragments were there and none was removed."""
        fast = _async_table(table)
        if fast is None:
            self._retry(table.optimize)
            return
        for attempt in range(self.options.write_retries + 1):
            small = int(LOOP.run(fast.stats())["fragment_stats"]["num_small_fragments"])
            stats = self._retry(lambda: LOOP.run(fast.optimize()))
            if small < 2 or stats.compaction.fragments_removed > 0:
                return
            log.info("lancedb: the compaction of %r lost a commit race, retrying", self.table_name)
            time.sleep(self._policy.delay(attempt, None))

    def _optimize_in_background(self, table: Any) -> None:
        self.optimizes += 1
        try:
            self._optimize(table)
        except Exception as exc:  # housekeeping must never fail a write that succeeded
            log.warning("lancedb optimize of %r failed: %s", self.table_name, exc)
        finally:
            self._builder = None

    def _build_ann_in_background(self, table: Any) -> None:
        try:
            self._build_ann(table)
        except Exception as exc:
            self._ann_settled = True  # no retry on every write; the next process will try
            log.warning("lancedb: building the ANN index of %r failed: %s", self.table_name, exc)
        finally:
            self._builder = None

    def _build_ann(self, table: Any) -> None:
        started = time.monotonic()
        indexes.create(table, "vector", indexes.ann_config(self.options), self._retry)
        self._ann_settled = True
        elapsed = time.monotonic() - started
        log.info(
            "lancedb: built %s on %r in %.1fs", self.options.index_type, self.table_name, elapsed
        )

    def _fetch(
        self,
        user_id: str,
        ids: Sequence[str],
        columns: list[str],
        convert: Callable[[pa.Table], list[T]],
    ) -> list[T]:
        table = self._table()
        if table is None or not ids:
            return []
        out: list[T] = []
        for chunk in rows.chunks(sorted(set(ids))):
            out += convert(_scan(table, rows.where_keys(user_id, chunk), columns))
        return out

    def _retry(self, write: Callable[[], T]) -> T:
        """Run one commit; retry it with jittered backoff (``llm_memory.retry``) while it
        loses commit races, up to ``write_retries`` times; then :class:`StoreBusy`."""
        return with_retries(
            write,
            self._conflict,
            self._policy,
            f"A write to lancedb table {self.table_name!r}",
            StoreBusy,
        )

    def _conflict(self, exc: Exception) -> Transient | None:
        if not isinstance(exc, (RuntimeError, OSError, ValueError)) or not _CONFLICT.search(
            str(exc)
        ):
            return None
        log.info("lancedb commit conflict on %r, retrying: %s", self.table_name, exc)
        return Transient("commit conflict with another writer")


def _async_table(table: Any) -> Any:
    """The async table under lancedb's sync ``LanceTable``, or None.

    Hot reads (vector search, fetch by key) go to it directly: the sync wrapper re-reads
    the schema several times per query, 2-3 ms each time on a 10,000-row table (measured).
    The same table object, so this process's writes and ``read_consistency_seconds``
    apply alike. ``_table`` is lancedb's attribute, not a documented one: if a release
    moves it, reads fall back to the sync API (``test_hot_reads_use_the_async_table``
    notices)."""
    inner = getattr(table, "_table", None)
    return inner if isinstance(inner, AsyncTable) else None


def _scan(table: Any, where: Any, columns: list[str]) -> pa.Table:
    """The rows matching ``where`` (no vector search), only ``columns``."""
    fast = _async_table(table)
    if fast is not None:
        return LOOP.run(fast.query().where(where).select(columns).to_arrow())
    return table.search().where(where).select(columns).limit(None).to_arrow()


def _connect_error(uri: str, exc: Exception) -> str:
    text = str(exc)
    where = f"Cannot open the lancedb database at {_mask_uri(uri)!r}"
    if "BadScheme" in text:
        return f"{where}: the endpoint is plain http; set LANCEDB_ALLOW_HTTP=true (or use https)."
    if "NoSuchBucket" in text:
        return f"{where}: the bucket does not exist; create it first."
    if any(code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403")):
        return f"{where}: access denied; check LANCEDB_ACCESS_KEY_ID / LANCEDB_SECRET_ACCESS_KEY."
    reason = (text.splitlines() or [type(exc).__name__])[0][:200]
    return f"{where}: {reason}. Check LANCEDB_URI and the endpoint, region and credentials."


def _mask_uri(uri: str) -> str:
    """Hide credentials written into a URI (``s3://key:secret@bucket``)."""
    return re.sub(r"(?<=://)[^/@]+@", "****@", uri)


def _kept_links(table: Any) -> dict[str, tuple[list[str], str]]:
    """``{key: (links, terms)}`` of every row with keyword text (a clear keeps them, so
    the refill gives each row its links back and its context from the start)."""
    found = table.search().where("kw_terms IS NOT NULL").select(["key", "kw_links", "kw_terms"])
    return {
        row["key"]: (list(row["kw_links"] or []), row["kw_terms"])
        for row in found.limit(None).to_arrow().to_pylist()
    }
