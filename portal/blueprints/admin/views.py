"""Administration: buildings, units, departments, people, the resident import and policy settings."""
from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.blueprints.admin import bp
from portal.blueprints.admin.forms import (
    ROLE_LABELS,
    BuildingForm,
    CalendarForm,
    DeliveryFilterForm,
    DepartmentForm,
    ImportForm,
    PersonForm,
    ScreenForm,
    UnitForm,
)
from portal.extensions import db
from portal.forms import ConfirmForm, choices
from portal.models import Building, CalendarDay, Channel, Delivery, Department, KioskScreen, Role, SettingChange, Unit, User, utcnow
from portal.notify import admin as channel_admin
from portal.notify import delivery as notify_delivery
from portal.notify import prefs
from portal.permissions import role_required
from portal.links import external_url
from portal.i18n import to_local
from portal.inputs import clean, int_arg
from portal.services import auth, duty, kiosk, people, settings, workdays

PEOPLE_PAGE = 50


@bp.before_request
@role_required(Role.ADMIN)
def guard():
    return None


@bp.route("/")
def index():
    counts = {
        "buildings": db.session.scalar(select(func.count(Building.id))),
        "units": db.session.scalar(select(func.count(Unit.id))),
        "people": db.session.scalar(select(func.count(User.id))),
        "departments": db.session.scalar(select(func.count(Department.id))),
    }
    now = utcnow()
    failed = channel_admin.failed_since(now - timedelta(days=1))
    gaps = duty.Rota(now).gaps(duty.departments(), now)
    calendar_years = workdays.coverage(to_local(now).date())
    return render_template("admin/index.html", counts=counts, failed_today=failed, gaps=gaps, calendar_years=calendar_years)


@bp.route("/calendar", methods=["GET", "POST"])
def calendar():
    """The working calendar: holidays and make-up working days per year, for years the
    chinesecalendar package does not know (the State Council publishes them each autumn)."""
    now = utcnow()
    this_year = to_local(now).year
    year = request.values.get("year", type=int) or this_year + 1
    if not 2000 <= year <= 2100:
        abort(404)
    errors = []
    form = CalendarForm()
    if form.validate_on_submit():
        days, errors = workdays.parse_year(form.days.data, year)
        if not errors:
            workdays.save_year(year, days)
            flash(_("%(n)d days saved for %(year)d.", n=len(days), year=year), "success")
            return redirect(url_for("admin.calendar", year=year))
    elif request.method == "POST" and not form.days.errors:
        abort(400)
    entered = db.session.scalars(select(CalendarDay).where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
                                 .order_by(CalendarDay.day)).all()
    if request.method == "GET":
        form.days.data = "\n".join(f"{d.day.isoformat()} {d.name or ('补班' if d.is_workday else '放假')}" for d in entered)
    return render_template("admin/calendar.html", year=year, form=form, errors=errors, entered=entered, source=workdays.source(year),
                           years=workdays.coverage(date(this_year, 1, 1), 2)), (422 if errors or form.days.errors else 200)


# Buildings and units


@bp.route("/buildings")
def buildings():
    rows = db.session.execute(
        select(Building, func.count(Unit.id)).outerjoin(Unit, Unit.building_id == Building.id).group_by(Building.id).order_by(Building.name)
    ).all()
    return render_template("admin/buildings.html", rows=rows)


def _saved(change):
    """Runs `change` in a savepoint and flushes it: (True, what it returned), or (False, None) with
    nothing changed if that would break a unique rule (a name or number already taken)."""
    try:
        with db.session.begin_nested():
            value = change()
    except IntegrityError:
        return False, None
    return True, value


@bp.route("/buildings/new", methods=["GET", "POST"])
@bp.route("/buildings/<int:building_id>", methods=["GET", "POST"])
def building(building_id=None):
    item = db.session.get(Building, building_id) if building_id else Building()
    if item is None:
        abort(404)
    form = BuildingForm(obj=item)
    if form.validate_on_submit():
        if _saved(lambda: (form.populate_obj(item), db.session.add(item)))[0]:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.building", building_id=item.id))
        form.name.errors.append(_("This name is already taken."))
        return render_template("admin/building.html", form=form, item=item), 422
    units = item.units if item.id else []
    return render_template("admin/building.html", form=form, item=item, units=units, unit_form=UnitForm(formdata=None)), (
        422 if request.method == "POST" else 200
    )


