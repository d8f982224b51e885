"""Home, health, language and the icon."""
import os

from flask import current_app, jsonify, redirect, render_template, request, send_from_directory, session, url_for
from flask_login import current_user
from sqlalchemy import func, select, text

from portal import permissions
from portal.blueprints.main import bp
from portal.extensions import db
from portal.i18n import safe_next, to_local
from portal.models import OPEN_STATUSES, Notice, Ticket, TicketChannel, TicketStatus, User, utcnow
from portal.services import cadence, kiosk, records, suggestions, tickets, training

GAPS_SHOWN = 6  # the newest missing periods of each kind listed on the staff home; the rest counted


@bp.route("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if not permissions.is_back_office(current_user):
        return redirect(url_for("notices.index"))
    now = utcnow()
    unanswered = db.session.scalar(
        select(func.count(Ticket.id)).where(Ticket.channel == TicketChannel.NOTICE_QUESTION, Ticket.status.in_(OPEN_STATUSES))
    )
    drafts = db.session.scalar(select(func.count(Notice.id)).where(Notice.publish_at.is_(None), Notice.withdrawn_at.is_(None)))
    queue = tickets.register_query(current_user, {}, now)
    counts = {
        "new": db.session.scalar(select(func.count()).select_from(queue.where(Ticket.status == TicketStatus.NEW).subquery())),
        "overdue": db.session.scalar(select(func.count()).select_from(tickets.register_query(current_user, {"overdue": True}, now).subquery())),
        "urgent": db.session.scalar(
            select(func.count()).select_from(
                queue.where(Ticket.is_urgent, Ticket.acknowledged_at.is_(None), Ticket.status.in_(OPEN_STATUSES)).subquery()
            )
        ),
    }
    unreplied = queue.where(Ticket.channel == TicketChannel.GOV_HOTLINE, Ticket.gov_replied_at.is_(None))
    counts["gov_open"] = db.session.scalar(select(func.count()).select_from(unreplied.subquery()))
    counts["gov_overdue"] = db.session.scalar(select(func.count()).select_from(unreplied.where(Ticket.gov_reply_due_at < now).subquery()))
    scheduled = db.session.scalar(select(func.count(Notice.id)).where(Notice.publish_at > now, Notice.withdrawn_at.is_(None)))
    studies = suggestions.overdue_studies(to_local(now).date())
    silent_screens = kiosk.silent(now) if permissions.is_back_office(current_user) else []
    outreach = records.outreach_today(current_user, now) if permissions.sees_outreach(current_user) else None
    cadence_gaps = training_gaps = None
    if permissions.sees_policy_cadence(current_user):
        cadence_gaps = cadence.missing(now)
        departments = {current_user.department_id} if permissions.is_head(current_user) else None
        training_gaps = training.gaps(to_local(now).date(), departments)
    return render_template(
        "main/index.html", unanswered=unanswered, drafts=drafts, scheduled=scheduled, counts=counts, studies=studies,
        box_unread=len(suggestions.unread()), silent_screens=silent_screens, outreach=outreach, cadence_gaps=cadence_gaps,
        training_gaps=training_gaps, shown=GAPS_SHOWN,
    )


@bp.route("/favicon.ico")
def favicon():
    """For what asks the old way (a PDF tab, a bookmark): pages name the SVG icon in their head."""
    return send_from_directory(os.path.join(current_app.static_folder, "img"), "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400)


@bp.route("/language", methods=["POST"])
def language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            db.session.get(User, current_user.id).language = lang
    return redirect(safe_next(request.form.get("next", "")) or url_for("main.index"))


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database is "unhealthy"
        current_app.logger.warning("healthz: database unreachable: %s", exc)
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")
