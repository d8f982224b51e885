"""Who may do what, in one place: roles by what they do, what a person may do anywhere
(capabilities), what they may do with one object (predicates), and which rows they may see at all
(query scopes). Views, fragments, PDFs, CSV exports and templates (as Jinja globals) all ask
here; a refusal looks like a missing page: 404."""
from functools import wraps

from flask import abort, g, has_request_context, request
from flask.globals import _cv_app  # (the context variable behind the proxies)
from flask_login import current_user
from sqlalchemy import and_, exists, or_, select

from portal import cache
from portal.extensions import db
from portal.models import (
    Consultation,
    DisclosureSection,
    Event,
    Notice,
    Page,
    Residency,
    Role,
    Suggestion,
    Survey,
    Ticket,
    TicketDepartment,
    Unit,
    consultation_building,
    event_building,
    notice_building,
    survey_building,
)

# Roles by what they do
BACK_OFFICE = (Role.STAFF, Role.HEAD, Role.WORKER, Role.ADMIN)  # everyone who works for the company
OFFICE = (Role.STAFF, Role.HEAD, Role.ADMIN)  # notices, events, consultations, records, reports, measures
DESK = (Role.STAFF, Role.ADMIN)  # customer service: directs tickets, the chat desk, the hotline screen
FIGURE_READERS = (Role.STAFF, Role.HEAD, Role.ADMIN, Role.COMMITTEE)
HOMES = (Role.RESIDENT, Role.COMMITTEE)  # people who live here: they see what concerns their buildings
CHAT = (Role.RESIDENT, Role.STAFF, Role.ADMIN)


def me():
    """The request's user (the anonymous one when nobody is signed in): current_user, read where
    Flask-Login keeps it once loaded, without the proxy's cost on each of a request's checks."""
    here = _cv_app.get(None)
    user = here.g.get("_login_user") if here is not None else None
    return user if user is not None else current_user._get_current_object()


def _to_sign_in():
    """The answer to someone not signed in: the sign-in page (hooks.unauthorized)."""
    from portal.extensions import login_manager

    return login_manager.unauthorized()


def login_required(view):
    """Flask-Login's login_required (anyone not signed in is sent to sign in; OPTIONS passes),
    asking for the user through me()."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if request.method != "OPTIONS" and not me().is_authenticated:
            return _to_sign_in()
        return view(*args, **kwargs)

    return wrapped


def role_required(*roles):
    """Signed-in users of other roles get 404, exactly like a missing page."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = me()
            if not user.is_authenticated:
                return _to_sign_in()
            if user.role not in roles:
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def get_or_404(model, ident, may_see):
    """The row, if the signed-in person may see it (`may_see(user, row)`); else 404 like a missing one."""
    row = db.session.get(model, ident)
    if row is None or not may_see(current_user, row):
        abort(404)
    return row


def _is(user, roles):
    return user.is_authenticated and user.role in roles


# Capabilities: what a person may do anywhere


def is_back_office(user):
    return _is(user, BACK_OFFICE)


def is_office(user):
    return _is(user, OFFICE)


def is_desk(user):
    return _is(user, DESK)


def is_resident(user):
    return _is(user, (Role.RESIDENT,))


def is_head(user):
    return _is(user, (Role.HEAD,))


def has_home(user):
    return _is(user, HOMES)


def can_edit_notices(user):
    return is_office(user)


def can_answer_questions(user):
    return is_office(user)


def can_admin(user):
    return _is(user, (Role.ADMIN,))


def can_use_chat(user):
    return _is(user, CHAT)


def can_read_figures(user):
    return _is(user, FIGURE_READERS)


def can_write_figures(user):
    return is_office(user)


def can_use_register(user):
    """Residents see their own requests, the back office the register; the committee neither."""
    return user.is_authenticated and user.role != Role.COMMITTEE


def can_see_community(user):
    """Events, consultations and suggestions: everyone but the owners' committee (it sees figures)."""
    return user.is_authenticated and user.role != Role.COMMITTEE


def relays_tickets(user):
    """Workers register what they heard as relayed tickets."""
    return _is(user, (Role.WORKER,))


def sees_outreach(user):
    """The day's outreach calls on the staff home."""
    return _is(user, (Role.STAFF, Role.HEAD))


def figures_department(user, asked):
    """The department the figures are for: a head's own, the one asked for, or none (the committee)."""
    if is_head(user):
        return user.department_id
    return asked if user.role != Role.COMMITTEE else None


def outreach_department(user):
    """Heads see their department's outreach week, the administrator everyone's: (allowed, department)."""
    if is_head(user):
        return True, user.department_id
    return can_admin(user), None


