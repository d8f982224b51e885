"""The forms' base classes, which give every field the input rule, and form fields shared by
several features."""
import re
import uuid

import wtforms
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, FieldList, FormField, HiddenField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from portal.i18n import from_local, to_local_input
from portal.inputs import CONTROL_ERROR, INT_MAX, INT_MIN, clean, has_controls, newlines


def input_rule(form, field):
    """Every field's first check (portal/inputs.py): text without control characters (shown again
    without them, so that nothing else typed is lost), whole numbers that fit the database."""
    values = field.data if isinstance(field.data, (list, tuple)) else (field.data,)
    sent = field.raw_data or ()  # what a date or number field shows again when it could not read it
    if any(isinstance(v, str) and has_controls(v) for v in (*values, *sent)):
        _without_controls(field)
        raise StopValidation(CONTROL_ERROR)
    if any(isinstance(v, int) and not isinstance(v, bool) and not INT_MIN <= v <= INT_MAX for v in values):
        raise StopValidation(_l("This number is out of range."))


def _without_controls(field):
    def dirty(values):
        return any(isinstance(v, str) and has_controls(v) for v in values)

    if field.raw_data and dirty(field.raw_data):
        field.raw_data = [clean(v) if isinstance(v, str) else v for v in field.raw_data]
    if isinstance(field.data, str) and has_controls(field.data):
        field.data = clean(field.data)
    elif isinstance(field.data, list) and dirty(field.data):
        field.data = [clean(v) if isinstance(v, str) else v for v in field.data]


def input_checked(form):
    """The input rule alone on every field of a form shown again without being validated (a
    step that only adds rows): False, with the fields' errors, if something broke it."""
    fine = True
    for field in form:
        if isinstance(field, FormField):
            fine = input_checked(field.form) and fine
        elif isinstance(field, FieldList):
            for entry in field:
                fine = (input_checked(entry.form) if isinstance(entry, FormField) else _checked(entry)) and fine
        else:
            fine = _checked(field) and fine
    return fine


def _checked(field):
    try:
        input_rule(None, field)
    except StopValidation as error:
        field.errors = [*field.errors, str(error)]
        return False
    return True


def _line_ends(value):
    return newlines(value) if isinstance(value, str) else value


class InputRules:
    """A form's Meta: each field it binds gets the input rule, and its text line feeds for line
    ends; a field shown again (validated or not) never shows a control character it was sent."""

    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        field.filters = (_line_ends, *field.filters)
        field.validators = [input_rule, *field.validators]
        return field

    def render_field(self, field, render_kw):
        _without_controls(field)
        return super().render_field(field, render_kw)


class Form(FlaskForm):
    """Every form of the portal (tests/test_input.py checks that each one is one of these)."""

    class Meta(InputRules):
        pass


class SubForm(wtforms.Form):
    """A form inside a form (FormField, e.g. a row of a table), without a CSRF token of its own."""

    class Meta(InputRules):
        pass


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


class IdempotentForm(Form):
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


class ConfirmForm(Form):
    """A button that only needs its CSRF token."""
