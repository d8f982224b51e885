from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from portal.forms import CheckboxListField, LocalDateTimeField


class ConsultationForm(FlaskForm):
    title = StringField(_l("Question"), validators=[DataRequired(_l("Write the question.")), Length(max=200)])
    explanation = TextAreaField(_l("Explanation"), validators=[Length(max=8000)])
    options = TextAreaField(_l("Options, one per line"), validators=[DataRequired(_l("Give the options."))])
    deadline = LocalDateTimeField(_l("Deadline"), validators=[InputRequired(_l("Choose a deadline."))])
    buildings = CheckboxListField(_l("Owners of these buildings are asked"), coerce=int, choices=[])


class AnswerForm(FlaskForm):
    option = RadioField(_l("My household's answer"), coerce=int, choices=[], validators=[InputRequired(_l("Choose one option."))])
