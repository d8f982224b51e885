"""Consulting the owners before a major decision (征求意见, S4.2.2), and owners' decisions counted as
民法典 art. 278 requires.

An owners' decision (一般事项 or 重大事项) counts floor area (专有部分面积) and owners:
- participation: owners holding two thirds or more (三分之二以上, at least) of the total area, and two
  thirds or more of all owners, take part;
- an ordinary matter passes when owners holding more than half (过半数, strictly more) of the
  participating area and more than half of the participating owners agree; a major matter (items
  6-8 of art. 278: raising the maintenance fund, rebuilding, changing the use of common parts or
  running a business on them) needs three quarters or more (四分之三以上, at least) of each.
Owners are counted as the Supreme People's Court's interpretation on 建筑物区分所有权 (art. 8, 9)
says: the total area is the sum of the units' areas; each unit is one owner, but units held by the
same buyer count as one, and the developer's units not yet sold or handed over count together as
one. Here "the same buyer" means the same recorded owners (a couple owning two flats together is
one owner); a unit without an owner recorded counts as the developer's when it is marked unsold,
and otherwise as an owner of its own. An abstention takes part and does not agree. One owner's
several units each bring their own area; the owner's one head goes with their answer, and when
their units answered differently, it counts as an abstention. Shares are exact fractions.
"""
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.extensions import db
from portal.i18n import to_local
from portal.models import (
    Building,
    Consultation,
    ConsultationAnswer,
    ConsultationKind,
    ConsultationOption,
    Notice,
    NoticeCategory,
    Residency,
    Unit,
    Vote,
)
from portal.notify import Audience, notify
from portal.services import notices

COMMENT_MAX = 1000
PARTICIPATION = Fraction(2, 3)  # 三分之二以上: two thirds or more
AGREEMENT = {  # (share, strictly more than it?)
    ConsultationKind.ORDINARY: (Fraction(1, 2), True),  # 过半数: more than half
    ConsultationKind.MAJOR: (Fraction(3, 4), False),  # 四分之三以上: three quarters or more
}
DECISIONS = tuple(AGREEMENT)

KIND_LABELS = {
    ConsultationKind.POLL: _l("Opinion poll"),
    ConsultationKind.ORDINARY: _l("Owners' decision: ordinary matter"),
    ConsultationKind.MAJOR: _l("Owners' decision: major matter"),
}
VOTE_LABELS = {Vote.AGREE: _l("Agree"), Vote.DISAGREE: _l("Disagree"), Vote.ABSTAIN: _l("Abstain")}
AGREEMENT_LABELS = {ConsultationKind.ORDINARY: _l("more than half"), ConsultationKind.MAJOR: _l("three quarters or more")}
PASSED, FAILED, TOO_FEW = "passed", "failed", "too_few"
OUTCOME_LABELS = {PASSED: _l("Passed"), FAILED: _l("Not passed"), TOO_FEW: _l("Too few took part")}


class ConsultationError(ValueError):
    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field  # the form field it is about, if any


def is_decision(consultation):
    return consultation.kind in DECISIONS


def option_label(option):
    """An option as the reader's language says it: a decision's agree/disagree/abstain is translated."""
    return str(VOTE_LABELS[option.vote]) if option.vote else option.label


def create(title, explanation, options, deadline, buildings, actor, now, kind=ConsultationKind.POLL):
    """A poll asks its own options; an owners' decision always asks agree, disagree or abstain."""
    kind = ConsultationKind(kind)
    if kind in DECISIONS:
        with force_locale("zh_Hans"):
            choices = [ConsultationOption(label=str(VOTE_LABELS[v]), vote=v, position=i) for i, v in enumerate(Vote)]
    else:
        labels = [o.strip() for o in options if o.strip()]
        if len(labels) < 2:
            raise ConsultationError(_("Give at least two options."), "options")
        choices = [ConsultationOption(label=label, position=i) for i, label in enumerate(labels)]
    if not buildings:
        raise ConsultationError(_("Choose the buildings whose owners are asked."), "buildings")
    if deadline <= now:
        raise ConsultationError(_("The deadline must be in the future."), "deadline")
    consultation = Consultation(kind=kind, title=title.strip(), explanation=explanation.strip(), deadline=deadline, buildings=list(buildings),
                                created_by_id=actor.id, created_at=now)
    consultation.options = choices
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


