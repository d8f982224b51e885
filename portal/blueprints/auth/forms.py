from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from portal.forms import Form


class LoginForm(Form):
    identifier = StringField(_l("Phone number or username"), validators=[DataRequired(_l("Enter your phone number or username.")), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)])
    next = HiddenField()
