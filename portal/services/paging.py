"""Emergencies reach a person within minutes (S3.3.2, S4.2.1): paging until someone acknowledges.

An emergency (urgent at registration or raised later, or a 12345 work order past its deadline)
pages the lead department's on-duty head at once by SMS and 企业微信 (and a voice call where one is
configured), ignoring quiet hours and caps. Every `page_repeat_minutes` (default 5) the chain is
paged again; every `page_escalate_minutes` (default 10) without an acknowledgement it grows by one
person: the head's deputy, then the company's duty manager. Before a transfer it pages the
customer-service desk on duty and the head on duty of the department the category routes to.
Acknowledging (a one-tap link in each page, or the button on the ticket) stops it for everyone.
Rounds are claimed with row locks (FOR UPDATE SKIP LOCKED), and each page is one row unique per
ticket, round and person, so two workers never page twice.
"""
import base64
import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.models import OPEN_STATUSES, EventKind, Page, Role, Ticket, User
from portal.notify import notify
from portal.services import duty, settings

LINK_HOURS = 24
LEVEL_NAMES = {0: "on duty", 1: "deputy", 2: "duty manager"}


class PagingError(ValueError):
    pass


def routed_department(ticket):
    """The lead department, or before a transfer the one the category routes to (a setting)."""
    if ticket.lead_department_id:
        return ticket.lead_department_id
    return settings.get(f"route.{ticket.category.value}") or None


def start(ticket, now, reason="emergency"):
    """Paging starts now; the first round goes in this transaction."""
    ticket.paging_since = now
    ticket.page_round = 0
    ticket.next_page_at = now
    ticket.page_reason = reason
    return run_round(ticket, now)


def stop(ticket):
    ticket.next_page_at = None


def chain(ticket, level, at, rota=None):
    """[(level, person)] paged at this level: everyone up to it, each person once."""
    rota = rota or duty.Rota(at, days=1)
    department_id = routed_department(ticket)
    people = []
    held = rota.on_duty(department_id, at) if department_id else None
    if held is not None and held.primary is not None:
        people.append((0, held.primary))
    elif department_id:
        people += [(0, head) for head in db.session.scalars(
            select(User).where(User.role == Role.HEAD, User.is_active, User.department_id == department_id).order_by(User.id))]
    if not ticket.lead_department_id:  # nobody has it yet: the desk too
        desk = settings.get("desk_department") or None
        desk_held = rota.on_duty(desk, at) if desk else None
        if desk_held is not None and desk_held.primary is not None:
            people.append((0, desk_held.primary))
        else:
            people += [(0, s) for s in db.session.scalars(select(User).where(User.role == Role.STAFF, User.is_active).order_by(User.id))]
    if level >= 1 and held is not None and held.deputy is not None:
        people.append((1, held.deputy))
    if level >= 2:
        manager = rota.on_duty(None, at)
        if manager is not None and manager.primary is not None:
            people.append((2, manager.primary))
    seen, unique = set(), []
    for lvl, person in people:
        if person.id not in seen and person.is_active:
            seen.add(person.id)
            unique.append((lvl, person))
    return unique


def run_round(ticket, now):
    """One round of the chain, due at paging_since + round × repeat minutes."""
    from portal.services import tickets

    repeat = timedelta(minutes=settings.get("page_repeat_minutes"))
    escalate = timedelta(minutes=settings.get("page_escalate_minutes"))
    give_up = timedelta(minutes=settings.get("page_give_up_minutes"))
    number = ticket.page_round
    scheduled = ticket.paging_since + number * repeat
    level = min(2, int((scheduled - ticket.paging_since) / escalate)) if escalate else 2
    people = chain(ticket, level, now)
    step = tickets.add_event(ticket, EventKind.PAGED, None, now, data={
        "round": number, "level": level, "reason": ticket.page_reason or "emergency",
        "people": [{"name": p.name, "level": lvl} for lvl, p in people],
    })
    minutes = settings.get("emergency_response_minutes")
    for lvl, person in people:
        page = Page(ticket_id=ticket.id, round=number, level=lvl, user_id=person.id, due_at=scheduled, created_at=now)
        db.session.add(page)
        db.session.flush()
        notify("ticket_page", ticket, [person], now=now, ref=f"r{number}", step=step,
               extra={"path": ack_path(page), "minutes": minutes, "what": _gov_or_emergency(ticket)})
    ticket.page_round = number + 1
    following = ticket.paging_since + (number + 1) * repeat
    ticket.next_page_at = following if following - ticket.paging_since <= give_up else None
    if ticket.next_page_at is None:
        tickets.add_event(ticket, EventKind.ESCALATED, None, now, data={"reason": "paging_stopped", "rounds": number + 1})
    return step


def _gov_or_emergency(ticket):
    return "12345" if ticket.page_reason == "gov_overdue" else ""


def due(now, limit=100):
    """Worker: every round whose time has come, each ticket locked while its round is written."""
    found = db.session.scalars(
        select(Ticket).where(Ticket.next_page_at.is_not(None), Ticket.next_page_at <= now)
        .order_by(Ticket.next_page_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    for ticket in found:
        if not ticket.is_open or (ticket.page_reason != "gov_overdue" and ticket.acknowledged_at is not None):
            stop(ticket)
            continue
        run_round(ticket, now)
    return len(found)


def signature(page):
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"ack:{page.id}:{page.user_id}:{page.ticket_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:12]


def ack_path(page):
    """The one-tap link in a page: short enough for one SMS, signed, for this person only."""
    return f"/go/a{page.id}-{signature(page)}"


def page_for_link(page_id, sig, user, now):
    """The page a link names, if it is this person's, genuine and not older than 24 hours; else None."""
    page = db.session.get(Page, page_id)
    if page is None or not hmac.compare_digest(signature(page), sig or "") or page.user_id != user.id:
        return None
    if now - page.created_at > timedelta(hours=LINK_HOURS):
        return None
    return page


def acknowledge(ticket, person, now, via, page=None):
    """Someone on duty takes it (已受理): paging stops for everyone in the chain."""
    from portal.services import tickets

    if page is not None:
        if page.used_at is not None:
            raise PagingError(_("This link was used already."))
        page.used_at = now
    if ticket.acknowledged_at is not None and ticket.page_reason != "gov_overdue":
        raise PagingError(_("This emergency was already acknowledged."))
    if ticket.status not in OPEN_STATUSES:
        raise PagingError(_("This ticket is no longer open."))
    if ticket.acknowledged_at is None and ticket.is_urgent:
        ticket.acknowledged_at = now
        ticket.acknowledged_by_id = person.id
        ticket.acknowledged_via = via
    stop(ticket)
    step = tickets.add_event(ticket, EventKind.ACKNOWLEDGED, person, now, data={"via": via, "reason": ticket.page_reason or "emergency"})
    tickets.tell_resident(ticket, "ticket_acknowledged", step, person, now)
    return step


def on_site(ticket, person, now):
    """到场: someone arrived. It acknowledges too, if nobody had."""
    from portal.services import tickets

    if ticket.on_site_at is not None:
        raise PagingError(_("The arrival was already recorded."))
    if ticket.status not in OPEN_STATUSES:
        raise PagingError(_("This ticket is no longer open."))
    if ticket.acknowledged_at is None:
        acknowledge(ticket, person, now, "on_site")
    ticket.on_site_at = now
    ticket.on_site_by_id = person.id
    return tickets.add_event(ticket, EventKind.ON_SITE, person, now)


def lateness(pages):
    """Seconds each page went out after its schedule."""
    return [max((p.created_at - p.due_at).total_seconds(), 0.0) for p in pages]