def can_edit_rota(user, department_id):
    """Customer service and the administrator edit every rota (and the manager's); a head their department's."""
    if is_desk(user):
        return True
    return is_head(user) and department_id is not None and user.department_id == department_id


# The disclosure board (信息公示): everyone reads it, signed in or not (it is what the lobby's
# board shows). The company's management sets the fees, the commitments and who answers for each
# department; the service centre keeps its own hours and contacts.
DISCLOSURE_EDITORS = {
    DisclosureSection.FEES: (Role.ADMIN,),
    DisclosureSection.COMMITMENTS: (Role.ADMIN,),
    DisclosureSection.HOURS: DESK,
    DisclosureSection.HEADS: (Role.ADMIN,),
}


def can_edit_disclosure(user, section):
    return _is(user, DISCLOSURE_EDITORS[DisclosureSection(section)])


# Buildings


def building_ids_of(user):
    """The buildings where the user holds a unit (cached until anyone's units change)."""

    def build():
        ids = db.session.scalars(
            select(Unit.building_id).join(Residency, Residency.unit_id == Unit.id).where(Residency.user_id == user.id).distinct()
        ).all()
        return tuple(sorted(ids)), None

    return cache.cached("buildings", user.id, cache.person_key(user.id), build)


def resident_building_ids():
    """The signed-in resident's buildings, once per request (None for everyone else)."""
    here = _cv_app.get().g
    found = here.get("building_ids", False)
    if found is False:
        user = me()
        found = here.building_ids = building_ids_of(user) if has_home(user) else None
    return found


def _mine(user, building_ids):
    return set(building_ids if building_ids is not None else building_ids_of(user))


# Tickets


def was_paged(user, ticket):
    """Was this person paged for this emergency? (Asked once per request and ticket.)"""
    if not ticket.page_round:
        return False
    memo = g.setdefault("paged", {}) if has_request_context() else {}
    key = (user.id, ticket.id)
    if key not in memo:
        memo[key] = db.session.scalar(select(exists().where(Page.ticket_id == ticket.id, Page.user_id == user.id)))
    return memo[key]


def _paged_clause(user):
    return exists().where(Page.ticket_id == Ticket.id, Page.user_id == user.id)


def ticket_scope(user):
    """Residents: their own tickets. Heads: their department's. Workers: what they relayed or were
    given. Anyone paged for an emergency: that one. Customer service: all. (None: no restriction.)"""
    if user.role in DESK:
        return None
    if user.role == Role.HEAD:
        return or_(
            exists().where(TicketDepartment.ticket_id == Ticket.id, TicketDepartment.department_id == (user.department_id or -1)),
            Ticket.assignee_id == user.id,
            _paged_clause(user),
        )
    if user.role == Role.WORKER:
        return or_(Ticket.created_by_id == user.id, Ticket.assignee_id == user.id, _paged_clause(user))
    if user.role == Role.RESIDENT:
        return Ticket.resident_id == user.id
    return Ticket.id < 0  # committee: nothing about individual residents


def viewer_kind(user):
    """What pages kept for many people differ by besides their content: the menus of a role."""
    return user.role.value if user.is_authenticated else "anonymous"


def ticket_audience(user):
    """Who sees the same register as this person (to share kept pages): all customer service, the
    heads of one department, or one worker."""
    if user.role == Role.HEAD:
        return ("head", user.department_id)
    if user.role == Role.WORKER:
        return ("worker", user.id)
    return (user.role.value,)


def can_view_ticket(user, ticket):
    if not user.is_authenticated:
        return False
    if user.role in DESK:
        return True
    if ticket.assignee_id is not None and ticket.assignee_id == user.id:
        return True
    if user.role in (Role.HEAD, Role.WORKER) and was_paged(user, ticket):
        return True  # whoever was paged for an emergency can open it
    if user.role == Role.HEAD:
        return user.department_id is not None and any(d.department_id == user.department_id for d in ticket.departments)
    if user.role == Role.WORKER:
        return ticket.created_by_id == user.id
    if user.role == Role.RESIDENT:
        return ticket.resident_id == user.id
    return False


def can_work(user, ticket):
    """Progress, notes, hold, resolve: customer service, the heads of its departments, the person
    it is assigned to, and whoever was paged for it."""
    if not user.is_authenticated:
        return False
    if ticket.assignee_id is not None and ticket.assignee_id == user.id and ticket.is_open:
        return True
    if user.role in (Role.HEAD, Role.WORKER) and ticket.is_open and was_paged(user, ticket):
        return True
    return user.role in DESK or (user.role == Role.HEAD and can_view_ticket(user, ticket))


def owns_ticket(user, ticket):
    return is_resident(user) and ticket.resident_id == user.id


