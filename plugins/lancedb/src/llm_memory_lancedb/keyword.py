"""The core's keyword text in the LanceDB row, searched by LanceDB's native full-text index.

Each row carries, beside its vector, what the core's SQLite index holds for it: its
stemmed terms (``kw_terms``, from ``llm_memory.text.content_terms``), the ids of its
neighbouring conversation turns (``kw_links``), and ``kw_text``, the text the native FTS
index covers: its own terms, its neighbours' terms and, for an episodic memory, its date
words (see :func:`keyword_text`). The row and its keyword text are written by one
``merge_insert`` (one commit), so every process and machine sharing the table searches the
same keyword data, and a memory is keyword-searchable as soon as its write is visible
(lance searches rows not yet folded into the index by a flat scan; an optimize folds them).

The text is already stemmed and lowercased: the index splits it on whitespace only, with
no stemming, stop words or folding of its own, and a query is turned into the same terms.

Neighbours are links between ids, as in the SQLite index: forgetting a turn rewrites the
rows that link to it without its words (a second commit right after the delete), a new
content rewrites them with the new words (in the same commit), and a reindex (which drops
and refills the table) keeps each row's links through the refill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llm_memory.keyword.sqlite import MAX_QUERY_TERMS, _date
from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter, StoreHit
from llm_memory.text import content_terms

if TYPE_CHECKING:
    from llm_memory_lancedb.store import LanceDBStore

__all__ = ["LanceRowKeywords", "keyword_text", "query_text"]

#: The own terms are written twice, the neighbours' and the date words once: the 1.0 / 0.5
#: / 0.5 column weights of the SQLite index in one BM25 field (benchmarks/README.md).
TERM_REPEAT = 2


def terms_of(item: MemoryItem) -> str:
    return " ".join(content_terms(item.content))


def keyword_text(terms: str, context: str, date: str) -> str:
    """What ``kw_text`` holds: own terms (weighted by repetition), context, date words."""
    return " ".join(part for part in (*([terms] * TERM_REPEAT), context, date) if part)


def query_text(text: str) -> str:
    """The query as the index's terms (stemmed like the rows), or "" when it has none."""
    return " ".join(list(dict.fromkeys(content_terms(text)))[:MAX_QUERY_TERMS])


def date_of(item: MemoryItem) -> str:
    return _date(item)


class LanceRowKeywords:
    """``llm_memory.keyword.KeywordIndex`` whose text lives in the store's own rows.

    :class:`~llm_memory.storage.indexed.IndexedStore` writes through :meth:`write_rows`
    (the row and its keyword text in one commit) instead of ``backend.write`` + ``add``,
    and searches through :meth:`search_hits` (whole rows, one query).
    """

    def __init__(self, store: LanceDBStore) -> None:
        self.store = store
        store.use_row_keywords()

    # -- writes --------------------------------------------------------------------------
    def write_rows(
        self,
        new: Sequence[MemoryItem],
        vectors: Sequence[Sequence[float]],
        changed: Sequence[MemoryItem] = (),
        neighbours: Sequence[Sequence[str]] | None = None,
    ) -> None:
        self.store.write_with_keywords(new, vectors, changed, neighbours)

    def add(
        self, items: Sequence[MemoryItem], neighbours: Sequence[Sequence[str]] | None = None
    ) -> None:
        """Rows are indexed as they are written (:meth:`write_rows`): nothing to add."""

    def delete(self, user_id: str, ids: Sequence[str]) -> None:
        """The rows are gone (deleted by the store); rewrite those linking to them."""
        self.store.unlink(user_id, ids)

    def delete_user(self, user_id: str) -> None:
        """Nothing beside the rows."""

    def clear(self) -> None:
        """Nothing beside the rows (the store keeps their links through a refill)."""

    # -- reads ---------------------------------------------------------------------------
    def search_hits(self, text: str, flt: MemoryFilter, k: int) -> list[StoreHit]:
        return self.store.row_keyword_query(text, flt, k)

    def search(self, text: str, flt: MemoryFilter, k: int) -> list[tuple[str, float]]:
        return [(hit.item.id, hit.score) for hit in self.search_hits(text, flt, k)]

    def existing(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Every key may be stored: the write path then reads them from the rows (there
        is no key table beside them to answer faster)."""
        return set(keys)

    def freshness(self) -> dict[str, Any]:
        return self.store.keyword_freshness()

    def close(self) -> None:
        """Nothing of its own: the store's connection serves it."""
