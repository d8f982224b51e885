"""The suggestion box at the service level: posting (once), support once per household,
moderation and who sees what, opening the box, the public answer and who hears of it, studies of
important suggestions, and a suggestion joining the register."""
from datetime import date, datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal import permissions
from portal.extensions import db
from portal.models import (
    Event,
    EventType,
    Notification,
    Role,
    Suggestion,
    SuggestionStatus,
    SuggestionSupport,
    SuggestionTopic,
    TicketCategory,
    TicketChannel,
)
from portal.services import suggestions
from portal.services.suggestions import SuggestionError

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def people(make_building, make_user):
    class People:
        a, b = make_building("A栋", units=3), make_building("B栋", units=1)
        staff = make_user(role=Role.STAFF, name="王敏")

    People.author = make_user(name="周杰", units=[People.a.units[0]])
    People.spouse = make_user(name="周太太", units=[People.a.units[0]])
    People.neighbour = make_user(name="吴婷", units=[People.a.units[1]])
    People.other = make_user(name="孙丽", units=[People.b.units[0]])
    return People


def _post(person, title="增设充电桩", anonymous=False, only_my_building=False, now=NOW, key=None):
    return suggestions.post(person, person.residencies[0].unit, "facilities", f"  {title}  ", "  楼道充电不安全。 ", anonymous, only_my_building,
                            now, idempotency_key=key)


def _support(suggestion, person):
    return suggestions.support(suggestion, person, person.residencies[0].unit, NOW)


def _visible(user, building_ids):
    return db.session.scalars(select(Suggestion.title).where(*permissions.suggestion_scope(user, building_ids)).order_by(Suggestion.id)).all()


def test_a_suggestion_is_posted_tidy_for_the_community_or_one_building(people):
    public = _post(people.author)
    assert (public.title, public.body, public.topic, public.status) == ("增设充电桩", "楼道充电不安全。", SuggestionTopic.FACILITIES, SuggestionStatus.NEW)
    assert public.building_id is None and public.unit_id == people.a.units[0].id and not public.is_anonymous
    local = _post(people.author, "A栋门禁", only_my_building=True, anonymous=True)
    assert local.building_id == people.a.id and local.is_anonymous


def test_the_same_post_sent_twice_is_stored_once(people):
    first = _post(people.author, key="k-1")
    again = _post(people.author, title="别的标题", key="k-1")
    assert again.id == first.id
    assert db.session.scalar(select(func.count(Suggestion.id))) == 1


def test_an_unknown_topic_is_refused(people):
    with pytest.raises(ValueError):
        suggestions.post(people.author, None, "parking", "t", "b", False, False, NOW)


def test_support_counts_once_per_household(people):
    suggestion = _post(people.author)
    assert _support(suggestion, people.spouse) is True
    assert _support(suggestion, people.author) is False  # the same home
    assert _support(suggestion, people.neighbour) is True
    assert _support(suggestion, people.neighbour) is False
    db.session.commit()
    assert suggestion.support_count == 2
    assert db.session.scalar(select(func.count(SuggestionSupport.id))) == 2


def test_a_hidden_suggestion_takes_no_support(people):
    suggestion = _post(people.author)
    suggestions.hide(suggestion, "  含有电话号码  ", people.staff, NOW)
    assert (suggestion.hidden_at, suggestion.hidden_reason, suggestion.hidden_by_id) == (NOW, "含有电话号码", people.staff.id)
    with pytest.raises(SuggestionError, match="hidden"):
        _support(suggestion, people.neighbour)
    assert suggestions.hidden_count() == 1


def test_residents_see_the_communitys_and_their_buildings_suggestions_and_their_own_hidden_ones(people):
    _post(people.author, "全体")
    _post(people.author, "A栋", only_my_building=True)
    hidden = _post(people.author, "被隐藏")
    suggestions.hide(hidden, "广告", people.staff, NOW)
    db.session.flush()
    assert _visible(people.neighbour, [people.a.id]) == ["全体", "A栋"]
    assert _visible(people.other, [people.b.id]) == ["全体"]
    assert _visible(people.author, [people.a.id]) == ["全体", "A栋", "被隐藏"]
    assert permissions.suggestion_scope(people.staff, []) == ()


def test_opening_the_box_records_who_when_and_what_was_read(people):
    first, second = _post(people.author, "一"), _post(people.neighbour, "二")
    suggestions.answer(second, "planned", "已列入计划", people.staff, NOW)
    opening, items = suggestions.open_box(people.staff, NOW + timedelta(hours=1))
    assert (opening.opened_by_id, opening.opened_at, opening.read_count) == (people.staff.id, NOW + timedelta(hours=1), 2)
    assert items == [first, second] and first.opening_id == second.opening_id == opening.id
    assert first.status == SuggestionStatus.UNDER_REVIEW and second.status == SuggestionStatus.PLANNED  # an answered one keeps its status
    assert suggestions.unread() == []
    third = _post(people.other, "三")
    later, items = suggestions.open_box(people.staff, NOW + timedelta(days=7))
    assert items == [third] and later.read_count == 1