def sees_internal(user, ticket):
    """Internal notes, who was told, the pages: the back office, except a worker on someone else's ticket."""
    if not is_back_office(user):
        return False
    return user.role != Role.WORKER or ticket.assignee_id == user.id


def _can_acknowledge(user, ticket):
    if not ticket.is_open or (ticket.next_page_at is None and ticket.acknowledged_at is not None):
        return False
    if ticket.next_page_at is None and not ticket.is_urgent:
        return False
    return can_work(user, ticket)


def _directs(user, ticket):
    return is_desk(user)


TICKET_ACTIONS = {
    # customer service directs: classify, transfer (信息传递单), record calls, tell the result, formal replies, call-backs, 12345
    "classify": _directs, "transfer": _directs, "call": _directs, "feedback": _directs, "formal_reply": _directs,
    "callback": _directs, "gov_reply": _directs,
    # whoever works it
    "progress": can_work, "note": can_work, "hold": can_work, "resume": can_work, "resolve": can_work, "urgency": can_work,
    "acknowledge": _can_acknowledge,
    "on_site": lambda user, ticket: ticket.is_urgent and can_work(user, ticket),
    # a head gives it to someone of the department
    "assign": lambda user, ticket: is_head(user) and can_view_ticket(user, ticket),
    # the resident it belongs to
    "message": owns_ticket, "rate": owns_ticket,
    # the documents: transfer slip, formal reply, emergency slip
    "print": lambda user, ticket: is_back_office(user) and can_view_ticket(user, ticket),
}


def can_act(user, ticket, action):
    """May `user` take `action` (a key of TICKET_ACTIONS) on the ticket they can see?"""
    return can_view_ticket(user, ticket) and TICKET_ACTIONS[action](user, ticket)


def ticket_actions(user, ticket):
    """Everything `user` may do with the ticket, for its page: {action: bool}."""
    if not can_view_ticket(user, ticket):
        return dict.fromkeys(TICKET_ACTIONS, False)
    return {action: rule(user, ticket) for action, rule in TICKET_ACTIONS.items()}


# Notices, events, consultations, suggestions: the back office sees all; residents what is
# community-wide or aimed at one of their buildings.


def notice_building_clause(building_ids):
    """Community-wide notices, and bulletins for any of these buildings."""
    in_buildings = select(notice_building.c.notice_id).where(notice_building.c.building_id.in_(building_ids or [-1]))
    return or_(Notice.is_community_wide, Notice.id.in_(in_buildings))


def notice_scope(user, now, building_ids=None):
    """What a user may read: residents see current notices in their scope; the back office sees all current."""
    clause = Notice.current_clause(now)
    if user is None or not user.is_authenticated:
        return and_(clause, Notice.is_community_wide)
    if has_home(user):
        return and_(clause, notice_building_clause(building_ids if building_ids is not None else building_ids_of(user)))
    return clause


def can_read_notice(user, notice, now):
    if user.is_authenticated and not has_home(user):
        return True  # the back office reads every notice in every state
    if not notice.is_current(now):
        return False
    if notice.is_community_wide:
        return True
    if not user.is_authenticated:
        return False
    return bool(_mine(user, None) & {b.id for b in notice.buildings})


def can_see_question(user, question, now):
    """A question asked under a notice is a ticket: its asker (while they can read the notice) and the notice editors."""
    if question.notice_id is None:
        return False
    if can_answer_questions(user):
        return True
    if not user.is_authenticated or question.resident_id != user.id:
        return False
    return can_read_notice(user, db.session.get(Notice, question.notice_id), now)


def event_scope(user, building_ids):
    if is_back_office(user):
        return ()
    aimed = select(event_building.c.event_id).where(event_building.c.building_id.in_(building_ids or [-1]))
    return (or_(Event.is_community_wide, Event.id.in_(aimed)),)


def can_see_event(user, event, building_ids=None):
    if not can_see_community(user):
        return False
    if is_back_office(user):
        return True
    return event.is_community_wide or bool(_mine(user, building_ids) & {b.id for b in event.buildings})


def consultation_scope(user, building_ids):
    if is_back_office(user):
        return ()
    aimed = select(consultation_building.c.consultation_id).where(consultation_building.c.building_id.in_(building_ids or [-1]))
    return (Consultation.id.in_(aimed),)


def can_see_consultation(user, consultation, building_ids=None):
    if not can_see_community(user):
        return False
    if is_back_office(user):
        return True
    return bool(_mine(user, building_ids) & {b.id for b in consultation.buildings})


def can_run_consultations(user):
    """Open consultations, read the owners' comments, export the answers, publish the result."""
    return is_office(user)


