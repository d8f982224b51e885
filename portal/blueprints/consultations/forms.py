from flask_babel import lazy_gettext as _l
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from portal.forms import CheckboxListField, LocalDateTimeField, choices, Form
from portal.models import ConsultationKind
from portal.services.consultations import COMMENT_MAX, KIND_LABELS


class ConsultationForm(Form):
    title = StringField(_l("Question"), validators=[DataRequired(_l("Write the question.")), Length(max=200)])
    explanation = TextAreaField(_l("Explanation"), validators=[Length(max=8000)])
    kind = RadioField(
        _l("What the answers decide"), choices=choices((k.value, KIND_LABELS[k]) for k in ConsultationKind), default=ConsultationKind.POLL.value,
        validators=[InputRequired(_l("Choose what the answers decide."))],
        description=_l("民法典 art. 278: raising the maintenance fund, rebuilding, and changing the use of common parts or running a business "
                       "on them are major matters; the rules of procedure, the management agreement, the owners' committee, the property "
                       "service company, using the maintenance fund and the other matters are ordinary. Both need two thirds of the floor "
                       "area and of the owners to take part, and are answered with agree, disagree or abstain."),
    )
    options = TextAreaField(_l("Options, one per line (opinion polls)"))
    deadline = LocalDateTimeField(_l("Deadline"), validators=[InputRequired(_l("Choose a deadline."))])
    buildings = CheckboxListField(_l("Owners of these buildings are asked"), coerce=int, choices=[])

    def validate_options(self, field):
        if self.kind.data == ConsultationKind.POLL.value and not (field.data or "").strip():
            raise ValidationError(_l("Give the options."))


class AnswerForm(Form):
    option = RadioField(_l("My household's answer"), coerce=int, choices=[], validators=[InputRequired(_l("Choose one option."))])
    comment = TextAreaField(_l("Comment (optional)"), validators=[Length(max=COMMENT_MAX, message=_l("At most %(max)d characters."))],
                            description=_l("Only the service centre reads it."))
