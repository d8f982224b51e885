from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from portal.forms import choices
from wtforms import EmailField, PasswordField, RadioField, SelectField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

EMAIL_PREF_CHOICES = [
    ("all", _l("All notices")),
    ("emergency", _l("Emergencies only")),
    ("none", _l("No email")),
]
LANGUAGE_CHOICES = [("zh_Hans", "简体中文"), ("en", "English")]


class PreferencesForm(FlaskForm):
    language = SelectField(_l("Language"), choices=choices(LANGUAGE_CHOICES))
    email = EmailField(_l("Email address"), validators=[Optional(), Email(_l("Enter a valid email address.")), Length(max=254)])
    email_pref = RadioField(_l("Email copies of notices"), choices=choices(EMAIL_PREF_CHOICES), default="all")

    def validate_email_pref(self, field):
        if field.data != "none" and not (self.email.data or "").strip():
            raise ValidationError(_l("Enter an email address to receive copies, or choose no email."))


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your current password."))])
    new = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password.")), Length(min=8, max=200, message=_l("Use 8 to 200 characters."))],
    )
    confirm = PasswordField(_l("Repeat the new password"), validators=[EqualTo("new", _l("The two passwords differ."))])
