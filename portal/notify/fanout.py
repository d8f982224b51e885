"""Telling an audience: the worker turns one NotifyJob into the in-app notifications and outbox
rows of every person in it, BATCH people per transaction, with bulk inserts that skip what an
earlier (interrupted) round already wrote. A job is locked while a batch runs (FOR UPDATE SKIP
LOCKED; SQLite's write lock), so two workers never take the same batch."""
from sqlalchemy import and_, func, select

from portal.database import insert_ignore, unit_of_work
from portal.extensions import db
from portal.models import (
    Channel,
    Consultation,
    ConsultationAnswer,
    Delivery,
    DeliveryStatus,
    Event,
    Notice,
    Notification,
    NotifyJob,
    Residency,
    Role,
    Survey,
    SurveyResponse,
    Unit,
    User,
    consultation_building,
    survey_building,
)
from portal.notify import after_quiet_hours, local_day_bounds, prefs, row_values, texts
from portal.notify.kinds import KINDS

BATCH = 500
MODELS = {"notice": Notice, "event": Event, "consultation": Consultation, "survey": Survey}


def run_jobs(now, max_batches=40):
    """Expands pending jobs, one batch per transaction. Returns how many people were told."""
    told = 0
    for _ in range(max_batches):
        with unit_of_work():
            job = db.session.scalar(
                select(NotifyJob).where(NotifyJob.done_at.is_(None)).order_by(NotifyJob.id).limit(1).with_for_update(skip_locked=True)
            )
            if job is None:
                break
            told += _batch(job, now)
    return told


def audience_query(audience, after_id):
    query = select(User).where(User.role == Role.RESIDENT, User.is_active, User.id > after_id)
    homes = select(Residency.user_id).join(Unit, Unit.id == Residency.unit_id)
    conditions = []
    if audience.get("buildings") is not None:
        conditions.append(Unit.building_id.in_(audience["buildings"] or [-1]))
    if audience.get("owners_only"):
        conditions.append(Residency.is_owner)
    consultation_id = audience.get("unanswered_consultation")
    if consultation_id:
        asked = select(consultation_building.c.building_id).where(consultation_building.c.consultation_id == consultation_id)
        answered = select(ConsultationAnswer.unit_id).where(ConsultationAnswer.consultation_id == consultation_id)
        conditions += [Unit.building_id.in_(asked), Residency.is_owner, Unit.id.not_in(answered)]
    survey = db.session.get(Survey, audience["unanswered_survey"]) if audience.get("unanswered_survey") else None
    if survey is not None:
        asked = select(survey_building.c.building_id).where(survey_building.c.survey_id == survey.id)
        conditions.append(Unit.building_id.in_(asked))
        if survey.is_owners_only:
            conditions.append(Residency.is_owner)
        if survey.is_per_household:  # someone of a household that has not answered
            conditions.append(Unit.id.not_in(select(SurveyResponse.unit_id).where(SurveyResponse.survey_id == survey.id)))
        else:
            query = query.where(User.id.not_in(select(SurveyResponse.user_id).where(SurveyResponse.survey_id == survey.id)))
    if conditions:
        query = query.where(User.id.in_(homes.where(and_(*conditions))))
    return query.order_by(User.id)


def _batch(job, now):
    spec = KINDS.get(job.kind)
    model = MODELS.get(job.object_type)
    obj = db.session.get(model, job.object_id) if model and spec else None
    if obj is None:
        job.done_at = now
        return 0
    people = db.session.scalars(audience_query(job.audience or {}, job.cursor).limit(BATCH)).all()
    if not people:
        job.done_at = now
        return 0
    target = texts.target(obj)
    base = f"{job.kind}:{target.object_type}{target.object_id}:{job.ref}"
    user_prefs = prefs.load([p.id for p in people])
    words = {}
    later = after_quiet_hours(now)
    capped = _capped([p.id for p in people], later) if not spec.urgent else set()
    notifications, deliveries = [], []
    for person in people:
        if person.language not in words:
            words[person.language] = texts.render(spec, obj, person.language, None, now)
        w = words[person.language]
        key = f"{base}:{person.id}"
        notifications.append({
            "key": key, "user_id": person.id, "kind": job.kind, "title": w.title, "body": w.body, "link": target.path,
            "object_type": target.object_type, "object_id": target.object_id, "is_urgent": spec.urgent, "created_at": now,
        })
        for n, chain in enumerate(prefs.plan(person, spec, user_prefs.get(person.id))):
            for position, channel in enumerate(chain):
                row = row_values(spec, target, key, person, channel, w, now, position, f"{key}:{n}")
                if position == 0 and not spec.urgent and channel in (Channel.SMS, Channel.WECHAT):
                    row["next_attempt_at"] = later
                    if channel == Channel.SMS and person.id in capped:
                        row.update(status=DeliveryStatus.SKIPPED, error_code="cap", last_error="daily SMS cap reached")
                deliveries.append(row)
    _insert_ignore(Notification.__table__, notifications)
    _insert_ignore(Delivery.__table__, deliveries)
    job.cursor = people[-1].id
    job.told += len(people)
    if len(people) < BATCH:
        job.done_at = now
    return len(people)


def _capped(user_ids, when):
    """Of these residents, those who already have the day's allowance of SMS."""
    from portal.services import settings

    since, until = local_day_bounds(when)
    rows = db.session.execute(
        select(Delivery.user_id, func.count(Delivery.id)).where(
            Delivery.user_id.in_(user_ids), Delivery.channel == Channel.SMS, Delivery.is_urgent.is_(False),
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENT]),
            Delivery.next_attempt_at >= since, Delivery.next_attempt_at < until,
        ).group_by(Delivery.user_id)
    ).all()
    cap = settings.get("sms_daily_cap")
    return {user_id for user_id, count in rows if count >= cap}


def _insert_ignore(table, rows):
    insert_ignore(db.session, table, rows)
