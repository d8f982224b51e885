"""Consulting the owners before a major decision (征求意见, S4.2.2)."""
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Consultation, ConsultationAnswer, ConsultationOption, Residency, Unit
from portal.notify import Audience, notify


class ConsultationError(ValueError):
    pass


def create(title, explanation, options, deadline, buildings, actor, now):
    labels = [o.strip() for o in options if o.strip()]
    if len(labels) < 2:
        raise ConsultationError(_("Give at least two options."))
    if not buildings:
        raise ConsultationError(_("Choose the buildings whose owners are asked."))
    if deadline <= now:
        raise ConsultationError(_("The deadline must be in the future."))
    consultation = Consultation(title=title.strip(), explanation=explanation.strip(), deadline=deadline, buildings=list(buildings),
                                created_by_id=actor.id, created_at=now)
    consultation.options = [ConsultationOption(label=label, position=i) for i, label in enumerate(labels)]
    db.session.add(consultation)
    db.session.flush()
    notify("consultation_opened", consultation, Audience(buildings=[b.id for b in consultation.buildings], owners_only=True), now=now)
    return consultation


def remind_closing(now, ahead=timedelta(hours=24)):
    """Worker: a day before the deadline, owners whose household has not answered are reminded (once)."""
    due = db.session.scalars(
        select(Consultation).where(Consultation.closing_told_at.is_(None), Consultation.deadline > now, Consultation.deadline <= now + ahead)
        .limit(50).with_for_update(skip_locked=True)
    ).all()
    for consultation in due:
        consultation.closing_told_at = now
        notify("consultation_closing", consultation, Audience(unanswered_consultation=consultation.id), now=now)
    return len(due)


def owner_units(user, consultation):
    """The homes this person owns in the buildings asked: one answer per household."""
    aimed = {b.id for b in consultation.buildings}
    return [
        u for u in db.session.scalars(
            select(Unit).join(Residency, Residency.unit_id == Unit.id).where(Residency.user_id == user.id, Residency.is_owner).order_by(Unit.id)
        )
        if u.building_id in aimed
    ]


def answer(consultation, user, unit, option_id, now):
    if now >= consultation.deadline:
        raise ConsultationError(_("The deadline has passed."))
    if unit not in owner_units(user, consultation):
        raise ConsultationError(_("Only the owners of the buildings asked can answer."))
    option = next((o for o in consultation.options if o.id == option_id), None)
    if option is None:
        raise ConsultationError(_("Choose one of the options."))
    existing = db.session.scalar(select(ConsultationAnswer).where(ConsultationAnswer.consultation_id == consultation.id, ConsultationAnswer.unit_id == unit.id))
    if existing is None:
        existing = ConsultationAnswer(consultation_id=consultation.id, unit_id=unit.id, option_id=option.id, user_id=user.id, updated_at=now)
        db.session.add(existing)
    else:
        existing.option_id, existing.user_id, existing.updated_at = option.id, user.id, now
    db.session.flush()
    return existing


def results(consultation):
    """Answers per option and per building, and turnout: households answered of owner households asked."""
    building_ids = [b.id for b in consultation.buildings]
    per_option = dict(db.session.execute(
        select(ConsultationAnswer.option_id, func.count()).where(ConsultationAnswer.consultation_id == consultation.id).group_by(ConsultationAnswer.option_id)
    ).all())
    per_building = {}
    for building_id, option_id, count in db.session.execute(
        select(Unit.building_id, ConsultationAnswer.option_id, func.count())
        .join(Unit, Unit.id == ConsultationAnswer.unit_id)
        .where(ConsultationAnswer.consultation_id == consultation.id)
        .group_by(Unit.building_id, ConsultationAnswer.option_id)
    ):
        per_building.setdefault(building_id, {})[option_id] = count
    households = db.session.scalar(
        select(func.count(func.distinct(Residency.unit_id))).join(Unit, Unit.id == Residency.unit_id)
        .where(Residency.is_owner, Unit.building_id.in_(building_ids or [-1]))
    )
    answered = sum(per_option.values())
    return {
        "per_option": per_option,
        "per_building": per_building,
        "answered": answered,
        "households": households,
        "turnout": (answered / households) if households else 0.0,
    }
