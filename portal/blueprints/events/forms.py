from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms import CheckboxListField, Form, IdempotentForm, LocalDateTimeField, choices
from portal.models import EventType, TicketCategory
from portal.services.events import TYPE_LABELS
from portal.services.tickets import CATEGORY_LABELS


class EventForm(Form):
    kind = SelectField(_l("Kind"), choices=choices((k.value, TYPE_LABELS[k]) for k in EventType))
    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Length(max=8000)])
    location = StringField(_l("Place"), validators=[Length(max=200)])
    starts_at = LocalDateTimeField(_l("Starts"), validators=[InputRequired(_l("When does it start?"))])
    ends_at = LocalDateTimeField(_l("Ends"), validators=[InputRequired(_l("When does it end?"))])
    public_holiday = BooleanField(_l("The day is a public holiday"))
    capacity = IntegerField(_l("Seats (empty: no limit)"), validators=[Optional(), NumberRange(min=1, max=100000)])
    seats_per_household = IntegerField(_l("Seats per household"), default=1, validators=[InputRequired(), NumberRange(min=1, max=20)])
    signup_deadline = LocalDateTimeField(_l("Sign-up closes"), validators=[Optional()])
    buildings = CheckboxListField(_l("Only for these buildings (none: the whole community)"), coerce=int, choices=[])
    exception_reason = TextAreaField(_l("Reason for departing from the policy (if it does)"), validators=[Length(max=1000)])


class SignupForm(IdempotentForm):
    seats = IntegerField(_l("Seats"), default=1, validators=[InputRequired(_l("How many seats?")), NumberRange(min=1, max=20)])


class FeedbackForm(IdempotentForm):
    category = SelectField(_l("It is"), choices=choices((c.value, CATEGORY_LABELS[c]) for c in (
        TicketCategory.SUGGESTION, TicketCategory.PRAISE, TicketCategory.COMPLAINT, TicketCategory.INQUIRY)))
    text = TextAreaField(_l("Your feedback"), validators=[DataRequired(_l("Write your feedback.")), Length(max=4000)])


class MinutesForm(Form):
    minutes = TextAreaField(_l("Minutes"), validators=[DataRequired(_l("Write the minutes.")), Length(max=20000)])


class ChangeForm(Form):
    """Staff edit an event or move it to another time or place; everyone signed up hears of it."""

    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Length(max=8000)])
    capacity = IntegerField(_l("Seats (empty: no limit)"), validators=[Optional(), NumberRange(min=1, max=100000)])
    starts_at = LocalDateTimeField(_l("Starts"), validators=[InputRequired(_l("When does it start?"))])
    ends_at = LocalDateTimeField(_l("Ends"), validators=[InputRequired(_l("When does it end?"))])
    location = StringField(_l("Place"), validators=[Length(max=200)])
    public_holiday = BooleanField(_l("The day is a public holiday"))
    reason = TextAreaField(_l("What changed, for those signed up"), validators=[DataRequired(_l("Say what changed and why.")), Length(max=500)])
    exception_reason = TextAreaField(_l("Reason for departing from the policy (if it does)"), validators=[Length(max=1000)])


class CancelEventForm(Form):
    reason = TextAreaField(_l("Why it is cancelled"), validators=[DataRequired(_l("Give a reason for the cancellation.")), Length(max=500)])
