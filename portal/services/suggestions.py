"""The online suggestion box (意见箱, S2.5): posts, support per household, moderation, the
regular opening of the box, public status and reply, studies of important suggestions."""


from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    BoxOpening,
    Study,
    Suggestion,
    SuggestionStatus,
    SuggestionSupport,
    SuggestionTopic,
    TicketCategory,
    TicketChannel,
    User,
)
from portal.notify import notify
from portal.services import tickets

TOPIC_LABELS = {
    SuggestionTopic.ENVIRONMENT: _l("Environment"),
    SuggestionTopic.SECURITY: _l("Security"),
    SuggestionTopic.FACILITIES: _l("Facilities"),
    SuggestionTopic.FEES: _l("Fees"),
    SuggestionTopic.ACTIVITIES: _l("Activities"),
    SuggestionTopic.OTHER: _l("Other"),
}
STATUS_LABELS = {
    SuggestionStatus.NEW: _l("New"),
    SuggestionStatus.UNDER_REVIEW: _l("Under review"),
    SuggestionStatus.PLANNED: _l("Planned"),
    SuggestionStatus.DONE: _l("Done"),
    SuggestionStatus.DECLINED: _l("Declined"),
    SuggestionStatus.DUPLICATE: _l("Duplicate"),
}


class SuggestionError(ValueError):
    pass


def post(author, unit, topic, title, body, anonymous, only_my_building, now, idempotency_key=None):
    if idempotency_key:
        existing = db.session.scalar(select(Suggestion).where(Suggestion.idempotency_key == idempotency_key))
        if existing:
            return existing
    suggestion = Suggestion(
        author_id=author.id, unit_id=unit.id if unit else None, building_id=unit.building_id if (unit and only_my_building) else None,
        topic=SuggestionTopic(topic), title=title.strip(), body=body.strip(), is_anonymous=bool(anonymous),
        idempotency_key=idempotency_key, created_at=now,
    )
    db.session.add(suggestion)
    db.session.flush()
    return suggestion


def support(suggestion, user, unit, now):
    """Once per household: a second support from the same home is a no-op. Returns True if counted."""
    if suggestion.hidden_at is not None:
        raise SuggestionError(_("This suggestion was hidden."))
    try:
        with db.session.begin_nested():
            db.session.add(SuggestionSupport(suggestion_id=suggestion.id, unit_id=unit.id, user_id=user.id, created_at=now))
            db.session.flush()
    except IntegrityError:
        return False
    db.session.execute(update(Suggestion).where(Suggestion.id == suggestion.id).values(support_count=Suggestion.support_count + 1))
    db.session.refresh(suggestion)
    return True


def hide(suggestion, reason, actor, now):
    suggestion.hidden_at = now
    suggestion.hidden_reason = reason.strip()
    suggestion.hidden_by_id = actor.id


def unread():
    """What arrived since the box was last opened."""
    return db.session.scalars(select(Suggestion).where(Suggestion.opening_id.is_(None)).order_by(Suggestion.id)).all()


def open_box(actor, now):
    """Staff open the box (S2.5.1): the session records who and when, and what it read."""
    items = unread()
    opening = BoxOpening(opened_by_id=actor.id, opened_at=now, read_count=len(items))
    db.session.add(opening)
    db.session.flush()
    for item in items:
        item.opening_id = opening.id
        if item.status == SuggestionStatus.NEW:
            item.status = SuggestionStatus.UNDER_REVIEW
    return opening, items


def answer(suggestion, status, reply, actor, now, duplicate_of=None):
    """The public status and reply; the author and its supporters hear of it by email if they chose email."""
    status = SuggestionStatus(status)
    if status == SuggestionStatus.DUPLICATE:
        if duplicate_of is None or duplicate_of.id == suggestion.id:
            raise SuggestionError(_("Choose the suggestion this one duplicates."))
        suggestion.duplicate_of_id = duplicate_of.id
    suggestion.status = status
    suggestion.reply = reply.strip()
    suggestion.replied_at = now
    suggestion.replied_by_id = actor.id
    if suggestion.study and suggestion.reply and suggestion.study.completed_at is None:
        suggestion.study.completed_at = now  # the study ends with its published reply
    _notify(suggestion, actor, now)


def _notify(suggestion, actor, now):
    """The author and its supporters hear of the answer through their channels."""
    supporter_ids = select(SuggestionSupport.user_id).where(SuggestionSupport.suggestion_id == suggestion.id)
    people = db.session.scalars(select(User).where(or_(User.id == suggestion.author_id, User.id.in_(supporter_ids))).order_by(User.id)).all()
    notify("suggestion_replied", suggestion, people, now=now, actor=actor, ref=suggestion.replied_at.isoformat(), extra={"text": suggestion.reply})


def start_study(suggestion, owner, deadline, notes, actor, now):
    """An important suggestion gets a study with an owner and a deadline (S2.5.2)."""
    suggestion.is_important = True
    if suggestion.study is None:
        suggestion.study = Study(owner_id=owner.id, deadline=deadline, notes=notes.strip(), created_at=now)
    else:
        suggestion.study.owner_id, suggestion.study.deadline = owner.id, deadline
        suggestion.study.notes = notes.strip()
    return suggestion.study


def overdue_studies(today):
    return db.session.scalars(
        select(Study).where(Study.completed_at.is_(None), Study.deadline < today).order_by(Study.deadline)
    ).all()


def to_ticket(suggestion, actor, now):
    """The suggestion joins the register, keeping its link; an anonymous author stays anonymous."""
    if suggestion.ticket_id:
        raise SuggestionError(_("This suggestion is already a ticket."))
    author = None if suggestion.is_anonymous else db.session.get(User, suggestion.author_id)
    with force_locale("zh_Hans"):  # stored in the register, which is kept in the community's language
        anonymous = _("Anonymous")
    ticket, _created = tickets.create(
        category=TicketCategory.SUGGESTION, channel=TicketChannel.SUGGESTION_BOX,
        description=f"{suggestion.title}\n\n{suggestion.body}", actor=actor, now=now, resident=author,
        unit=None, caller_name="" if author else anonymous,
    )
    suggestion.ticket_id = ticket.id
    return ticket


def to_agenda(suggestion, forum):
    suggestion.forum_id = forum.id


def hidden_count():
    return db.session.scalar(select(func.count(Suggestion.id)).where(Suggestion.hidden_at.is_not(None)))