def answer(consultation, user, unit, option_id, now, comment=""):
    if now >= consultation.deadline:
        raise ConsultationError(_("The deadline has passed."))
    if unit not in owner_units(user, consultation):
        raise ConsultationError(_("Only the owners of the buildings asked can answer."))
    option = next((o for o in consultation.options if o.id == option_id), None)
    if option is None:
        raise ConsultationError(_("Choose one of the options."))
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ConsultationError(_("A comment can be at most %(n)d characters long.", n=COMMENT_MAX))
    existing = db.session.scalar(select(ConsultationAnswer).where(ConsultationAnswer.consultation_id == consultation.id, ConsultationAnswer.unit_id == unit.id))
    if existing is None:
        existing = ConsultationAnswer(consultation_id=consultation.id, unit_id=unit.id, option_id=option.id, user_id=user.id, comment=comment,
                                      updated_at=now)
        db.session.add(existing)
    else:
        existing.option_id, existing.user_id, existing.comment, existing.updated_at = option.id, user.id, comment, now
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


# Owners' decisions (民法典 art. 278)


def share(part, whole):
    """part / whole as an exact fraction (None for an empty whole)."""
    return Fraction(part) / Fraction(whole) if whole else None


@dataclass(frozen=True)
class Check:
    """`part` of `whole` against a threshold share: at least it, or with `strict` more than it."""

    part: Decimal | int
    whole: Decimal | int
    threshold: Fraction
    strict: bool = False

    @property
    def share(self):
        return share(self.part, self.whole)

    @property
    def met(self):
        value = self.share
        if value is None:
            return False
        return value > self.threshold if self.strict else value >= self.threshold


@dataclass(frozen=True)
class Tally:
    area: Decimal = Decimal("0.00")
    owners: int = 0
    units: int = 0


@dataclass
class Decision:
    """The count of an owners' decision: what took part, what each option got, the law's checks."""

    kind: ConsultationKind
    total: Tally
    taking_part: Tally
    per_option: dict  # option id -> Tally
    agree_option_id: int
    units_without_area: int = 0
    developer_units: int = 0  # marked unsold, no owner recorded: one owner together
    ownerless_units: int = 0  # no owner recorded, not marked unsold: one owner each
    split_owners: int = 0  # owners whose units answered differently: their head abstains
    checks: dict = field(default_factory=dict)

    @property
    def area_complete(self):
        return self.units_without_area == 0

    @property
    def agreed(self):
        return self.per_option.get(self.agree_option_id, Tally())

    @property
    def took_part(self):
        return self.checks["participation_area"].met and self.checks["participation_owners"].met

    @property
    def outcome(self):
        if not self.took_part:
            return TOO_FEW
        return PASSED if self.checks["agreement_area"].met and self.checks["agreement_owners"].met else FAILED


DEVELOPER = "developer"


def _owner_of(unit_id, owners, is_unsold):
    """Who a unit counts as: its recorded owners together, the developer, or itself."""
    if owners:
        return frozenset(owners)
    return DEVELOPER if is_unsold else ("unit", unit_id)


