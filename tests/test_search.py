"""portal/search.py: how text is split, what a query finds, and the index following every write."""
import random
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, select

from portal import search
from portal.extensions import db
from portal.models import (
    CommRecord,
    Notice,
    RecordKind,
    Role,
    Suggestion,
    SuggestionTopic,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketStatus,
    notice_search,
    record_search,
    suggestion_search,
    ticket_search,
    utcnow,
)
from portal.services import records, tickets


def test_chinese_becomes_overlapping_pairs_and_other_words_lower_case():
    assert search.tokenize("厨房漏水") == ["厨房", "房漏", "漏水"]
    assert search.tokenize("Room 3B，LED灯") == ["room", "3b", "led", "灯"]  # a lone character stays itself
    assert search.tokenize("ＢＸ－２０２６") == ["bx", "2026"]  # full-width forms as typed on a phone
    assert search.tokenize('"*(NEAR) 漏水 AND') == ["near", "漏水", "and"]  # no syntax survives, only words
    assert search.tokenize("") == [] and search.tokenize(None) == []


def test_the_document_also_holds_the_last_character_of_each_run():
    assert search.document("停水。", "水管") == "停水 水管 水 管"


def test_a_query_is_one_phrase_per_part_with_lone_characters_as_prefixes():
    parts = search._parts("漏水管 LED灯")
    assert search.fts5_query(parts) == '"漏水" + "水管" AND "led" + "灯"*'
    assert search.tsquery(parts) == "('漏水' <-> '水管') & ('led' <-> '灯':*)"


@pytest.fixture
def make_ticket(make_user):
    staff = make_user(role=Role.STAFF)

    def make(text, resident=None, **kw):
        ticket, _ = tickets.create(category=kw.pop("category", "repair"), channel=TicketChannel.HOTLINE, description=text, actor=staff,
                                   now=utcnow(), resident=resident, unit=resident.residencies[0].unit if resident else None, **kw)
        db.session.commit()
        return ticket

    return make


def _found(model, q):
    return db.session.scalars(select(model.id).where(search.matches(model, q)).order_by(model.id)).all()


def test_two_characters_find_them_inside_longer_text(make_ticket):
    kitchen = make_ticket("厨房漏水")
    make_ticket("楼道灯不亮")
    assert _found(Ticket, "漏水") == [kitchen.id]


def test_three_characters_must_stand_together(make_ticket):
    together = make_ticket("卫生间漏水管坏了")
    apart = make_ticket("漏了一点水管")
    assert _found(Ticket, "漏水管") == [together.id]
    assert _found(Ticket, "水管") == [together.id, apart.id]


def test_every_part_of_the_query_must_be_found(make_ticket):
    both = make_ticket("厨房天花板漏水")
    make_ticket("卫生间漏水")
    assert _found(Ticket, "厨房 漏水") == [both.id]
    assert _found(Ticket, "漏水 厨房") == [both.id]


def test_one_character_finds_it_wherever_it_stands(make_ticket):
    start, end, alone = make_ticket("水管坏了"), make_ticket("周六停水"), make_ticket("LED灯")
    make_ticket("电梯异响")
    assert _found(Ticket, "水") == [start.id, end.id]
    assert _found(Ticket, "灯") == [alone.id]


def test_ticket_numbers_and_phones_match_exactly(make_ticket, make_user):
    resident = make_user(phone="13812345678")
    mine = make_ticket("门禁刷不开", resident=resident, caller_phone="0571-88886666")
    caller = make_ticket("车位被占", caller_phone="13900001111")
    order = make_ticket("噪音扰民", gov_order_number="GD20261204001")
    assert _found(Ticket, mine.number.lower()) == [mine.id]
    assert _found(Ticket, " 13812345678 ") == [mine.id]  # the resident's own phone
    assert _found(Ticket, "１３８１２３４５６７８") == [mine.id]  # typed in full-width digits
    assert _found(Ticket, "0571-88886666") == [mine.id]
    assert _found(Ticket, "13900001111") == [caller.id]
    assert _found(Ticket, "GD20261204001") == [order.id]
    assert _found(Ticket, "1390000") == [] and _found(Ticket, mine.number[:-1]) == []  # part of a number finds nothing


def test_text_of_a_caller_is_found_by_their_name(make_ticket):
    ticket = make_ticket("车库积水", caller_name="欧阳锋")
    assert _found(Ticket, "欧阳") == [ticket.id]


@pytest.mark.parametrize("q", ['"', "*", "(", ")", "NEAR", "NEAR(漏水 水管)", '漏水"', "漏水*", "AND", "OR 漏水", "-漏水", "^漏", "a:b",
                               "'", "\\", "''''", "漏水 & 水管 | !", "<->", ":*", "x" * 5000, "漏" * 3000, "   ", "。，！", "\x00", "\u202e漏水"])
def test_query_syntax_and_absurd_queries_find_plainly_and_never_fail(make_ticket, q):
    ticket = make_ticket("厨房漏水，NEAR the door")
    # found exactly when every word of the query is in the text, whatever syntax is around it
    finds = q in ("NEAR", '漏水"', "漏水*", "-漏水", "^漏", "\u202e漏水")
    assert _found(Ticket, q) == ([ticket.id] if finds else [])


def test_nothing_to_look_for_finds_nothing(make_ticket):
    make_ticket("厨房漏水")
    for model in (Ticket, Notice, Suggestion, CommRecord):
        assert _found(model, "。！？") == [] and _found(model, "") == []


