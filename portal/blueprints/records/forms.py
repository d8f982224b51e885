from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.forms import SaneDateField, CheckboxListField, LocalDateTimeField, choices
from portal.models import RecordKind, TrainingMethod, TrainingTopic
from portal.services.records import KIND_LABELS, METHOD_LABELS, TOPIC_LABELS


class RecordForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=choices((k.value, KIND_LABELS[k]) for k in RecordKind))
    occurred_at = LocalDateTimeField(_l("When"), validators=[Optional()], description=_l("Leave empty for now."))
    place = StringField(_l("Place"), validators=[Length(max=200)])
    participants = TextAreaField(_l("Participants"), validators=[Length(max=2000)])
    content = TextAreaField(_l("Content"), validators=[DataRequired(_l("Write what was discussed.")), Length(max=8000)])
    result = TextAreaField(_l("Result"), validators=[Length(max=4000)])
    resident_phone = StringField(_l("Resident's phone (if any)"), validators=[Length(max=32)])
    ticket_number = StringField(_l("Ticket number (if any)"), validators=[Length(max=20)])
    event_id = SelectField(_l("Event or meeting (if any)"), coerce=int, choices=[], validate_choice=False)


class TrainingForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    topic = SelectField(_l("Topic"), choices=choices((t.value, TOPIC_LABELS[t]) for t in TrainingTopic))
    method = SelectField(_l("Method"), choices=choices((m.value, METHOD_LABELS[m]) for m in TrainingMethod))
    held_on = SaneDateField(_l("Date"), validators=[InputRequired(_l("Choose the date."))])
    trainer = StringField(_l("Trainer"), validators=[DataRequired(_l("Who trained?")), Length(max=100)])
    attendees = CheckboxListField(_l("Attendees"), coerce=int, choices=[])
