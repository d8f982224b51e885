"""Form fields shared by several features."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms import SelectMultipleField
from wtforms.fields.choices import SelectChoice

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


class ConfirmForm(FlaskForm):
    """A button that only needs its CSRF token."""
