"""The duty rota (值班表): who is on duty now and in the coming two weeks, per department and for
the company's duty manager; the weekly pattern and single-day changes (swaps, leave)."""
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.blueprints.duty import bp
from portal.blueprints.duty.forms import DayChangeForm, ShiftForm
from portal.extensions import db
from portal.forms import ConfirmForm, choices
from portal.i18n import to_local
from portal.inputs import whole_number
from portal.models import Department, utcnow
from portal.permissions import BACK_OFFICE, can_edit_rota, role_required
from portal.services import duty

WEEKDAY_NAMES = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"), _l("Sunday"))


def _may_edit(department_id):
    return can_edit_rota(current_user, department_id)


def _department(key):
    """'manager' for the duty manager's rota, else a department id; 404 for anything else."""
    if key == "manager":
        return None, None
    department_id = whole_number(key, lo=1)
    if department_id is None:
        abort(404)
    department = db.session.get(Department, department_id)
    if department is None or not department.is_active:
        abort(404)
    return department, department.id


@bp.route("/")
@role_required(*BACK_OFFICE)
def index():
    now = utcnow()
    rota = duty.Rota(now)
    departments = duty.departments()
    rows = [(d, rota.on_duty(d.id, now), rota.of(d.id)) for d in departments]
    return render_template("duty/index.html", rows=rows, manager=rota.on_duty(None, now), manager_shifts=rota.of(None),
                           gaps=rota.gaps(departments, now), now=now)


def _people_choices(department_id):
    return choices([(0, "—")] + [(u.id, u.name) for u in duty.staff_choices(department_id)])


@bp.route("/<key>", methods=["GET", "POST"])
@role_required(*BACK_OFFICE)
def edit(key):
    department, department_id = _department(key)
    now = utcnow()
    editable = _may_edit(department_id)
    people = {u.id: u for u in duty.staff_choices(department_id)}
    shift_form = ShiftForm(prefix="shift")
    change_form = DayChangeForm(prefix="change")
    rota = duty.Rota(now)
    shifts = rota.of(department_id)
    change_form.shift_id.choices = choices((s.id, f"{s.name} {s.starts:%H:%M}–{s.ends:%H:%M}") for s in shifts)
    change_form.primary_id.choices = change_form.deputy_id.choices = _people_choices(department_id)
    errors = {}
    if request.method == "POST":
        if not editable:
            abort(404)
        action = request.form.get("action")
        try:
            with db.session.begin_nested():  # all of it or, with any error, none of it
                if action == "shift" and shift_form.validate_on_submit():
                    duty.add_shift(department, shift_form.name.data, shift_form.starts.data, shift_form.ends.data)
                elif action == "pattern" and ConfirmForm().validate_on_submit():
                    _save_pattern(shifts, people, errors)
                elif action == "change" and change_form.validate_on_submit():
                    shift = next((s for s in shifts if s.id == change_form.shift_id.data), None)
                    if shift is None:
                        abort(404)
                    duty.change_day(shift, change_form.day.data, people.get(change_form.primary_id.data), people.get(change_form.deputy_id.data),
                                    change_form.reason.data or "", current_user, now)
                elif action == "remove" and ConfirmForm().validate_on_submit():
                    shift = next((s for s in shifts if str(s.id) == request.form.get("shift")), None)
                    if shift is None:
                        abort(404)
                    shift.is_active = False
                else:
                    errors["form"] = True
                if errors:
                    raise _NotSaved
        except duty.RotaError as exc:
            errors["form"] = str(exc)
        except _NotSaved:
            pass
        if not errors:
            flash(_("The rota was saved."), "success")
            return redirect(url_for("duty.edit", key=key))
        rota = duty.Rota(now)
        shifts = rota.of(department_id)
    today = to_local(now).date()
    return render_template(
        "duty/edit.html", key=key, department=department, shifts=shifts, people=sorted(people.values(), key=lambda u: u.name),
        schedule=rota.schedule(department_id, today), held=rota.on_duty(department_id, now), editable=editable,
        shift_form=shift_form, change_form=change_form, confirm=ConfirmForm(), errors=errors, weekdays=[str(n) for n in WEEKDAY_NAMES],
        gaps=[g for g in rota.gaps([department] if department else [], now) if (g[0].id if g[0] else None) == department_id],
        posted=request.form if request.method == "POST" else None, today=today, now=now, timedelta=timedelta,
    ), (422 if errors else 200)


class _NotSaved(Exception):
    """Leaves the savepoint: part of what was posted was refused, so none of it is kept."""


def _save_pattern(shifts, people, errors):
    for shift in shifts:
        for weekday in range(7):
            raw_primary = request.form.get(f"p-{shift.id}-{weekday}", "0")
            raw_deputy = request.form.get(f"d-{shift.id}-{weekday}", "0")
            if not raw_primary.isdigit() or not raw_deputy.isdigit():
                errors[f"{shift.id}-{weekday}"] = _("Choose someone from the list.")
                continue
            primary, deputy = people.get(int(raw_primary)), people.get(int(raw_deputy))
            if (int(raw_primary) and primary is None) or (int(raw_deputy) and deputy is None):
                errors[f"{shift.id}-{weekday}"] = _("Choose someone from the list.")
                continue
            try:
                duty.set_pattern(shift, weekday, primary, deputy)
            except duty.RotaError as exc:
                errors[f"{shift.id}-{weekday}"] = str(exc)

