"""The keyword side in Postgres: the core's keyword text in ``{table}_kw``, ranked by BM25.

Each memory has one row holding its stemmed terms (``llm_memory.text.content_terms``), the
terms of its neighbouring conversation turns (``context``) and, for an episodic memory,
its date words: the text the core's SQLite index holds. A generated ``tsvector`` column
weighs the three parts A, B and C, with a GIN index. Neighbours are links between ids
(``{table}_links``), so forgetting a turn removes its words from its neighbours' rows.

Ranking is BM25 computed in SQL (k1 = 1.2, b = 0.75, the column weights of the SQLite
index), with term rarity and average length over the whole table, as SQLite's ``bm25()``
does: per-user statistics, ``ts_rank`` and ``ts_rank_cd`` all ranked worse on LoCoMo
(benchmarks/README.md). Candidates come through the GIN index, restricted to the user;
only their scores use the other rows' counts. Every process sharing the database searches
the same rows, and a memory's keyword row is there as soon as its write returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from llm_memory.keyword.sqlite import MAX_QUERY_TERMS, WEIGHTS, _date
from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter
from llm_memory.text import content_terms
from psycopg import sql

from llm_memory_postgres import rows

if TYPE_CHECKING:
    import psycopg

    from llm_memory_postgres.store import PostgresStore

__all__ = ["PostgresKeywordIndex"]

K1, B = 1.2, 0.75

_SEARCH = """
WITH q AS MATERIALIZED (SELECT DISTINCT lexeme FROM unnest(to_tsvector('simple'::regconfig, %(text)s))),
tsq AS MATERIALIZED (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS q FROM q),
stats AS MATERIALIZED (SELECT count(*)::float8 AS n, coalesce(avg(len), 1)::float8 AS avgdl FROM {kw}),
cand AS MATERIALIZED (SELECT k.id, k.len, k.doc, ({ok}) AS ok FROM {kw} k, tsq
         WHERE k.user_id = %(user)s AND k.doc @@ tsq.q),
tf AS MATERIALIZED (SELECT c.id, t.lexeme,
              sum(CASE w WHEN 'A' THEN %(wa)s WHEN 'B' THEN %(wb)s ELSE %(wc)s END) AS f
       FROM cand c, unnest(c.doc) t, unnest(t.weights) w
       WHERE t.lexeme IN (SELECT lexeme FROM q) GROUP BY c.id, t.lexeme),
df AS MATERIALIZED (SELECT lexeme, (SELECT count(*) FROM {kw} WHERE doc @@ quote_literal(lexeme)::tsquery)::float8 AS df FROM q)
SELECT c.id, sum(greatest(ln((s.n - df.df + 0.5) / (df.df + 0.5)), 1e-6)
                 * tf.f * (%(k1)s + 1)
                 / (tf.f + %(k1)s * (1 - %(b)s + %(b)s * c.len / s.avgdl))) AS score
