from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.forms import Form, IdempotentForm, choices
from portal.models import TicketCategory
from portal.services.tickets import CATEGORY_LABELS


class MessageForm(IdempotentForm):
    body = TextAreaField(_l("Message"), validators=[Length(max=2000)])
    photo = FileField(_l("Photo"))
    canned = SelectField(_l("Canned reply"), coerce=int, choices=[], validate_choice=False)


class HandOverForm(Form):
    colleague = SelectField(_l("Hand over to"), coerce=int, choices=[])


class TicketForm(Form):
    category = SelectField(_l("Category"), choices=choices((c.value, CATEGORY_LABELS[c]) for c in TicketCategory), default="repair")


class LinkForm(Form):
    phone = StringField(_l("The resident's mobile number"), validators=[DataRequired(_l("Enter the resident's mobile number.")), Length(max=32)])


class SeenForm(Form):
    upto = IntegerField(validators=[Optional(), NumberRange(min=0, max=2**31)])


class CannedForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=64)])
    body = TextAreaField(_l("Text"), validators=[DataRequired(_l("Write the reply.")), Length(max=2000)])