@bp.route("/buildings/<int:building_id>/units", methods=["POST"])
def add_unit(building_id):
    item = db.session.get(Building, building_id) or abort(404)
    form = UnitForm()
    if not form.validate_on_submit():  # the page again, the number's error under it
        return render_template("admin/building.html", form=BuildingForm(formdata=None, obj=item), item=item, units=item.units,
                               unit_form=form), 422
    if _saved(lambda: db.session.add(Unit(building=item, number=form.number.data.strip(), is_active=True)))[0]:
        flash(_("Saved."), "success")
    else:
        flash(_("This unit number already exists in this building."), "error")
    return redirect(url_for("admin.building", building_id=item.id))


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
def unit(unit_id):
    item = db.session.get(Unit, unit_id) or abort(404)
    form = UnitForm(obj=item)
    if form.validate_on_submit():
        if not _saved(lambda: form.populate_obj(item))[0]:
            form.number.errors.append(_("This unit number already exists in this building."))
            return render_template("admin/unit.html", form=form, item=item), 422
        flash(_("Saved."), "success")
        return redirect(url_for("admin.building", building_id=item.building_id))
    return render_template("admin/unit.html", form=form, item=item), (422 if request.method == "POST" else 200)


# Departments


@bp.route("/departments", methods=["GET", "POST"])
def departments():
    form = DepartmentForm()
    if form.validate_on_submit():
        if _saved(lambda: db.session.add(Department(name=form.name.data.strip(), is_active=True)))[0]:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.departments"))
        form.name.errors.append(_("This name is already taken."))
    return render_template("admin/departments.html", form=form, rows=_departments()), (422 if request.method == "POST" else 200)


def _departments():
    return db.session.scalars(select(Department).order_by(Department.id)).all()


@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
def department(department_id):
    item = db.session.get(Department, department_id) or abort(404)
    form = DepartmentForm(obj=item)
    if form.validate_on_submit():
        if _saved(lambda: form.populate_obj(item))[0]:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.departments"))
        form.name.errors.append(_("This name is already taken."))
    return render_template("admin/department.html", form=form, item=item), (422 if request.method == "POST" else 200)


# People


@bp.route("/people")
def people_list():
    q = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    query = select(User).order_by(User.id)
    if q:
        like = f"%{q}%"
        query = query.where(or_(User.name.like(like), User.phone.like(like), User.username.like(like)))
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    after = int_arg("after")
    if after:
        query = query.where(User.id > after)
    rows = db.session.scalars(query.limit(PEOPLE_PAGE + 1)).all()
    more = len(rows) > PEOPLE_PAGE
    rows = rows[:PEOPLE_PAGE]
    return render_template(
        "admin/people.html", rows=rows, q=q, role=role, roles=ROLE_LABELS, next_after=rows[-1].id if more else None
    )


def _person_choices(form):
    form.department_id.choices = choices(
        [(0, "—")] + [(d.id, d.name) for d in db.session.scalars(select(Department).where(Department.is_active).order_by(Department.id))]
    )


@bp.route("/people/new", methods=["GET", "POST"])
@bp.route("/people/<int:user_id>", methods=["GET", "POST"])
def person(user_id=None):
    item = db.session.get(User, user_id) if user_id else User(role=Role.RESIDENT, is_active=True, language="zh_Hans")
    if item is None:
        abort(404)
    form = PersonForm(obj=item)
    _person_choices(form)
    if request.method == "GET":
        form.role.data = item.role.value if item.role else "resident"
        form.department_id.data = item.department_id or 0
        form.units.data = "\n".join(f"{r.unit.building.name} {r.unit.number}" for r in item.residencies)
        form.sms_consent.data = bool(item.sms_consent_at)
    if form.validate_on_submit():
        buildings = {b.name: b for b in db.session.scalars(select(Building))}
        with db.session.no_autoflush:
            units, errors = people.parse_units(form.units.data, buildings)
        if errors:
            form.units.errors.extend(errors)
            return render_template("admin/person.html", form=form, item=item, confirm=ConfirmForm()), 422
        saved, temp_password = _saved(lambda: _save_person(item, form, units))
        if not saved:
            form.phone.errors.append(_("This phone number or username is already taken."))
            return render_template("admin/person.html", form=form, item=item, confirm=ConfirmForm()), 422
        if temp_password:
            flash(_("Account created. Temporary password: %(pw)s (shown once; hand it over in person).", pw=temp_password), "success")
        else:
            flash(_("Saved."), "success")
        return redirect(url_for("admin.person", user_id=item.id))
    return render_template("admin/person.html", form=form, item=item, confirm=ConfirmForm()), (
        422 if request.method == "POST" else 200
    )


