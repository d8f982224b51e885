import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField, TextAreaField
from flask import current_app
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, Regexp

from portal.forms import choices, Form
from portal.models import Role
from portal.notify import phones
from portal.notify.channels.wecom import robot_key

ROLE_LABELS = {
    Role.RESIDENT: _l("Resident"),
    Role.STAFF: _l("Customer-service staff"),
    Role.HEAD: _l("Department head"),
    Role.WORKER: _l("Other staff"),
    Role.COMMITTEE: _l("Owners' committee"),
    Role.ADMIN: _l("Administrator"),
}


class CalendarForm(Form):
    """The working calendar's days of a year, one per line (see workdays.parse_year)."""

    days = TextAreaField(validators=[Length(max=20000)])


class BuildingForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=64)])
    address = StringField(_l("Address"), validators=[Length(max=200)])
    is_active = BooleanField(_l("Active"), default=True)


class UnitForm(Form):
    number = StringField(_l("Unit number"), validators=[DataRequired(_l("Enter a unit number.")), Length(max=32)])
    area = StringField(
        _l("Floor area (m²)"), render_kw={"inputmode": "decimal"},
        description=_l("The exclusive part's floor area (专有部分面积) as the property register records it; without a registration the "
                       "surveyed area, else the area in the sales contract. Owners' decisions count by it."),
    )
    is_unsold = BooleanField(
        _l("Not yet sold, or sold but not handed over, by the developer"),
        description=_l("While no owner is recorded, such units count together as one owner in owners' decisions."),
    )
    is_active = BooleanField(_l("Active"), default=True)

    def validate_area(self, field):
        from wtforms.validators import ValidationError

        from portal.services.people import parse_area

        if isinstance(field.data, Decimal):
            return
        value, problem = parse_area(field.data)
        if problem:
            raise ValidationError(_l("Enter the floor area in square metres: a number above 0, at most 99999.99, with at most two decimals, like 89.56."))
        field.data = value


class DepartmentForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=64)])
    robot_webhook = StringField(
        _l("企业微信 group robot"), validators=[Optional(), Length(max=300)],
        description=_l("The robot's webhook address (…/cgi-bin/webhook/send?key=…) or its key: the department's group hears of transfers and escalations."),
    )
    is_active = BooleanField(_l("Active"), default=True)

    def validate_robot_webhook(self, field):
        from wtforms.validators import ValidationError

        value = (field.data or "").strip()
        if value and not re.fullmatch(r"[A-Za-z0-9-]{8,64}", robot_key(value) or ""):
            raise ValidationError(_l("Paste the robot's webhook address as 企业微信 shows it, or its key."))
        field.data = value


class PersonForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=64)])
    phone = StringField(_l("Mobile number"), validators=[Optional(), Length(max=32)])
    username = StringField(
        _l("Username"),
        validators=[Optional(), Length(max=64), Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Letters, digits, . _ and - only."))],
    )
    email = EmailField(_l("Email address"), validators=[Optional(), Email(_l("Enter a valid email address.")), Length(max=254)])
    role = SelectField(_l("Role"), choices=choices((r.value, ROLE_LABELS[r]) for r in Role))
    department_id = SelectField(_l("Department"), coerce=int, choices=[])
    language = SelectField(_l("Language"), choices=choices([("zh_Hans", "简体中文"), ("en", "English")]))
    wecom_userid = StringField(
        _l("企业微信 userid"), validators=[Optional(), Length(max=64), Regexp(r"^[A-Za-z0-9_.@-]+$", message=_l("Letters, digits, . _ @ and - only."))],
        description=_l("Staff: their member account in 企业微信 (通讯录 → 成员 → 账号)."),
    )
    phone_extension = StringField(
        _l("Hotline extension"), validators=[Optional(), Length(max=16), Regexp(r"^[0-9*#]+$", message=_l("Digits only."))],
        description=_l("Staff: the extension they answer the hotline on (the caller screen's calls are recorded as theirs)."),
    )
    sms_consent = BooleanField(_l("Agreed to SMS"), description=_l("Tick when the resident agreed on the registration form; untick when they withdraw."))
    units = TextAreaField(
        _l("Units"),
        description=_l("Residents: one unit per line, the building name, a space, the unit number (1号楼 1-101)."),
    )
    is_active = BooleanField(_l("Active"), default=True)

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if not (self.phone.data or "").strip() and not (self.username.data or "").strip():
            self.phone.errors.append(_l("Give a phone number or a username to sign in with."))
            ok = False
        elif (self.phone.data or "").strip():
            number, problem = phones.check(self.phone.data, current_app.config)
            if problem:
                self.phone.errors.append(problem)
                ok = False
            else:
                self.phone.data = number
        return ok


class DeliveryFilterForm(Form):
    class Meta:
        csrf = False

    channel = SelectField(_l("Channel"), choices=[])
    status = SelectField(_l("Status"), choices=[])
    kind = SelectField(_l("What"), choices=[])
    q = StringField(_l("Person"), validators=[Optional(), Length(max=64)])


class ImportForm(Form):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class ScreenForm(Form):
    building_id = SelectField(_l("Building"), coerce=int, choices=[])
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=64)], default="大堂")
    orientation = SelectField(_l("Orientation"), choices=choices([("landscape", _l("Landscape")), ("portrait", _l("Portrait"))]))
    slide_seconds = IntegerField(_l("Seconds per slide"), default=12, validators=[NumberRange(min=4, max=300)])
    poll_seconds = IntegerField(_l("Check for news every (seconds)"), default=30, validators=[NumberRange(min=5, max=600)])
    night_start = IntegerField(_l("Dim from (hour)"), validators=[Optional(), NumberRange(min=0, max=23)])
    night_end = IntegerField(_l("Dim until (hour)"), validators=[Optional(), NumberRange(min=0, max=23)])