def test_opening_an_empty_box_is_still_recorded(people):
    opening, items = suggestions.open_box(people.staff, NOW)
    assert items == [] and opening.read_count == 0 and opening.id is not None


def test_the_answer_is_public_and_the_author_and_supporters_hear_of_it(people):
    suggestion = _post(people.author)
    _support(suggestion, people.neighbour)
    suggestions.answer(suggestion, "planned", "  下季度增设20个充电桩。 ", people.staff, NOW)
    db.session.commit()
    assert (suggestion.status, suggestion.reply, suggestion.replied_at, suggestion.replied_by_id) == (
        SuggestionStatus.PLANNED, "下季度增设20个充电桩。", NOW, people.staff.id)
    told = sorted(db.session.scalars(select(Notification.user_id).where(Notification.kind == "suggestion_replied")))
    assert told == sorted([people.author.id, people.neighbour.id])


def test_an_answer_changed_later_is_told_again(people):
    suggestion = _post(people.author)
    suggestions.answer(suggestion, "planned", "计划中", people.staff, NOW)
    suggestions.answer(suggestion, "done", "已完成", people.staff, NOW + timedelta(days=30))
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == people.author.id)) == 2


def test_a_duplicate_names_another_suggestion(people):
    original, copy = _post(people.author, "原帖"), _post(people.neighbour, "重复帖")
    with pytest.raises(SuggestionError, match="duplicates"):
        suggestions.answer(copy, "duplicate", "重复", people.staff, NOW)
    with pytest.raises(SuggestionError, match="duplicates"):
        suggestions.answer(copy, "duplicate", "重复", people.staff, NOW, duplicate_of=copy)
    assert copy.status == SuggestionStatus.NEW
    suggestions.answer(copy, "duplicate", "与原帖相同", people.staff, NOW, duplicate_of=original)
    assert copy.status == SuggestionStatus.DUPLICATE and copy.duplicate_of_id == original.id


def test_an_important_suggestion_is_studied_until_its_reply_is_published(people, make_user):
    owner, other_owner = make_user(role=Role.HEAD, name="张强"), make_user(role=Role.HEAD, name="刘洋")
    suggestion = _post(people.author)
    study = suggestions.start_study(suggestion, owner, date(2026, 12, 31), "  联系供电部门 ", people.staff, NOW)
    assert suggestion.is_important and (study.owner_id, study.deadline, study.notes) == (owner.id, date(2026, 12, 31), "联系供电部门")
    again = suggestions.start_study(suggestion, other_owner, date(2027, 1, 15), "换人负责", people.staff, NOW)
    assert again is study and study.owner_id == other_owner.id and study.deadline == date(2027, 1, 15)
    suggestions.answer(suggestion, "under_review", "", people.staff, NOW)
    assert study.completed_at is None  # no reply published yet
    suggestions.answer(suggestion, "planned", "已确定方案", people.staff, NOW + timedelta(days=3))
    assert study.completed_at == NOW + timedelta(days=3)


def test_overdue_studies_are_the_open_ones_past_their_deadline(people, make_user):
    owner = make_user(role=Role.HEAD)
    late, done, future = _post(people.author, "逾期"), _post(people.author, "已完成"), _post(people.author, "未到期")
    suggestions.start_study(late, owner, date(2026, 12, 1), "", people.staff, NOW)
    suggestions.start_study(done, owner, date(2026, 12, 1), "", people.staff, NOW)
    suggestions.start_study(future, owner, date(2026, 12, 8), "", people.staff, NOW)
    suggestions.answer(done, "done", "已完成", people.staff, NOW)
    db.session.flush()
    assert [s.suggestion.title for s in suggestions.overdue_studies(date(2026, 12, 8))] == ["逾期"]


def test_a_suggestion_joins_the_register_once_keeping_its_author(people):
    suggestion = _post(people.author)
    ticket = suggestions.to_ticket(suggestion, people.staff, NOW)
    assert ticket.category == TicketCategory.SUGGESTION and ticket.channel == TicketChannel.SUGGESTION_BOX
    assert ticket.description == "增设充电桩\n\n楼道充电不安全。" and ticket.resident_id == people.author.id
    assert suggestion.ticket_id == ticket.id and ticket.number.startswith("JY-")
    with pytest.raises(SuggestionError, match="already a ticket"):
        suggestions.to_ticket(suggestion, people.staff, NOW)


def test_an_anonymous_suggestion_stays_anonymous_in_the_register(people):
    ticket = suggestions.to_ticket(_post(people.author, anonymous=True), people.staff, NOW)
    assert ticket.resident_id is None and ticket.caller_name == "匿名"  # the register is kept in Chinese
    assert people.author.name not in (ticket.description + ticket.caller_name)


def test_a_suggestion_goes_on_a_forums_agenda(people):
    forum = Event(kind=EventType.FORUM, title="座谈会", starts_at=NOW + timedelta(days=10), ends_at=NOW + timedelta(days=10, hours=2),
                  created_by_id=people.staff.id)
    db.session.add(forum)
    db.session.flush()
    suggestion = _post(people.author)
    suggestions.to_agenda(suggestion, forum)
    assert suggestion.forum_id == forum.id
