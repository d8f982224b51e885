"""Search through an index: ticket, notice, suggestion and communication-record text (S3.6).

Text is split into tokens here, the same way for what is stored and what is asked: a run of
Chinese characters becomes overlapping pairs (漏水管 → 漏水 水管; a lone character stays itself),
letters and digits become lower-case words. Each whitespace-separated part of a query is a
phrase (its tokens adjacent and in order) and every part must be found, so 漏水管 finds 漏水管
and not 漏了一点水管. SQLite keeps the tokens in FTS5 tables, PostgreSQL in plain tables with a
GIN-indexed `to_tsvector('simple', body)` (portal/models/search.py); `matches(Model, q)` is the
clause for either, to narrow the query a list already builds. Ticket numbers, phone numbers and
12345 order numbers are also matched exactly on their own indexed columns.

Every ORM write to a searched object writes its index row in the same transaction (the session
events at the end); bulk writes that bypass the ORM call `reindex()`.
"""
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import (
    column,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    select,
    table,
    union_all,
)
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import CommRecord, Notice, Suggestion, Ticket, TicketAlias, User
from portal.models.search import (
    TS_CONFIG,
    notice_search,
    record_search,
    suggestion_search,
    ticket_search,
)

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # CJK unified ideographs and their extensions
_RUNS = re.compile(f"([{HAN}]+)|([^\\W_{HAN}]+)")
MAX_TEXT = 100_000  # characters of one text that are indexed (and of a query that are read)
MAX_WORD = 64  # characters of a word that count
MAX_PARTS = 8  # whitespace-separated parts of a query that count
MAX_PHRASE = 32  # tokens of one part that count


def _runs(text):
    """(is_han, run) for each run of Chinese characters, or of other letters and digits."""
    text = unicodedata.normalize("NFKC", text or "")[:MAX_TEXT].lower()
    for match in _RUNS.finditer(text):
        han, word = match.groups()
        yield (True, han) if han else (False, word[:MAX_WORD])


def _run_tokens(is_han, run):
    if not is_han or len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokenize(text):
    """漏水管, Room 3B → ['漏水', '水管', 'room', '3b']."""
    return [token for is_han, run in _runs(text) for token in _run_tokens(is_han, run)]


def document(*texts):
    """What the index holds for an object's texts: their tokens, then the last character of
    each longer Chinese run, so that a one-character query finds a character wherever it stands
    (elsewhere it begins a pair)."""
    tokens, last = [], {}
    for text in texts:
        for is_han, run in _runs(text):
            tokens.extend(_run_tokens(is_han, run))
            if is_han and len(run) > 1:
                last[run[-1]] = True
    return " ".join(tokens + list(last))


def _parts(q):
    """The query's parts, each a list of (token, is_prefix): a lone Chinese character matches
    as the beginning of a token (水 finds 水管), everything else whole."""
    parts = []
    for chunk in (q or "")[:MAX_TEXT].split()[:MAX_PARTS]:
        tokens = [(t, is_han and len(run) == 1) for is_han, run in _runs(chunk) for t in _run_tokens(is_han, run)]
        if tokens:
            parts.append(tokens[:MAX_PHRASE])
    return parts


def fts5_query(parts):
    """FTS5 syntax: '"漏水" + "水管" AND "厨房"'. Tokens hold only letters and digits, so quoting
    them leaves nothing a user typed to be read as syntax."""
    return " AND ".join(" + ".join(f'"{t}"' + ("*" if prefix else "") for t, prefix in part) for part in parts)


def tsquery(parts):
    """PostgreSQL syntax: "('漏水' <-> '水管') & ('厨房')"."""
    return " & ".join("(" + " <-> ".join(f"'{t}'" + (":*" if prefix else "") for t, prefix in part) + ")" for part in parts)


# The four kinds


def _ticket_exact(q):
    """Ticket number, caller's phone, 12345 order number, the resident's phone: whole values only.
    Each of them has digits; a query without any is text alone, which lets PostgreSQL read the
    index in id order and stop at the first page."""
    if not q or len(q) > 40 or not any(ch.isdigit() for ch in q):
        return []
    return [
        select(Ticket.id).where(Ticket.number == q.upper()),
        select(TicketAlias.ticket_id).where(TicketAlias.number == q.upper()),  # a number it had before it was reclassified
        select(Ticket.id).where(Ticket.caller_phone == q),
        select(Ticket.id).where(Ticket.gov_order_number == q),
        select(Ticket.id).where(Ticket.resident_id.in_(select(User.id).where(User.phone == q))),
    ]