def decide(consultation):
    """Counts an owners' decision over the active units of the buildings asked (see the module's notes)."""
    building_ids = [b.id for b in consultation.buildings] or [-1]
    units = db.session.execute(
        select(Unit.id, Unit.area, Unit.is_unsold).where(Unit.building_id.in_(building_ids), Unit.is_active)
    ).all()
    owners = {}
    for unit_id, user_id in db.session.execute(
        select(Residency.unit_id, Residency.user_id).join(Unit, Unit.id == Residency.unit_id)
        .where(Residency.is_owner, Unit.building_id.in_(building_ids), Unit.is_active)
    ):
        owners.setdefault(unit_id, set()).add(user_id)
    answers = dict(db.session.execute(
        select(ConsultationAnswer.unit_id, ConsultationAnswer.option_id).where(ConsultationAnswer.consultation_id == consultation.id)
    ).all())
    options = {o.vote: o.id for o in consultation.options}
    who = {u.id: _owner_of(u.id, owners.get(u.id), u.is_unsold) for u in units}
    area = {u.id: u.area or Decimal("0.00") for u in units}
    heads, option_area, option_units = {}, {}, {}
    for unit_id, option_id in answers.items():
        if unit_id not in who:
            continue  # a unit no longer asked (deactivated)
        heads.setdefault(who[unit_id], set()).add(option_id)
        option_area[option_id] = option_area.get(option_id, Decimal("0.00")) + area[unit_id]
        option_units[option_id] = option_units.get(option_id, 0) + 1
    option_heads = {}
    for chosen in heads.values():
        head = next(iter(chosen)) if len(chosen) == 1 else options[Vote.ABSTAIN]
        option_heads[head] = option_heads.get(head, 0) + 1
    decision = Decision(
        kind=consultation.kind,
        total=Tally(sum(area.values(), Decimal("0.00")), len(set(who.values())), len(units)),
        taking_part=Tally(sum(option_area.values(), Decimal("0.00")), len(heads), sum(option_units.values())),
        per_option={o.id: Tally(option_area.get(o.id, Decimal("0.00")), option_heads.get(o.id, 0), option_units.get(o.id, 0))
                    for o in consultation.options},
        agree_option_id=options[Vote.AGREE],
        units_without_area=sum(1 for u in units if u.area is None),
        developer_units=sum(1 for key in who.values() if key == DEVELOPER),
        ownerless_units=sum(1 for key in who.values() if isinstance(key, tuple)),
        split_owners=sum(1 for chosen in heads.values() if len(chosen) > 1),
    )
    threshold, strict = AGREEMENT[consultation.kind]
    decision.checks = {
        "participation_area": Check(decision.taking_part.area, decision.total.area, PARTICIPATION),
        "participation_owners": Check(decision.taking_part.owners, decision.total.owners, PARTICIPATION),
        "agreement_area": Check(decision.agreed.area, decision.taking_part.area, threshold, strict),
        "agreement_owners": Check(decision.agreed.owners, decision.taking_part.owners, threshold, strict),
    }
    return decision


# The published result


def lock(consultation):
    """Serialise publishing: PostgreSQL locks the row (and reads the notice a concurrent publisher
    may just have linked); on SQLite the POST already holds the write lock (database.begin_write)."""
    return db.session.execute(select(Consultation.notice_id).where(Consultation.id == consultation.id).with_for_update()).scalar()


def publish_result(consultation, actor, now):
    """After the deadline, once: the result goes on the notice board (community-wide when every
    building was asked, else as bulletins for the buildings asked) and reaches its audience the way
    every notice does. Returns the notice."""
    if lock(consultation) is not None:
        raise ConsultationError(_("The result has been published already."))
    if now < consultation.deadline:
        raise ConsultationError(_("The result can be published after the deadline."))
    decision = decide(consultation) if is_decision(consultation) else None
    if decision is not None and not decision.area_complete:
        raise ConsultationError(_("%(n)d units of the buildings asked have no floor area recorded: the area count is incomplete. "
                                  "Ask the administrator to record them first.", n=decision.units_without_area))
    title, body = result_text(consultation, decision, results(consultation) if decision is None else None)
    asked = {b.id for b in consultation.buildings}
    active = set(db.session.scalars(select(Building.id).where(Building.is_active)))
    notice = Notice()
    notices.save(notice, title=title[:200], body=body, category=NoticeCategory.NEWS, community_wide=active <= asked,
                 buildings=consultation.buildings, publish_at=now, expires_at=None, is_pinned=False, actor=actor, now=now)
    consultation.notice_id = notice.id
    return notice


def percent(value):
    """An exact share for the eye (the checks compare the exact fraction)."""
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def square_metres(value):
    return f"{value:,.2f}"