FROM tf JOIN df USING (lexeme) JOIN cand c ON c.id = tf.id, stats s
WHERE c.ok GROUP BY c.id ORDER BY score DESC, c.id LIMIT %(k)s
"""


class PostgresKeywordIndex:
    """``llm_memory.keyword.KeywordIndex`` on the store's own database."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.kw, self.links = store.names.of("_kw"), store.names.of("_links")

    # -- writes --------------------------------------------------------------------------
    def add(
        self, items: Sequence[MemoryItem], neighbours: Sequence[Sequence[str]] | None = None
    ) -> None:
        """Index (or re-index) ``items``; ``neighbours`` (per item) replaces their links,
        and without it an item keeps the links it had."""
        if neighbours is not None and len(neighbours) != len(items):
            raise ValueError(f"add got {len(items)} items but {len(neighbours)} neighbour lists.")
        latest = {(i.user_id, i.id): n for n, i in enumerate(items)}  # the last one wins
        by_user: dict[str, list[int]] = {}
        for (user_id, _), n in latest.items():
            by_user.setdefault(user_id, []).append(n)
        with self.store.transaction(None) as conn:
            for user_id, numbers in by_user.items():
                self.store.act_as(conn, user_id)
                chosen = [items[n] for n in numbers]
                if neighbours is not None:
                    self._link(conn, user_id, chosen, [neighbours[n] for n in numbers])
                self._upsert(conn, chosen)
                self._refresh(conn, user_id, [i.id for i in chosen], with_linkers=True)

    def _link(
        self,
        conn: psycopg.Connection,
        user_id: str,
        items: Sequence[MemoryItem],
        neighbours: Sequence[Sequence[str]],
    ) -> None:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE user_id = %s AND memory_id = ANY(%s)").format(self.links),
            [user_id, [i.id for i in items]],
        )
        pairs = [
            (user_id, i.id, other)
            for i, others in zip(items, neighbours, strict=True)
            for other in others
            if other != i.id
        ]
        if pairs:
            conn.cursor().executemany(
                sql.SQL(
                    "INSERT INTO {} (user_id, memory_id, neighbour_id) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING"
                ).format(self.links),
                pairs,
            )

    def _upsert(self, conn: psycopg.Connection, items: Sequence[MemoryItem]) -> None:
        statement = sql.SQL(
            "INSERT INTO {} (user_id, id, type, created_at, session_id, terms, date) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, id) DO UPDATE SET "
            "type = EXCLUDED.type, created_at = EXCLUDED.created_at, "
            "session_id = EXCLUDED.session_id, terms = EXCLUDED.terms, date = EXCLUDED.date"
        ).format(self.kw)
        params = []
        for i in items:
            rows.refuse_nul(i.user_id, i.id, i.type, i.session_id)
            terms = " ".join(content_terms(i.content))
            params.append((i.user_id, i.id, i.type, i.created_at, i.session_id, terms, _date(i)))
        conn.cursor().executemany(statement, params)

    def _refresh(
        self, conn: psycopg.Connection, user_id: str, ids: Sequence[str], with_linkers: bool
    ) -> None:
        """Recompute the context of these rows (and of the rows linking to them) from
        the terms of their indexed neighbours."""
        targets = sql.SQL("SELECT unnest(%(ids)s::text[])")
        if with_linkers:
            targets += sql.SQL(
                " UNION SELECT memory_id FROM {} WHERE user_id = %(user)s "
                "AND neighbour_id = ANY(%(ids)s)"
            ).format(self.links)
        conn.execute(
            sql.SQL(
                "UPDATE {kw} AS k SET context = coalesce((SELECT string_agg(n.terms, ' ' "
                "ORDER BY l.neighbour_id) FROM {links} l JOIN {kw} n ON n.user_id = l.user_id "
                "AND n.id = l.neighbour_id WHERE l.user_id = k.user_id AND l.memory_id = k.id), '') "
                "WHERE k.user_id = %(user)s AND k.id IN ({targets})"
            ).format(kw=self.kw, links=self.links, targets=targets),
            {"user": user_id, "ids": list(ids)},
        )

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        """Forget these memories, their links, and their words in their neighbours' rows."""
        ids = list(dict.fromkeys(ids))
        rows.refuse_nul(user_id, *ids)
        with self.store.transaction(user_id) as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE user_id = %s AND id = ANY(%s)").format(self.kw),
                [user_id, ids],
            )
            linkers = conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE user_id = %(u)s AND (memory_id = ANY(%(i)s) "
                    "OR neighbour_id = ANY(%(i)s)) RETURNING memory_id"
                ).format(self.links),
                {"u": user_id, "i": ids},
            ).fetchall()
            stale = sorted({m for (m,) in linkers} - set(ids))
            if stale:
                self._refresh(conn, user_id, stale, with_linkers=False)

    def delete_user(self, user_id: str) -> None:
        rows.refuse_nul(user_id)
        with self.store.transaction(user_id) as conn:
            for table in (self.kw, self.links):
                conn.execute(sql.SQL("DELETE FROM {} WHERE user_id = %s").format(table), [user_id])

    def clear(self) -> None:
        """Drop every row but keep the links, so that refilling the index (a reindex, a
        restore) gives the same memories their context back."""
        with self.store.transaction(None) as conn:
            conn.execute(sql.SQL("DELETE FROM {}").format(self.kw))

    # -- reads ---------------------------------------------------------------------------
    def search(self, text: str, flt: MemoryFilter, k: int) -> list[tuple[str, float]]:
        """The ``k`` best BM25 matches among ``flt``'s memories: ``(memory_id, score)``,
        best first, scores positive."""
        terms = list(dict.fromkeys(content_terms(text)))[:MAX_QUERY_TERMS]
        if not terms or k <= 0 or flt.types == ():
            return []
        rows.refuse_nul(flt.user_id, flt.session_id)
        ok, named = rows.where_named(flt, alias="k")
        values = {
            "text": " ".join(terms),
            "user": flt.user_id,
            "wa": WEIGHTS["terms"],
            "wb": WEIGHTS["context"],
            "wc": WEIGHTS["date"],
            "k1": K1,
            "b": B,
            "k": k,
            **named,
        }
        query = sql.SQL(_SEARCH).format(kw=self.kw, ok=ok)
        with self.store.transaction(flt.user_id) as conn:
            found = conn.execute(query, values).fetchall()
        return [(memory_id, float(score)) for memory_id, score in found]

    def existing(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(user_id, memory_id)`` keys are stored: one indexed lookup in the keyword
        table (a row there commits with its memory's row), the write path's duplicate
        check."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        users, ids = [u for u, _ in wanted], [m for _, m in wanted]
        rows.refuse_nul(*users, *ids)
        query = sql.SQL(
            "SELECT k.user_id, k.id FROM {} k JOIN unnest(%s::text[], %s::text[]) AS w(u, i) "
            "ON k.user_id = w.u AND k.id = w.i"
        ).format(self.kw)
        with self.store.transaction(None) as conn:
            found = conn.execute(query, [users, ids]).fetchall()
        return {(user_id, memory_id) for user_id, memory_id in found}

    def close(self) -> None:
        """Nothing of its own to release: the store's pool serves it."""
