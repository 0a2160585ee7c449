"""member search: a trigram index of members.search_text

SQLite: an FTS5 table with the trigram tokenizer over members.search_text
(external content), kept in step by three triggers, filled from the table.
PostgreSQL: pg_trgm's GIN index on members.search_text (pg_trgm is a trusted
extension from PostgreSQL 13: the database's owner may create it).

Neither is a model; coalition.members.search.include_object keeps Alembic's
comparison away from them.

Revision ID: 5c1d7e2a9b40
Revises: 0b245ee466a3
Create Date: 2026-11-28 13:50:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5c1d7e2a9b40'
down_revision = '0b245ee466a3'
branch_labels = None
depends_on = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE member_search USING fts5("
    "search_text, content='members', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER members_search_insert AFTER INSERT ON members BEGIN "
    "INSERT INTO member_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER members_search_delete AFTER DELETE ON members BEGIN "
    "INSERT INTO member_search(member_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER members_search_update AFTER UPDATE OF search_text ON members BEGIN "
    "INSERT INTO member_search(member_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO member_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO member_search(member_search) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS members_search_update",
    "DROP TRIGGER IF EXISTS members_search_delete",
    "DROP TRIGGER IF EXISTS members_search_insert",
    "DROP TABLE IF EXISTS member_search",
]
POSTGRESQL_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_members_search_trgm ON members USING gin (search_text gin_trgm_ops)",
]
POSTGRESQL_DOWN = ["DROP INDEX IF EXISTS ix_members_search_trgm"]


def _run(statements_by_dialect):
    for statement in statements_by_dialect.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade():
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP})


def downgrade():
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN})