def result_text(consultation, decision, counts):
    """The notice's title and body (Markdown), in the community's language."""
    with force_locale("zh_Hans"):
        intro = _("%(kind)s: the owners of %(buildings)s were asked until %(deadline)s.", kind=KIND_LABELS[consultation.kind],
                  buildings="、".join(b.name for b in consultation.buildings), deadline=to_local(consultation.deadline).strftime("%Y-%m-%d %H:%M"))
        if decision is None:
            title = _("Result: %(title)s", title=consultation.title)
            lines = [_("%(a)d of %(h)d owner households answered (%(p).0f%%)", a=counts["answered"], h=counts["households"], p=counts["turnout"] * 100)]
            lines += [f"{o.label}：{counts['per_option'].get(o.id, 0)}" for o in consultation.options]
            parts = [intro, _list(lines)]
        else:
            title = _("Decision: %(title)s", title=consultation.title)
            outcome = "**" + _("Outcome: %(outcome)s", outcome=OUTCOME_LABELS[decision.outcome]) + "**"
            options = [_option_line(decision, o) for o in consultation.options]
            parts = [intro, outcome, _list(_check_lines(decision)), _list(options), _("How it was counted: %(rules)s", rules=counting_rules()),
                     *counting_notes(decision)]
        return title, "\n\n".join(parts)


def _list(lines):
    return "\n".join(f"- {line}" for line in lines)


def _met(check):
    return _("met") if check.met else _("not met")


def _check_lines(decision):
    checks, needed = decision.checks, AGREEMENT_LABELS[decision.kind]
    area, owners = checks["participation_area"], checks["participation_owners"]
    agree_area, agree_owners = checks["agreement_area"], checks["agreement_owners"]
    return [
        _("Taking part by floor area: %(part)s of %(whole)s m² (%(share)s); two thirds or more needed: %(met)s",
          part=square_metres(area.part), whole=square_metres(area.whole), share=percent(area.share), met=_met(area)),
        _("Taking part by owners: %(part)d of %(whole)d (%(share)s); two thirds or more needed: %(met)s",
          part=owners.part, whole=owners.whole, share=percent(owners.share), met=_met(owners)),
        _("Agreeing by floor area: %(part)s of the %(whole)s m² taking part (%(share)s); %(needed)s needed: %(met)s",
          part=square_metres(agree_area.part), whole=square_metres(agree_area.whole), share=percent(agree_area.share), needed=needed,
          met=_met(agree_area)),
        _("Agreeing by owners: %(part)d of the %(whole)d taking part (%(share)s); %(needed)s needed: %(met)s",
          part=agree_owners.part, whole=agree_owners.whole, share=percent(agree_owners.share), needed=needed, met=_met(agree_owners)),
    ]


def _option_line(decision, option):
    tally, whole = decision.per_option[option.id], decision.taking_part
    return _("%(option)s: %(area)s m² (%(area_share)s of the area taking part), %(owners)d owners (%(owner_share)s of the owners taking part)",
             option=option_label(option), area=square_metres(tally.area), area_share=percent(share(tally.area, whole.area)),
             owners=tally.owners, owner_share=percent(share(tally.owners, whole.owners)))


def counting_rules():
    """How an owners' decision is counted, in a few sentences (the page and the notice say it)."""
    return _("民法典 art. 278. The floor area is the sum of the units' areas. Each unit counts as one owner, several units of the same "
             "owners as one, and the developer's unsold units together as one. An abstention takes part but does not agree; an owner "
             "whose units answered differently counts as abstaining, each unit's area with its own answer.")


def counting_notes(decision):
    """What this count met of the rules: units without an owner, the developer's, owners who split."""
    notes = []
    if decision.developer_units:
        notes.append(_("%(n)d units are marked as not yet sold or handed over by the developer and count together as one owner.",
                       n=decision.developer_units))
    if decision.ownerless_units:
        notes.append(_("%(n)d units have no owner recorded and count as one owner each.", n=decision.ownerless_units))
    if decision.split_owners:
        notes.append(_("%(n)d owners answered differently for their units: each counts as abstaining, each unit's area with its own answer.",
                       n=decision.split_owners))
    return notes
