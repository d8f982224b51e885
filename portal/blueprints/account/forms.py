from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, PasswordField, SelectField
from wtforms.validators import AnyOf, DataRequired, Email, EqualTo, Length, Optional, ValidationError

from portal.forms import CheckboxListField, choices, Form
from portal.notify import kinds
from portal.notify.prefs import CHOOSABLE

LANGUAGE_CHOICES = [("zh_Hans", "简体中文"), ("en", "English")]
CHANNEL_LABELS = {"wechat": _l("WeChat"), "sms": _l("SMS"), "email": _l("Email")}


class PreferencesForm(Form):
    language = SelectField(_l("Language"), choices=choices(LANGUAGE_CHOICES))
    email = EmailField(_l("Email address"), validators=[Optional(), Email(_l("Enter a valid email address.")), Length(max=254)])


def channel_choices():
    return choices((c.value, CHANNEL_LABELS[c.value]) for c in CHOOSABLE)


class ChannelsForm(Form):
    """Per category, the channels beyond in-app (which is always on)."""

    tickets = CheckboxListField(kinds.CATEGORY_LABELS[kinds.TICKETS], choices=channel_choices())
    notices = CheckboxListField(kinds.CATEGORY_LABELS[kinds.NOTICES], choices=channel_choices())
    events = CheckboxListField(kinds.CATEGORY_LABELS[kinds.EVENTS], choices=channel_choices())
    consultations = CheckboxListField(kinds.CATEGORY_LABELS[kinds.CONSULTATIONS], choices=channel_choices())
    emergencies = CheckboxListField(kinds.CATEGORY_LABELS[kinds.EMERGENCIES], choices=channel_choices())

    def validate_emergencies(self, field):
        if not {"wechat", "sms"} & set(field.data or []):
            raise ValidationError(_l("Emergencies cannot be switched off: keep WeChat or SMS for them."))


class ConsentForm(Form):
    channel = HiddenField(validators=[AnyOf(["sms", "wechat"])])
    granted = HiddenField(validators=[AnyOf(["1", "0"])])


class PasswordForm(Form):
    current = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your current password."))])
    new = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password.")), Length(min=8, max=200, message=_l("Use 8 to 200 characters."))],
    )
    confirm = PasswordField(_l("Repeat the new password"), validators=[EqualTo("new", _l("The two passwords differ."))])
