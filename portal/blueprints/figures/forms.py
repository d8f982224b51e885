from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from portal.forms import SaneDateField, choices, Form
from portal.models import FigureKey
from portal.services.figures import LABELS


class ReportForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    period_start = SaneDateField(_l("From"), validators=[InputRequired(_l("Choose the first day."))])
    period_end = SaneDateField(_l("To"), validators=[InputRequired(_l("Choose the last day."))])
    problems = TextAreaField(_l("Problems and their causes"), validators=[Length(max=20000)])


class ProblemsForm(Form):
    """A report's problems and their causes, written after the figures."""

    problems = TextAreaField(_l("Problems and their causes"), validators=[Length(max=20000)])


class MeasureForm(Form):
    problem = TextAreaField(_l("Problem"), validators=[DataRequired(_l("Describe the problem.")), Length(max=4000)])
    goal = TextAreaField(_l("Goal"), validators=[DataRequired(_l("Describe the goal.")), Length(max=2000)])
    figure = SelectField(_l("Figure it should move"), choices=choices((k.value, LABELS[k]) for k in FigureKey if k != FigureKey.PARTICIPATION))
    target = IntegerField(_l("Target value (%)"), validators=[InputRequired(), NumberRange(min=0, max=100)])
    department_id = SelectField(_l("Department"), coerce=int, choices=[])
    owner_id = SelectField(_l("Owner"), coerce=int, choices=[])
    starts_on = SaneDateField(_l("Starts"), validators=[InputRequired()])
    deadline = SaneDateField(_l("Deadline"), validators=[InputRequired()])
    steps = TextAreaField(_l("Steps"), validators=[Length(max=8000)])
