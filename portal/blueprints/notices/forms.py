from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.forms import CheckboxListField, Form, IdempotentForm, LocalDateTimeField, choices
from portal.models import NoticeCategory
from portal.services.notices import CATEGORY_LABELS


class NoticeForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    body = TextAreaField(
        _l("Text"),
        validators=[Length(max=20000)],
        description=_l("Blank line: new paragraph. **bold**, *italic*, lines starting with - make a list."),
    )
    category = SelectField(_l("Category"), choices=choices((c.value, CATEGORY_LABELS[c]) for c in NoticeCategory))
    community_wide = BooleanField(_l("The whole community (notice board)"), default=True)
    buildings = CheckboxListField(_l("Or only these buildings (building bulletin)"), coerce=int, choices=[])
    publish_at = LocalDateTimeField(
        _l("Publish at"), validators=[Optional()], description=_l("Leave empty to publish now.")
    )
    expires_at = LocalDateTimeField(_l("Expires at"), validators=[Optional()])
    is_pinned = BooleanField(_l("Pin to the top"))
    files = MultipleFileField(_l("Attachments (images or PDF)"))

    def validate_buildings(self, field):
        if not self.community_wide.data and not field.data:
            raise ValidationError(_l("Choose the whole community or at least one building."))

    def validate_expires_at(self, field):
        if field.data and self.publish_at.data and field.data <= self.publish_at.data:
            raise ValidationError(_l("The expiry must come after the publish time."))


class WithdrawForm(Form):
    reason = StringField(_l("Reason for withdrawing"), validators=[DataRequired(_l("Give a reason.")), Length(max=500)])


class QuestionForm(IdempotentForm):
    body = TextAreaField(_l("Your question"), validators=[DataRequired(_l("Write your question.")), Length(max=2000)])


class AnswerForm(Form):
    answer = TextAreaField(_l("Answer"), validators=[DataRequired(_l("Write an answer.")), Length(max=4000)])


class AttachmentForm(Form):
    files = MultipleFileField(_l("Attachments (images or PDF)"))
