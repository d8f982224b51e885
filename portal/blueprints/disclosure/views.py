"""The disclosure board (信息公示, S2.3.1): the fee standard, the service commitments, the service
hours and contacts and the department heads. Everyone reads it, signed in or not (it is what the
board in the lobby shows, and the lobby screens' QR codes open it); each section's history of
changes (变更记录) too. Staff edit the sections that are theirs (permissions.DISCLOSURE_EDITORS);
each save is a new version."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import cache
from portal.blueprints.disclosure import bp
from portal.blueprints.disclosure.forms import AnnouncedForm, FeesForm, SectionForm
from portal.extensions import db
from portal.forms import input_checked
from portal.htmx import render_kept
from portal.inputs import int_arg
from portal.models import DisclosureSection, DisclosureVersion, utcnow
from portal.permissions import can_admin, can_edit_disclosure, login_required, viewer_kind
from portal.services import disclosure
from portal.services.disclosure import FEES, HEADS, HOURS, SECTION_LABELS

FORMS = {FEES: FeesForm, DisclosureSection.COMMITMENTS: AnnouncedForm, HOURS: SectionForm, HEADS: SectionForm}
BLANK_ROWS = 3  # empty rows offered under the fee table for new items


def _section(name):
    try:
        return DisclosureSection(name)
    except ValueError:
        abort(404)


def _labels():
    return {"labels": {s: str(label) for s, label in SECTION_LABELS.items()}, "sections": disclosure.SECTIONS}


@bp.route("/")
def index():
    now = utcnow()

    def context():
        found, until = disclosure.board(now)
        return {**found, **_labels(), "fee_units": disclosure.FEE_UNITS}, until

    return render_kept("disclosure", viewer_kind(current_user), (cache.DISCLOSURE, cache.NOTICES), "disclosure/index.html",
                       "disclosure/_board.html", context, now)


@bp.route("/<section>/history")
def history(section):
    section = _section(section)
    rows, next_before = disclosure.history(section, int_arg("before"))
    return render_template("disclosure/history.html", section=section, rows=rows, next_before=next_before,
                           changes={v.id: disclosure.changes(v) for v in rows}, **_labels())


@bp.route("/<section>/edit", methods=["GET", "POST"])
@login_required
def edit(section):
    section = _section(section)
    if not can_edit_disclosure(current_user, section):
        abort(404)
    now = utcnow()
    newest = disclosure.latest(section)
    if request.method == "GET":
        form, source = _prefilled(section, newest, now)
        return _page(section, form, newest, source=source)
    form = FORMS[section]()
    if section == FEES and request.form.get("action") == "more":  # more empty rows; nothing checked or saved
        for _n in range(BLANK_ROWS):
            form.rows.append_entry()
        return _page(section, form, newest, 200 if input_checked(form) else 422)
    if not form.validate_on_submit():
        return _page(section, form, newest, 422)
    try:
        with db.session.begin_nested():
            version = disclosure.save(
                section, body=form.body.data, fees=[entry.data for entry in form.rows] if section == FEES else None,
                effective_on=form.effective_on.data if section == FEES else None, note=form.note.data, base=_base(form),
                actor=current_user, now=now)
            if version is not None and "announce" in form and form.announce.data:
                disclosure.announce(version, form.notice_title.data.strip(), current_user, now)
    except disclosure.TooEarly as exc:
        form.effective_on.errors.append(_("The standard in force took effect on %(day)s: a new one cannot start before that day.",
                                          day=disclosure.format_day(exc.in_force.effective_on)))
        return _page(section, form, newest, 422)
    except (disclosure.Conflict, IntegrityError):  # IntegrityError: saved by someone else at the same instant
        newest = disclosure.latest(section)
        form.base.data = str(newest.number if newest else 0)  # saving again (after checking) goes through
        return _page(section, form, newest, 422, conflict=newest)
    if version is None:
        flash(_("Nothing was changed."), "info")
    else:
        flash(_("Version %(number)d of “%(section)s” is published.", number=version.number, section=SECTION_LABELS[section]), "success")
    return redirect(url_for("disclosure.index", _anchor=section.value))


def _base(form):
    try:
        return int(form.base.data or "")
    except ValueError:
        return -1  # tampered with: treated as out of date


def _prefilled(section, newest, now):
    """The form filled from the version in force (for the fee standard: from `?from=N`, say the
    published next standard, if given), or empty: (form, the version it was filled from)."""
    source = newest
    if section == FEES:
        chosen = int_arg("from")
        source = (db.session.scalar(select(DisclosureVersion).where(DisclosureVersion.section == FEES, DisclosureVersion.number == chosen))
                  if chosen else None) or disclosure.in_force(FEES, now) or newest
    data = {"base": str(newest.number if newest else 0), "body": source.body if source else ""}
    if section == FEES:
        rows = [dict(row) for row in ((source.fees if source else None) or [])]
        data.update(effective_on=(source.effective_on if source else None) or disclosure.local_day(now), announce=True,
                    notice_title=_("Fee standard change"), rows=rows + [{}] * BLANK_ROWS)
    elif section == DisclosureSection.COMMITMENTS:
        data.update(announce=False, notice_title=_("Our service commitments have changed"))
    return FORMS[section](formdata=None, data=data), source


def _page(section, form, newest, status=200, conflict=None, source=None):
    now = utcnow()
    others = []
    if section == FEES and source is not None:  # the fee standards one may start from instead
        others = [v for v in (disclosure.in_force(FEES, now), *disclosure.upcoming(now)) if v is not None and v.id != source.id]
    return render_template(
        "disclosure/edit.html", section=section, form=form, newest=newest, conflict=conflict, source=source, others=others,
        heads=disclosure.department_heads() if section == HEADS else None,
        contacts=disclosure.contacts() if section == HOURS else None, fee_units=disclosure.FEE_UNITS,
        settings_link=can_admin(current_user), invalid=status == 422, **_labels(),
    ), status
