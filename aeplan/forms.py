"""Form helpers shared by every domain."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField, ValidationError

from aeplan.display import LABELS
from aeplan.timeutil import timezone_names


def options(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def choices(values, blank: str | None = None) -> list[SelectChoice]:
    """Select options for stored choice values, labelled for people."""
    pairs = [("", blank)] if blank is not None else []
    return options(pairs + [(v, LABELS.get(v, v)) for v in values])


def apply_error(form, error) -> None:
    """Show a domain error beside its field, or at the top of the form."""
    target = getattr(form, error.field, None) if error.field else None
    if target is not None:
        target.errors = list(target.errors) + [error.message]
    else:
        form.form_errors.append(error.message)


class TimezoneField(SelectField):
    """A select of IANA zones; the value is checked again by the services."""

    def __init__(self, label=None, **kwargs):
        kwargs.setdefault("choices", [SelectChoice(z) for z in timezone_names()])
        super().__init__(label or _l("Timezone"), **kwargs)

    def pre_validate(self, form):
        if self.data not in timezone_names():
            raise ValidationError(_l("Choose a timezone from the list."))