def can_see_consultation_result(user, consultation):
    """Of a consultation the user may see: the back office follows the count as answers come in;
    the people asked see the result once it is published."""
    return is_back_office(user) or consultation.notice_id is not None
# Questionnaires (问卷): the office sees every one; residents those published and opened for a home
# of theirs (one they own, if it asks owners only).


def can_use_surveys(user):
    """Residents answer questionnaires; the office reads them and their results."""
    return is_resident(user) or is_office(user)


def can_build_surveys(user):
    """Customer service and the administrator write, publish and export them."""
    return is_desk(user)


def homes_of(user):
    """((unit id, building id, is owner), ...) of the person's homes (cached until their homes change)."""

    def build():
        rows = db.session.execute(
            select(Residency.unit_id, Unit.building_id, Residency.is_owner).join(Unit, Unit.id == Residency.unit_id)
            .where(Residency.user_id == user.id).order_by(Residency.unit_id)
        ).all()
        return tuple((unit_id, building_id, bool(is_owner)) for unit_id, building_id, is_owner in rows), None

    return cache.cached("homes", user.id, cache.person_key(user.id), build)


def resident_homes():
    """The signed-in resident's homes, once per request (() for everyone else)."""
    if "homes" not in g:
        g.homes = homes_of(current_user) if is_resident(current_user) else ()
    return g.homes


def survey_scope(user, homes, now):
    if is_office(user):
        return ()
    if not is_resident(user):
        return (Survey.id < 0,)
    every = {building for _unit, building, _owner in homes}
    owned = {building for _unit, building, owner in homes if owner}
    aimed = select(survey_building.c.survey_id).where(survey_building.c.building_id.in_(every or [-1]))
    aimed_at_owned = select(survey_building.c.survey_id).where(survey_building.c.building_id.in_(owned or [-1]))
    return (Survey.published_at.is_not(None), Survey.opens_at <= now, Survey.id.in_(aimed),
            or_(Survey.is_owners_only.is_(False), Survey.id.in_(aimed_at_owned)))


def can_see_survey(user, survey, homes, now):
    if is_office(user):
        return True
    if not is_resident(user) or survey.published_at is None or now < survey.opens_at:
        return False
    return any(survey.is_for(building, owner) for _unit, building, owner in homes)


def suggestion_scope(user, building_ids):
    """Residents: community-wide suggestions and those about their buildings; hidden ones only their own."""
    if is_back_office(user):
        return ()
    return (
        or_(Suggestion.building_id.is_(None), Suggestion.building_id.in_(building_ids or [-1])),
        or_(Suggestion.hidden_at.is_(None), Suggestion.author_id == user.id),
    )


def can_see_suggestion(user, suggestion, building_ids=None):
    if not can_see_community(user):
        return False
    if is_back_office(user):
        return True
    if suggestion.building_id is not None and suggestion.building_id not in _mine(user, building_ids):
        return False
    return suggestion.hidden_at is None or suggestion.author_id == user.id


# Conversations, reports, people


def can_see_conversation(user, conversation):
    return is_desk(user) or (is_resident(user) and conversation.resident_id == user.id)


def can_see_report(user, report):
    """Reports: the office always; the owners' committee once published."""
    return is_office(user) or (can_read_figures(user) and report.published_at is not None)


def can_see_training_of(user, person):
    """Training records are kept for the back office's people only."""
    return is_office(user) and person.role in BACK_OFFICE


def can_plan_training(user):
    """The yearly training plan (S6.2.1) is kept by the administrator and the department heads."""
    return can_admin(user) or (is_head(user) and user.department_id is not None)


def training_plan_departments(user):
    """The departments whose plan items `user` keeps: None for all (the administrator), else their own."""
    return None if can_admin(user) else ({user.department_id} if can_plan_training(user) else set())


def can_edit_training_item(user, item):
    """The administrator edits every item; a head those for their department or only its people."""
    if not can_plan_training(user):
        return False
    if can_admin(user):
        return True
    if item.department_id is not None:
        return item.department_id == user.department_id
    return bool(item.people) and all(p.department_id == user.department_id for p in item.people)


def sees_policy_cadence(user):
    """The staff home's warnings for what the policy repeats: those who can set it right (records, events)."""
    return is_office(user)


JINJA_GLOBALS = {
    f.__name__: f
    for f in (
        is_back_office, is_office, is_desk, is_resident, is_head, has_home, can_edit_notices, can_answer_questions, can_admin,
        can_use_chat, can_use_register, can_read_figures, can_write_figures, can_see_community, relays_tickets, can_act,
        can_view_ticket, sees_internal, can_edit_disclosure, can_run_consultations, can_see_consultation_result,
        can_use_surveys, can_build_surveys, can_plan_training, can_edit_training_item,
    )
}