def _index_rows(index):
    return dict(db.session.execute(select(index.c.rowid, index.c.body)).all())


def test_the_index_follows_a_ticket_being_edited_and_deleted(make_ticket):
    ticket = make_ticket("厨房漏水")
    ticket.description = "阳台窗户关不严"
    db.session.commit()
    assert _found(Ticket, "漏水") == [] and _found(Ticket, "窗户") == [ticket.id]
    ticket.status = TicketStatus.CLOSED  # not searched: the index row stays as it was
    db.session.commit()
    assert _found(Ticket, "窗户") == [ticket.id]
    db.session.delete(ticket)
    db.session.commit()
    assert _found(Ticket, "窗户") == [] and _index_rows(ticket_search) == {}


def test_the_index_rolls_back_with_the_object(make_ticket):
    kept = make_ticket("厨房漏水")
    kept_id = kept.id
    extra = Ticket(number="BX-2099-0001", category=TicketCategory.REPAIR, channel=TicketChannel.ONLINE, description="楼顶漏水",
                   created_at=utcnow())
    db.session.add(extra)
    db.session.flush()
    assert _found(Ticket, "漏水") == [kept_id, extra.id]
    db.session.rollback()
    assert _found(Ticket, "漏水") == [kept_id] and list(_index_rows(ticket_search)) == [kept_id]


def test_notices_suggestions_and_records_are_indexed_as_they_change(make_user, make_notice):
    staff, resident = make_user(role=Role.STAFF), make_user()
    notice = make_notice(title="停水通知", body="周六**水箱清洗**")
    suggestion = Suggestion(author_id=resident.id, topic=SuggestionTopic.FACILITIES, title="增设充电桩", body="车棚里加充电桩")
    db.session.add(suggestion)
    record = records.add("visit", utcnow(), "走访了解漏水情况", staff, utcnow(), place="3号楼", participants="王敏、周杰", result="已约维修")
    db.session.commit()
    assert _found(Notice, "水箱") == [notice.id] and _found(Suggestion, "充电桩") == [suggestion.id]
    assert [_found(CommRecord, q) for q in ("漏水", "3号楼", "周杰", "约维")] == [[record.id]] * 4
    notice.body, suggestion.title, record.content = "电梯年检", "路灯", "回访"
    db.session.commit()
    assert _found(Notice, "水箱") == [] and _found(Notice, "停水 年检") == [notice.id]
    assert _found(Suggestion, "增设") == [] and _found(Suggestion, "路灯") == [suggestion.id]
    assert _found(CommRecord, "漏水") == [] and _found(CommRecord, "回访") == [record.id]
    db.session.delete(notice)
    db.session.delete(suggestion)
    db.session.commit()
    assert _index_rows(notice_search) == {} and _index_rows(suggestion_search) == {}


def test_purged_records_leave_the_index(make_user):
    staff = make_user(role=Role.STAFF)
    old = records.add("call", utcnow() - timedelta(days=365 * 30), "很久以前的漏水回访", staff, utcnow()).id
    new = records.add("call", utcnow(), "最近的漏水回访", staff, utcnow()).id
    db.session.commit()
    assert _found(CommRecord, "漏水") == [old, new]
    records.purge(utcnow())
    db.session.commit()
    assert _found(CommRecord, "漏水") == [new] and list(_index_rows(record_search)) == [new]


def _core_tickets(n, text):
    now = utcnow()
    db.session.execute(insert(Ticket), [
        {"number": f"BX-2098-{i:05d}", "category": TicketCategory.REPAIR, "channel": TicketChannel.ONLINE, "status": TicketStatus.NEW,
         "description": text, "created_at": now} for i in range(n)
    ])
    db.session.commit()


def test_reindex_takes_in_rows_written_without_the_orm(app, make_ticket):
    make_ticket("厨房漏水")
    _core_tickets(3, "地下车库积水")
    assert _found(Ticket, "积水") == []
    assert search.reindex(Ticket) == {"ticket": 4}
    db.session.commit()
    assert len(_found(Ticket, "积水")) == 3 and len(_found(Ticket, "漏水")) == 1


def test_search_reindex_command_rebuilds_every_kind(app, make_ticket, make_notice):
    make_ticket("厨房漏水")
    make_notice(title="停水通知")
    db.session.execute(delete(ticket_search))
    db.session.execute(delete(notice_search))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["search-reindex"])
    assert result.exit_code == 0, result.output
    assert "ticket 1" in result.output and "notice 1" in result.output
    db.session.expire_all()
    assert len(_found(Ticket, "漏水")) == 1 and len(_found(Notice, "停水")) == 1
    assert db.session.scalar(select(func.count()).select_from(ticket_search)) == 1


def test_the_demo_benchmark_tickets_have_common_and_rare_words():
    from portal.services import demo

    rng = random.Random(1)
    texts = [demo.describe(rng, category, i) for i in range(2000) for category in TicketCategory]
    assert len(set(texts)) > 1000  # believable variety, not a handful of sentences
    assert sum("漏水" in t for t in texts) > 100 and 0 < sum(demo.RARE[0] in t for t in texts) < 20
    assert all(search.tokenize(t) for t in texts)


def test_a_record_kind_filter_and_search_combine(make_user):
    staff = make_user(role=Role.STAFF)
    visit = records.add("visit", utcnow(), "漏水走访", staff, utcnow())
    records.add("call", utcnow(), "漏水电话", staff, utcnow())
    db.session.commit()
    assert db.session.scalars(records.search(RecordKind.VISIT.value, None, None, "漏水")).all() == [visit]
