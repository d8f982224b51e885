from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length

from portal.forms import Form


class ShiftForm(Form):
    name = StringField(_l("Shift"), validators=[DataRequired(_l("Name the shift (白班, 夜班 ...).")), Length(max=32)], default="白班")
    starts = TimeField(_l("From"), validators=[InputRequired(_l("When does it start?"))])
    ends = TimeField(_l("Until"), validators=[InputRequired(_l("When does it end?"))], description=_l("Earlier than the start: it runs past midnight."))


class DayChangeForm(Form):
    shift_id = SelectField(_l("Shift"), coerce=int, choices=[])
    day = DateField(_l("Day"), validators=[InputRequired(_l("Which day?"))])
    primary_id = SelectField(_l("On duty"), coerce=int, choices=[])
    deputy_id = SelectField(_l("Deputy"), coerce=int, choices=[])
    reason = StringField(_l("Why (swap, leave ...)"), validators=[Length(max=200)])
