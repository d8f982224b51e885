from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, MultipleFileField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from portal.forms import CheckboxListField, Form, IdempotentForm, LocalDateTimeField, SaneDateField, choices
from portal.models import TicketCategory, TicketChannel
from portal.services.tickets import CATEGORY_LABELS, CHANNEL_LABELS, FEEDBACK_METHODS

CATEGORY_CHOICES = choices((c.value, CATEGORY_LABELS[c]) for c in TicketCategory)


class ResidentTicketForm(IdempotentForm):
    category = RadioField(_l("What is it about?"), choices=CATEGORY_CHOICES, default="repair")
    unit_id = SelectField(_l("Which home"), coerce=int, choices=[])
    description = TextAreaField(
        _l("What happened"), validators=[DataRequired(_l("Describe what happened.")), Length(max=4000)]
    )
    preferred_visit = StringField(
        _l("When can we visit (repairs)"), validators=[Length(max=200)], description=_l("For example: weekdays after 18:00")
    )
    is_urgent = BooleanField(_l("Urgent: danger to people or property (water, gas, fire, lift)"))
    photos = MultipleFileField(_l("Photos (optional)"))


class IntakeForm(IdempotentForm):
    """Hotline and walk-in (S2.1.1, S2.1.3), and what other staff relay."""

    channel = SelectField(
        _l("Channel"),
        choices=choices((c.value, CHANNEL_LABELS[c]) for c in (
            TicketChannel.HOTLINE, TicketChannel.WALK_IN, TicketChannel.EMAIL, TicketChannel.GOV_HOTLINE)),
    )
    gov_order_number = StringField(
        _l("12345 work-order number"), validators=[Length(max=40), Regexp(r"^[A-Za-z0-9\-_]*$", message=_l("Letters, digits and - only."))],
    )
    resident_id = HiddenField()
    call_id = HiddenField()
    caller_name = StringField(_l("Caller's name"), validators=[Length(max=64)])
    caller_phone = StringField(
        _l("Caller's phone"), validators=[Optional(), Regexp(r"^\+?[0-9][0-9\- ]{4,19}$", message=_l("Enter a valid phone number."))]
    )
    caller_unit = StringField(_l("Unit, as told"), validators=[Length(max=64)])
    unit_id = SelectField(_l("Unit"), coerce=int, choices=[], validate_choice=False)
    category = SelectField(_l("Category"), choices=CATEGORY_CHOICES, default="repair")
    description = TextAreaField(_l("What the caller said"), validators=[DataRequired(_l("Write down what was said.")), Length(max=4000)])
    preferred_visit = StringField(_l("When can we visit (repairs)"), validators=[Length(max=200)])
    is_urgent = BooleanField(_l("Urgent (emergency)"))
    photos = MultipleFileField(_l("Photos (optional)"))

    def validate_gov_order_number(self, field):
        if self.channel.data == TicketChannel.GOV_HOTLINE.value and not (field.data or "").strip():
            raise ValidationError(_l("A 12345 work order needs its number."))

    def validate_caller_name(self, field):
        if not self.resident_id.data and not (field.data or "").strip():
            raise ValidationError(_l("Choose a registered resident, or write down the caller's name."))


class UrgencyForm(Form):
    urgent = HiddenField(validators=[Regexp(r"^[01]$")])
    reason = StringField(_l("Reason"), validators=[Length(max=300)])


class GovReplyForm(Form):
    text = TextAreaField(_l("Reply sent to the 12345 hotline"), validators=[DataRequired(_l("Write the reply.")), Length(max=4000)])


class ClassifyForm(Form):
    category = SelectField(_l("Category"), choices=CATEGORY_CHOICES)


class TransferForm(Form):
    lead = SelectField(_l("Lead department"), coerce=int, choices=[])
    co = CheckboxListField(_l("Co-departments"), coerce=int, choices=[])
    due_at = LocalDateTimeField(_l("Due time"), validators=[Optional()])
    due_reason = StringField(_l("Reason for a different due time"), validators=[Length(max=300)])


class AssignForm(Form):
    assignee = SelectField(_l("Handled by"), coerce=int, choices=[])


class CallForm(Form):
    to_whom = StringField(_l("Called (name, phone)"), validators=[DataRequired(_l("Who was called?")), Length(max=200)])
    called_at = LocalDateTimeField(_l("At"), validators=[Optional()], description=_l("Leave empty for now."))


class ProgressForm(Form):
    body = TextAreaField(_l("Progress"), validators=[DataRequired(_l("Write what was done.")), Length(max=4000)])
    expected_completion = SaneDateField(_l("Expected completion"), validators=[Optional()])


class NoteForm(Form):
    body = TextAreaField(_l("Internal note (residents never see it)"), validators=[DataRequired(_l("Write the note.")), Length(max=4000)])


class MessageForm(IdempotentForm):
    body = TextAreaField(_l("Message"), validators=[DataRequired(_l("Write your message.")), Length(max=4000)])


class HoldForm(Form):
    reason = StringField(_l("Why it waits (the resident sees this)"), validators=[DataRequired(_l("Give the reason.")), Length(max=300)])


class ResolveForm(Form):
    result = TextAreaField(_l("Result"), validators=[DataRequired(_l("Write the result.")), Length(max=4000)])


class FeedbackForm(Form):
    method = RadioField(_l("The resident was told by"), choices=choices(FEEDBACK_METHODS.items()), validators=[InputRequired(_l("Choose how."))])


class FormalReplyForm(Form):
    text = TextAreaField(_l("Formal written reply"), validators=[DataRequired(_l("Write the reply.")), Length(max=8000)])


class RatingForm(Form):
    rating = RadioField(
        _l("How satisfied are you?"),
        coerce=int,
        choices=choices([(5, _l("5 · very satisfied")), (4, _l("4 · satisfied")), (3, _l("3 · fair")), (2, _l("2 · dissatisfied")), (1, _l("1 · very dissatisfied"))]),
        validators=[InputRequired(_l("Choose a rating."))],
    )
    resolved = RadioField(
        _l("Was it resolved?"),
        choices=choices([("yes", _l("Yes")), ("no", _l("No, reopen it"))]),
        default="yes",
        validators=[InputRequired()],
    )
    comment = TextAreaField(_l("Comment"), validators=[Length(max=2000)])


class RegisterFilterForm(Form):
    class Meta:
        csrf = False

    q = StringField(_l("Number, phone or text"))
    status = SelectField(_l("Status"), choices=[])
    category = SelectField(_l("Category"), choices=[])
    channel = SelectField(_l("Channel"), choices=[])
    department = SelectField(_l("Department"), choices=[], coerce=str)
    building = SelectField(_l("Building"), choices=[], coerce=str)
    overdue = BooleanField(_l("Overdue only"))
    urgent = BooleanField(_l("Urgent only"))
    since = SaneDateField(_l("From"), validators=[Optional()])
    until = SaneDateField(_l("To"), validators=[Optional()])