@dataclass(frozen=True)
class Kind:
    index: object  # the index table
    source: str  # the object's table
    fields: tuple  # the searched columns
    exact: object = None  # q -> selects of ids that match it exactly


KINDS = {
    Ticket: Kind(ticket_search, "ticket", ("description", "caller_name"), _ticket_exact),
    Notice: Kind(notice_search, "notice", ("title", "body")),
    Suggestion: Kind(suggestion_search, "suggestion", ("title", "body")),
    CommRecord: Kind(record_search, "comm_record", ("content", "participants", "result", "place")),
}


def _text_clause(index, parts):
    if db.session.get_bind().dialect.name == "postgresql":
        return index.c.tsv.bool_op("@@")(func.to_tsquery(TS_CONFIG, tsquery(parts)))
    return index.c.body.match(fts5_query(parts))


def matches(model, q):
    """The clause that narrows a query of `model` to the objects `q` finds (nothing, for a query
    with nothing to look for). Add it to the list's own, scoped query: it never widens it."""
    kind = KINDS[model]
    q = (q or "").replace("\x00", "")  # PostgreSQL refuses NUL in text, even in a comparison
    parts = _parts(q)
    found = [select(kind.index.c.rowid).where(_text_clause(kind.index, parts))] if parts else []
    if kind.exact is not None:
        found += kind.exact(unicodedata.normalize("NFKC", q).strip())  # full-width digits as typed on a phone
    if not found:
        return false()
    return model.id.in_(found[0] if len(found) == 1 else union_all(*found))


# Keeping the index current


def fill(connection, index_name, source_name, fields, batch=5000):
    """(Re)writes an index table from its source table's rows, in batches; returns the count.
    Names, not models: the migration that creates the index fills it with this too."""
    index = table(index_name, column("rowid"), column("body"))
    source = table(source_name, column("id"), *(column(f) for f in fields))
    connection.execute(delete(index))
    last, count = 0, 0
    while True:
        rows = connection.execute(select(source.c.id, *(source.c[f] for f in fields)).where(source.c.id > last)
                                  .order_by(source.c.id).limit(batch)).all()
        if not rows:
            return count
        connection.execute(insert(index), [{"rowid": r[0], "body": document(*r[1:])} for r in rows])
        last, count = rows[-1][0], count + len(rows)


def reindex(*models):
    """The index of these kinds (every kind when none is named) rewritten from their rows, in
    the caller's transaction: after bulk writes that bypass the ORM. Returns {table: rows}."""
    connection = db.session.connection()
    return {KINDS[m].source: fill(connection, KINDS[m].index.name, KINDS[m].source, KINDS[m].fields) for m in models or KINDS}


def _changed(obj, fields):
    state = inspect(obj)
    return any(state.attrs[f].history.has_changes() for f in fields)


@event.listens_for(Session, "after_flush")
def _follow_orm_writes(session, flush_context):
    """Objects created or whose searched text changed get their index row (re)written, deleted
    ones lose it: in the flush's own transaction, so the index commits or rolls back with them."""
    write, drop = {}, {}
    for obj in session.new:
        kind = KINDS.get(type(obj))
        if kind is not None:
            write.setdefault(kind, {})[obj.id] = document(*(getattr(obj, f) for f in kind.fields))
    for obj in session.dirty:
        kind = KINDS.get(type(obj))
        if kind is not None and _changed(obj, kind.fields):
            write.setdefault(kind, {})[obj.id] = document(*(getattr(obj, f) for f in kind.fields))
    for obj in session.deleted:
        kind = KINDS.get(type(obj))
        if kind is not None and inspect(obj).identity:
            drop.setdefault(kind, set()).add(inspect(obj).identity[0])
    for kind in {*write, *drop}:
        rows = write.get(kind, {})
        _write(session.connection(), kind.index, rows, drop.get(kind, set()) | set(rows))


def _write(connection, index, rows, stale_ids):
    connection.execute(delete(index).where(index.c.rowid.in_(sorted(stale_ids))))
    if rows:
        connection.execute(insert(index), [{"rowid": i, "body": body} for i, body in rows.items()])


def forget(model, ids):
    """Index rows of objects deleted without the ORM (a bulk DELETE), in the caller's transaction."""
    if ids:
        _write(db.session.connection(), KINDS[model].index, {}, set(ids))
