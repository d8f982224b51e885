from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from portal.forms import CheckboxListField, LocalDateTimeField, choices, Form
from portal.models import QuestionKind
from portal.services.surveys import KIND_LABELS


class SurveyForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(_l("Write the title.")), Length(max=200)])
    introduction = TextAreaField(_l("Introduction"), validators=[Length(max=8000)],
                                 description=_l("What it is about, how long it takes, what happens with the answers."))
    buildings = CheckboxListField(_l("Residents of these buildings are asked"), coerce=int, choices=[])
    audience = RadioField(_l("Who answers"), choices=choices([("all", _l("All residents (owners and occupants)")),
                                                              ("owners", _l("Owners only"))]), default="all")
    per = RadioField(_l("How many answers"), choices=choices([("household", _l("One per household")), ("person", _l("One per person"))]),
                     default="household")
    opens_at = LocalDateTimeField(_l("Opens at"), validators=[InputRequired(_l("Choose when it opens."))])
    closes_at = LocalDateTimeField(_l("Closes at"), validators=[InputRequired(_l("Choose when it closes."))])
    is_satisfaction = BooleanField(_l("A satisfaction survey: its overall question joins the satisfaction figure (S5)"))


class TextForm(Form):
    """On the questionnaire's page beside others (prefixed); the app-wide CSRF check covers it."""

    class Meta:
        csrf = False

    title = StringField(_l("Title"), validators=[DataRequired(_l("Write the title.")), Length(max=200)])
    introduction = TextAreaField(_l("Introduction"), validators=[Length(max=8000)])


class QuestionForm(Form):
    """One per question on the questionnaire's page (prefixed); the app-wide CSRF check covers it."""

    class Meta:
        csrf = False

    kind = SelectField(_l("Kind of question"), choices=choices((k.value, KIND_LABELS[k]) for k in QuestionKind), default="single")
    text = StringField(_l("Question text"), validators=[DataRequired(_l("Write the question.")), Length(max=300)])
    choices = TextAreaField(_l("Choices, one per line"), validators=[Length(max=4000)],
                            description=_l("For single and multiple choice questions."))
    is_required = BooleanField(_l("Must be answered"), default=True)
    is_overall = BooleanField(_l("Overall satisfaction (a 1-to-5 question of a satisfaction survey)"))
