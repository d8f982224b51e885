"""Form fields shared by several features."""
import re
import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, HiddenField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from portal.i18n import from_local, to_local_input


class LocalDateTimeField(DateTimeLocalField):
    """A date and time typed in the community's time zone; .utc gives it as aware UTC."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter a date and time like 2026-05-01 09:30.")) from None
        if self.data is not None and not 2000 <= self.data.year <= 2100:
            self.data = None
            raise ValueError(_l("Enter a date between the years 2000 and 2100."))

    def process_data(self, value):
        # Values given from the database are aware UTC: show them in community time.
        super().process_data(to_local_input(value) if value is not None and value.tzinfo else value)

    @property
    def utc(self):
        return from_local(self.data)


class CheckboxListField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def choices(pairs):
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class SaneDateField(DateField):
    """A date between 2000 and 2100: anything else is a typing mistake, not a date to compute with."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not 2000 <= self.data.year <= 2100:
            self.data = None
            raise ValueError(_l("Enter a date between the years 2000 and 2100."))


KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class IdempotencyKeyField(HiddenField):
    """A random key made when the form is shown; a value sent that is not one is dropped."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data and not KEY.fullmatch(self.data):
            self.data = None

    def __call__(self, **kwargs):
        kwargs.setdefault("id", False)  # several such forms on one page: no id to repeat
        return super().__call__(**kwargs)


class IdempotentForm(FlaskForm):
    """A form that creates something. Its hidden key is stored on the row it creates (unique in
    its table), so that the same form sent twice, or again after a timeout or a 503, creates
    one row and answers with it the second time; and so that a commit whose answer was lost
    can be told from one that failed (database.commit)."""

    idempotency_key = IdempotencyKeyField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.idempotency_key.data:
            self.idempotency_key.data = uuid.uuid4().hex

    @property
    def key(self):
        return self.idempotency_key.data or None


class ConfirmForm(FlaskForm):
    """A button that only needs its CSRF token."""
