"""The search index (portal/search.py writes and queries it): one table per kind of object, each
row the object's id (`rowid`) and its text, already split into tokens (`body`).

On SQLite each table is an FTS5 virtual table whose rowid is the object's id. On PostgreSQL a
plain table that also keeps `to_tsvector('simple', body)` in a generated column (`tsv`) with a GIN
index: a phrase query rechecks the rows the index found against the stored vector instead of
parsing their text again, and the planner has statistics to choose its plan by. Created by their
migration on both.
"""
from sqlalchemy import Column, Computed, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable

from portal.extensions import db

FTS5_OPTIONS = "tokenize = 'unicode61 remove_diacritics 0'"  # the text arrives tokenised: split on spaces only
TS_CONFIG = text("'simple'")  # no stemming, no stop words: the tokens are ours
TSV = "to_tsvector('simple'::regconfig, body)"  # as PostgreSQL writes it back


def _index_table(name):
    table = Table(
        name,
        db.metadata,
        Column("rowid", Integer, primary_key=True, autoincrement=False),
        Column("body", Text, nullable=False),
        Column("tsv", TSVECTOR, Computed(TSV, persisted=True)),  # PostgreSQL only: FTS5 has no such column
        info={"search_index": True},
    )
    Index(f"ix_{name}_tsv", table.c.tsv, postgresql_using="gin").ddl_if(dialect="postgresql")
    return table


ticket_search = _index_table("ticket_search")
notice_search = _index_table("notice_search")
suggestion_search = _index_table("suggestion_search")
record_search = _index_table("record_search")
SEARCH_TABLES = (ticket_search, notice_search, suggestion_search, record_search)
# FTS5 keeps each virtual table's data in these tables of its own (SQLite only)
FTS5_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")


@compiles(CreateTable, "sqlite")
def _create_fts5(create, compiler, **kw):
    """`metadata.create_all()` (the tests) makes the same FTS5 tables on SQLite as the migration."""
    table = create.element
    if table.info.get("search_index"):
        return f"CREATE VIRTUAL TABLE {table.name} USING fts5(body, {FTS5_OPTIONS})"
    return compiler.visit_create_table(create, **kw)


def in_schema_comparison(dialect_name):
    """Alembic's `include_object` for comparing the database with the models: SQLite's FTS5
    tables (and the tables FTS5 keeps for each) are not ordinary tables and are left out there."""
    names = {t.name for t in SEARCH_TABLES} | {t.name + s for t in SEARCH_TABLES for s in FTS5_SHADOWS}

    def include_object(obj, name, type_, reflected, compare_to):
        if dialect_name != "sqlite":
            return True
        table_name = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table_name not in names

    return include_object
