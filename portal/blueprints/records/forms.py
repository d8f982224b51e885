from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms import CheckboxListField, Form, IdempotentForm, LocalDateTimeField, SaneDateField, choices
from portal.models import RecordKind, TrainingMethod, TrainingTopic
from portal.services.records import KIND_LABELS, METHOD_LABELS, TOPIC_LABELS


class RecordForm(IdempotentForm):
    kind = SelectField(_l("Kind"), choices=choices((k.value, KIND_LABELS[k]) for k in RecordKind))
    occurred_at = LocalDateTimeField(_l("When"), validators=[Optional()], description=_l("Leave empty for now."))
    place = StringField(_l("Place"), validators=[Length(max=200)])
    participants = TextAreaField(_l("Participants"), validators=[Length(max=2000)])
    content = TextAreaField(_l("Content"), validators=[DataRequired(_l("Write what was discussed.")), Length(max=8000)])
    result = TextAreaField(_l("Result"), validators=[Length(max=4000)])
    resident_phone = StringField(_l("Resident's phone (if any)"), validators=[Length(max=32)])
    ticket_number = StringField(_l("Ticket number (if any)"), validators=[Length(max=20)])
    event_id = SelectField(_l("Event or meeting (if any)"), coerce=int, choices=[], validate_choice=False)


class TrainingForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    topic = SelectField(_l("Topic"), choices=choices((t.value, TOPIC_LABELS[t]) for t in TrainingTopic))
    method = SelectField(_l("Method"), choices=choices((m.value, METHOD_LABELS[m]) for m in TrainingMethod))
    held_on = SaneDateField(_l("Date"), validators=[InputRequired(_l("Choose the date."))])
    trainer = StringField(_l("Trainer"), validators=[DataRequired(_l("Who trained?")), Length(max=100)])
    attendees = CheckboxListField(_l("Attendees"), coerce=int, choices=[])
    plan_item_id = SelectField(_l("Delivers this item of the training plan"), coerce=int, choices=[], default=0)


class TrainingPlanForm(Form):
    """One item of the yearly training plan (S6.2.1): content, goal, method, month and audience."""

    title = StringField(_l("Content"), validators=[DataRequired(_l("Enter what the training covers.")), Length(max=200)])
    topic = SelectField(_l("Topic"), choices=choices((t.value, TOPIC_LABELS[t]) for t in TrainingTopic))
    method = SelectField(_l("Method"), choices=choices((m.value, METHOD_LABELS[m]) for m in TrainingMethod))
    year = IntegerField(_l("Year"), validators=[InputRequired(_l("Enter the year.")),
                                                 NumberRange(min=2000, max=2100, message=_l("Enter a year between 2000 and 2100."))])
    month = SelectField(_l("Planned month"), coerce=int, choices=choices((m, _l("Month %(n)d", n=m)) for m in range(1, 13)))
    goal = TextAreaField(_l("Training goal"), validators=[Length(max=2000)])
    department_id = SelectField(_l("For everyone in this department"), coerce=int, choices=[])
    people = CheckboxListField(_l("For these people"), coerce=int, choices=[])

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if not self.department_id.data and not self.people.data:
            self.people.errors = [*self.people.errors, _l("Choose a department or the people it is for.")]
            return False
        return ok