def _save_person(item, form, units):
    """The person form into the row; returns the temporary password of a new account."""
    temp_password = None
    was_active = item.is_active
    item.name = form.name.data.strip()
    item.phone = people.normalise_phone(form.phone.data) or None
    item.username = (form.username.data or "").strip() or None
    item.email = (form.email.data or "").strip() or None
    item.role = Role(form.role.data)
    item.department_id = form.department_id.data or None
    item.language = form.language.data
    item.wecom_userid = (form.wecom_userid.data or "").strip() or None
    item.phone_extension = (form.phone_extension.data or "").strip() or None
    item.is_active = form.is_active.data
    if item.id is None:
        temp_password = people.temporary_password()
        item.set_password(temp_password)
        db.session.add(item)
    db.session.flush()
    people.set_units(item, units)
    source = "registration form at the service centre" if form.sms_consent.data else "withdrawn at the service centre"
    prefs.set_consent(item, Channel.SMS, form.sms_consent.data, source, utcnow(), recorded_by=current_user)
    if was_active and not item.is_active:
        auth.end_all_sessions(item)
    return temp_password


@bp.route("/people/<int:user_id>/reset-password", methods=["POST"])
def reset_password(user_id):
    item = db.session.get(User, user_id) or abort(404)
    if ConfirmForm().validate_on_submit():
        password = people.reset_password(item)
        flash(_("New temporary password for %(name)s: %(pw)s (shown once).", name=item.name, pw=password), "success")
    return redirect(url_for("admin.person", user_id=item.id))


@bp.route("/people/import", methods=["GET", "POST"])
def import_people():
    form = ImportForm()
    result = None
    if form.validate_on_submit():
        result = people.import_residents(form.file.data.read())
        if result.errors:  # nothing is kept: the answer is 422, so the request rolls back
            return render_template("admin/import.html", form=form, result=result), 422
    return render_template("admin/import.html", form=form, result=result), (422 if request.method == "POST" and not result else 200)


# Policy settings


POLICY_GROUPS = ("policy", "due", "targets", "contact", "paging", "calendar")


def _save_settings(keys):
    """Validates and applies the posted values of `keys`: (submitted, errors); saves when all are good."""
    errors, submitted, changes = {}, {}, {}
    if not ConfirmForm().validate_on_submit():
        abort(400)
    for key in keys:
        raw = request.form.get(key, "")
        submitted[key] = clean(raw)  # shown again as typed, less any control characters (refused below)
        value, error = settings.validate(key, raw)
        if error:
            errors[key] = error
        else:
            changes[key] = value
    if not errors:
        changed = settings.update(changes, current_user)
        flash(_("%(n)d settings changed.", n=len(changed)) if changed else _("Nothing was changed."), "success")
    return submitted, errors


def _history(keys):
    query = select(SettingChange).order_by(SettingChange.id.desc()).limit(50)
    if keys is not None:
        query = query.where(SettingChange.key.in_(keys))
    return db.session.scalars(query).all()


@bp.route("/settings", methods=["GET", "POST"])
def policy_settings():
    departments = settings.duty_phone_departments()
    groups = {g: [k for k, d in settings.DEFINITIONS.items() if d.group == g] for g in POLICY_GROUPS}
    groups["duty"] = [settings.duty_phone_key(d.id) for d in departments]
    keys = [k for g in groups.values() for k in g]
    submitted, errors = _save_settings(keys) if request.method == "POST" else ({}, {})
    if request.method == "POST" and not errors:
        return redirect(url_for("admin.policy_settings"))
    values = settings.all_values()
    return render_template(
        "admin/settings.html",
        groups=groups,
        departments=departments,
        values={k: submitted.get(k, values.get(k, "")) for k in keys},
        errors=errors,
        definitions=settings.DEFINITIONS,
        label_for=settings.label_for,
        history=_history(keys),
        confirm=ConfirmForm(),
    ), (422 if errors else 200)


