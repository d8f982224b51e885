from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.forms import Form, IdempotentForm, SaneDateField, choices
from portal.models import SuggestionStatus, SuggestionTopic
from portal.services.suggestions import STATUS_LABELS, TOPIC_LABELS


class SuggestionForm(IdempotentForm):
    topic = RadioField(_l("Topic"), choices=choices((t.value, TOPIC_LABELS[t]) for t in SuggestionTopic), default="other",
                       validators=[InputRequired(_l("Choose a topic."))])
    title = StringField(_l("In one line"), validators=[DataRequired(_l("Give it a title.")), Length(max=120)])
    body = TextAreaField(_l("Your suggestion"), validators=[DataRequired(_l("Write your suggestion.")), Length(max=4000)])
    anonymous = BooleanField(_l("Post anonymously (staff will not see who wrote it)"))
    only_my_building = BooleanField(_l("It concerns only my building"))


class HideForm(Form):
    reason = StringField(_l("Reason (the author sees it)"), validators=[DataRequired(_l("Give the reason.")), Length(max=300)])


class AnswerForm(Form):
    status = SelectField(_l("Public status"), choices=choices((s.value, STATUS_LABELS[s]) for s in SuggestionStatus))
    duplicate_of = StringField(_l("Duplicate of suggestion no."), validators=[Optional(), Length(max=10)])
    reply = TextAreaField(_l("Public reply"), validators=[Length(max=4000)])


class StudyForm(Form):
    owner = SelectField(_l("Owner"), coerce=int, choices=[])
    deadline = SaneDateField(_l("Deadline"), validators=[InputRequired(_l("Choose a deadline."))])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=4000)])


class AgendaForm(Form):
    forum = SelectField(_l("Forum"), coerce=int, choices=[])
