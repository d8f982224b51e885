"""Text without control characters: every text column, and the text inside every JSON column, of
rows stored before the portal refused such characters loses them (C0 controls other than tab and
line feed, DEL, and on SQLite unpaired surrogates and NUL, which PostgreSQL never stored), and
CRLF or a lone CR becomes a line feed, as portal/inputs.py asks of everything that comes in now.
The search index is left alone: it is derived from the text, never shown (`flask search-reindex`
rebuilds it). Nothing to undo: the downgrade leaves the text clean.

Revision ID: 7182a55f6993
Revises: 5e0c1d2a9b47
Create Date: 2026-12-06 09:00:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7182a55f6993'
down_revision = '5e0c1d2a9b47'
branch_labels = None
depends_on = None

# As portal/inputs.py has them at this revision.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
LINE_ENDS = re.compile("\r\n?")
SEARCH_INDEXES = ("ticket_search", "notice_search", "suggestion_search", "record_search")
FTS5_SHADOWS = ("", "_data", "_idx", "_content", "_docsize", "_config")  # SQLite's FTS5 tables of each
SKIPPED = {name + suffix for name in SEARCH_INDEXES for suffix in FTS5_SHADOWS} | {"alembic_version"}
# PostgreSQL: what may be cleaned in a text column (it holds no NUL and no surrogates), and a JSON
# text's escapes that may stand for a control character or a CR.
PG_DIRTY = "[\x01-\x08\x0b-\x1f\x7f]"
PG_CONTROLS = "[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]"
JSON_ESCAPES = r"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\r"


def clean(text):
    return CONTROL.sub("", LINE_ENDS.sub("\n", text)) if isinstance(text, str) else text


def dirty(text):
    return isinstance(text, str) and ("\r" in text or CONTROL.search(text) is not None)


def clean_json(value):
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean(k): clean_json(v) for k, v in value.items()}
    return value


def _columns(inspector, table):
    text, structured = [], []
    for column in inspector.get_columns(table):
        if isinstance(column["type"], sa.JSON):
            structured.append(column["name"])
        elif isinstance(column["type"], sa.String):
            text.append(column["name"])
    return text, structured


def _clean_text(bind, table, columns):
    """One UPDATE per table: on SQLite through Python functions on the connection, on PostgreSQL
    with regexp_replace."""
    q = bind.dialect.identifier_preparer.quote
    if bind.dialect.name == "sqlite":
        sets = ", ".join(f"{q(c)} = portal_clean({q(c)})" for c in columns)
        where = " OR ".join(f"portal_dirty({q(c)})" for c in columns)
        bind.execute(sa.text(f"UPDATE {q(table)} SET {sets} WHERE {where}"))
        return
    sets = ", ".join(f"{q(c)} = regexp_replace(regexp_replace({q(c)}, :ends, :lf, 'g'), :controls, '', 'g')" for c in columns)
    where = " OR ".join(f"{q(c)} ~ :dirty" for c in columns)
    bind.execute(sa.text(f"UPDATE {q(table)} SET {sets} WHERE {where}"),
                 {"ends": "\r\n?", "lf": "\n", "controls": PG_CONTROLS, "dirty": PG_DIRTY})


def _clean_json(bind, inspector, table, column):
    """Row by row, among the rows whose JSON text has an escape that may need it."""
    key = inspector.get_pk_constraint(table)["constrained_columns"]
    if not key:
        return
    q = bind.dialect.identifier_preparer.quote
    t = sa.table(table, sa.column(column, sa.JSON), *(sa.column(k) for k in key))
    if bind.dialect.name == "sqlite":
        candidates = sa.text(f"{q(column)} LIKE '%\\u00%' OR {q(column)} LIKE '%\\u007%' OR {q(column)} LIKE '%\\r%'")
    else:
        candidates = sa.text(f"CAST({q(column)} AS TEXT) ~ :escapes").bindparams(escapes=JSON_ESCAPES)
    for row in bind.execute(sa.select(*(t.c[k] for k in key), t.c[column]).where(candidates)).all():
        value = row[-1]
        cleaned = clean_json(value)
        if cleaned != value:
            bind.execute(t.update().where(*(t.c[k] == row[i] for i, k in enumerate(key))).values({column: cleaned}))


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        raw = bind.connection.driver_connection
        raw.create_function("portal_clean", 1, clean, deterministic=True)
        raw.create_function("portal_dirty", 1, dirty, deterministic=True)
    inspector = sa.inspect(bind)
    for table in inspector.get_table_names():
        if table in SKIPPED:
            continue
        text, structured = _columns(inspector, table)
        if text:
            _clean_text(bind, table, text)
        for column in structured:
            _clean_json(bind, inspector, table, column)


def downgrade():
    pass