@bp.route("/channels", methods=["GET", "POST"])
def channels():
    """What each channel is connected to, the residents' quiet hours and caps, and per kind the
    templates the company had approved by its SMS provider and WeChat."""
    general = [k for k, d in settings.DEFINITIONS.items() if d.group == "channels"]
    templates = [k for k, d in settings.DEFINITIONS.items() if d.group == "templates"]
    keys = general + templates
    submitted, errors = _save_settings(keys) if request.method == "POST" else ({}, {})
    if request.method == "POST" and not errors:
        return redirect(url_for("admin.channels"))
    values = settings.all_values()
    return render_template(
        "admin/channels.html",
        general=general,
        kinds=channel_admin.kinds_table(),
        connected=channel_admin.connected(current_app._get_current_object()),
        sms_sign=channel_admin.sms_sign(current_app.config),
        values={k: submitted.get(k, values.get(k, "")) for k in keys},
        errors=errors,
        definitions=settings.DEFINITIONS,
        label_for=settings.label_for,
        history=_history(keys),
        confirm=ConfirmForm(),
    ), (422 if errors else 200)


@bp.route("/deliveries")
def deliveries():
    """Every message on every channel: filter, see failures and their reasons, today's counts."""
    form = DeliveryFilterForm(request.args)
    channel_admin.filter_choices(form)  # not validated: an unknown value simply filters nothing
    before = int_arg("before")
    rows, next_before = channel_admin.deliveries(
        channel=form.channel.data or None, status=form.status.data or None, kind=form.kind.data or None,
        person=(form.q.data or "").strip(), before=before,
    )
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "admin/deliveries.html", form=form, rows=rows, today=channel_admin.today(utcnow()), confirm=ConfirmForm(),
        statuses=channel_admin.status_labels(), channel_names=channel_admin.CHANNEL_NAMES, kind_labels=channel_admin.kind_labels(),
        next_url=url_for("admin.deliveries", before=next_before, **args) if next_before else None,
    )


@bp.route("/deliveries/<int:delivery_id>")
def delivery(delivery_id):
    row = db.session.get(Delivery, delivery_id) or abort(404)
    return render_template("admin/delivery.html", row=row, confirm=ConfirmForm(), statuses=channel_admin.status_labels(),
                           channel_names=channel_admin.CHANNEL_NAMES, kind_labels=channel_admin.kind_labels())


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
def retry_delivery(delivery_id):
    row = db.session.get(Delivery, delivery_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if notify_delivery.retry(row, utcnow()):
        flash(_("It will be sent again within a minute."), "success")
    else:
        flash(_("Only failed or skipped messages can be sent again."), "error")
    return redirect(url_for("admin.delivery", delivery_id=row.id))


# Lobby screens


@bp.route("/screens", methods=["GET", "POST"])
def screens():
    form = ScreenForm()
    form.building_id.choices = choices((b.id, b.name) for b in db.session.scalars(select(Building).where(Building.is_active).order_by(Building.name)))
    if form.validate_on_submit():
        screen = kiosk.create(
            db.session.get(Building, form.building_id.data), form.name.data, form.orientation.data, form.slide_seconds.data,
            form.poll_seconds.data, form.night_start.data, form.night_end.data, utcnow(),
        )
        flash(_("Screen created. Open its link on the lobby PC: %(url)s", url=external_url("kiosk.screen", secret=screen.secret)), "success")
        return redirect(url_for("admin.screens"))
    rows = db.session.scalars(select(KioskScreen).order_by(KioskScreen.revoked_at.is_not(None), KioskScreen.id)).all()
    links = {s.id: external_url("kiosk.screen", secret=s.secret) for s in rows if s.revoked_at is None}
    return render_template("admin/screens.html", form=form, rows=rows, links=links, confirm=ConfirmForm(), now=utcnow(),
                           silent_after=kiosk.SILENT_AFTER), (422 if request.method == "POST" else 200)


@bp.route("/screens/<int:screen_id>/revoke", methods=["POST"])
def revoke_screen(screen_id):
    screen = db.session.get(KioskScreen, screen_id) or abort(404)
    if ConfirmForm().validate_on_submit() and screen.revoked_at is None:
        kiosk.revoke(screen, utcnow())
        flash(_("The screen's link was revoked: it stops working at once."), "success")
    return redirect(url_for("admin.screens"))
