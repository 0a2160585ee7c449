"""The staff directory's text search, and the trigram index that keeps it fast.

Staff search every word they type in a member's folded name, acronym and
contacts (``Member.search_text``). ``LIKE '%word%'`` alone reads every row:
at ten thousand members that is most of a search page's time. So each
database keeps a trigram index of ``search_text``:

- SQLite: ``member_search``, an FTS5 table with the trigram tokenizer over
  ``members.search_text`` (external content, kept in step by triggers);
- PostgreSQL: ``ix_members_search_trgm``, a pg_trgm GIN index, which plain
  ``LIKE`` uses by itself.

Neither is a model: the migration creates them, and Alembic's comparison of
the schema with the models leaves them out (``include_object``).

A trigram index cannot help with a word shorter than three characters, and
SQLite's FTS5 does not take LIKE's ESCAPE clause: such words read every row,
with the planner told that few will match (``rarely_true``).
"""

from __future__ import annotations

import sqlalchemy as sa

from coalition.db import rarely_true
from coalition.extensions import db
from coalition.members.models import Member

FTS_TABLE = "member_search"
PG_INDEX = "ix_members_search_trgm"
TRIGRAM = 3
WILDCARDS = frozenset("%_\\")

_fts = sa.table(FTS_TABLE, sa.column("rowid"), sa.column("search_text"))


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic: the search index's tables and index are not models; leave them out."""
    if type_ == "table" and name and name.startswith(FTS_TABLE):
        return False
    return not (type_ == "index" and name == PG_INDEX)


def like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def staff_condition(words: list[str]):
    """Members whose ``search_text`` holds every one of ``words`` (already folded)."""
    if not words:
        return sa.true()
    if db.session.get_bind().dialect.name == "sqlite":
        indexed = [w for w in words if len(w) >= TRIGRAM and not WILDCARDS & set(w)]
    else:
        indexed = []
    conditions = []
    if indexed:
        # One FTS5 query for all the indexed words; no ESCAPE (none is needed).
        conditions.append(
            Member.id.in_(
                sa.select(_fts.c.rowid).where(
                    *(_fts.c.search_text.like(f"%{word}%") for word in indexed)
                )
            )
        )
    plain = [w for w in words if w not in indexed]
    if plain:
        conditions.append(
            rarely_true(
                sa.and_(*(Member.search_text.like(like_pattern(w), escape="\\") for w in plain))
            )
        )
    return sa.and_(*conditions)
