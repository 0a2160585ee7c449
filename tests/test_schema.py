"""Schema hygiene that SQLite would let slip and PostgreSQL would not."""

from collections import Counter

from coalition.extensions import db


def test_constraint_names_are_unique_in_each_table():
    for table in db.metadata.sorted_tables:
        names = [c.name for c in table.constraints if c.name]
        duplicates = [n for n, k in Counter(str(n) for n in names).items() if k > 1]
        assert not duplicates, f"{table.name}: constraint names used twice: {duplicates}"


def test_index_names_are_unique_in_the_schema():
    names = [str(i.name) for t in db.metadata.sorted_tables for i in t.indexes]
    duplicates = [n for n, k in Counter(names).items() if k > 1]
    assert not duplicates, duplicates
