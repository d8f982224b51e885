from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, FieldList, FormField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from portal.forms import SaneDateField, SubForm, Form
from portal.services.disclosure import clean_price

MARKDOWN_HINT = _l("Blank line: new paragraph. **bold**, *italic*, lines starting with - make a list.")


class SectionForm(Form):
    """A section's text (hours and contacts, the heads' note)."""

    body = TextAreaField(_l("Text"), validators=[Length(max=20000)], description=MARKDOWN_HINT)
    note = StringField(_l("What changed"), validators=[Length(max=300)],
                       description=_l("In a sentence, for the history (变更记录) that everyone can read."))
    base = HiddenField()  # the newest version's number when the form was opened
    body_required = False

    def validate_body(self, field):
        if self.body_required and not (field.data or "").strip():
            raise ValidationError(_l("Write the text of this section."))


class AnnouncedForm(SectionForm):
    """A section whose changes can be announced on the notice board (commitments)."""

    announce = BooleanField(_l("Also post a notice on the notice board (residents are told of it)"))
    notice_title = StringField(_l("Title of the notice"), validators=[Length(max=200)])
    body_required = True

    def validate_notice_title(self, field):
        if self.announce.data and not (field.data or "").strip():
            raise ValidationError(_l("Give the notice a title, or untick the notice."))


class FeeRowForm(SubForm):
    """One row of the fee table; a row left empty is no row."""

    item = StringField(_l("Item"), validators=[Length(max=60)])
    scope = StringField(_l("Applies to"), validators=[Length(max=60)])
    price = StringField(_l("Amount (yuan)"), validators=[Length(max=20)])
    unit = StringField(_l("Charged per"), validators=[Length(max=30)])
    note = StringField(_l("Note"), validators=[Length(max=120)])

    def is_empty(self):
        return not any((f.data or "").strip() for f in (self.item, self.scope, self.price, self.unit, self.note))


class FeesForm(AnnouncedForm):
    body = TextAreaField(_l("Basis and notes"), validators=[Length(max=20000)], description=_l(
        "What the fees rest on (the service contract, the owners' meeting's decision, the price authority's filing) and how to pay. "
        + "Blank line: new paragraph; lines starting with - make a list."))
    effective_on = SaneDateField(_l("In effect from"), validators=[Optional()], description=_l(
        "Left empty: from today. A standard published for a later day takes over by itself on that day; until then the board shows both."))
    rows = FieldList(FormField(FeeRowForm), min_entries=1)
    body_required = False

    def validate(self, extra_validators=None):
        fine = super().validate(extra_validators)
        return self._check_rows() and fine

    def _check_rows(self):
        """Each row that has anything needs an item, an amount and a unit; an item and scope once."""
        self.table_errors = []
        seen = set()
        filled = 0
        for entry in self.rows:
            row = entry.form
            if row.is_empty():
                continue
            filled += 1
            if not (row.item.data or "").strip():
                row.item.errors.append(_l("Name the item."))
            if clean_price(row.price.data) is None:
                row.price.errors.append(_l("Write the amount as a number, like 2.20 (the unit goes in its own field)."))
            if not (row.unit.data or "").strip():
                row.unit.errors.append(_l("Say what it is charged per, like 元/㎡·月."))
            key = (" ".join((row.item.data or "").split()), " ".join((row.scope.data or "").split()))
            if key[0] and key in seen:
                row.scope.errors.append(_l("This item is listed twice for the same scope."))
            seen.add(key)
        if not filled:
            self.table_errors.append(_l("List at least one fee."))
        # (a row's own `errors` dict was taken before the checks above: ask its fields)
        return not self.table_errors and not any(f.errors for entry in self.rows for f in entry.form)
