"""Form helpers shared by every domain."""
from __future__ import annotations

from functools import cache

from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import SelectChoice, SelectField, ValidationError
from wtforms.widgets import Select, html_params

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


@cache
def _zone_options() -> tuple[tuple[str, ...], dict[str, int]]:
    options = tuple(f'<option value="{escape(z)}">{escape(z)}</option>' for z in timezone_names())
    return options, {z: i for i, z in enumerate(timezone_names())}


class ZoneSelect(Select):
    """WTForms' select for the zones, with the same HTML, from options written once:
    WTForms wrote the 500-odd options afresh each time, about 20 ms of every page with a
    timezone field."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for k in dir(flags):
            if k in self.validation_attrs and k not in kwargs:
                kwargs[k] = getattr(flags, k)
        options, index = _zone_options()
        i = index.get(field.data) if isinstance(field.data, str) else None
        if i is None:
            body = "".join(options)
        else:
            chosen = f'<option selected value="{escape(field.data)}">{escape(field.data)}</option>'
            body = "".join(options[:i]) + chosen + "".join(options[i + 1:])
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{body}</select>")


class TimezoneField(SelectField):
    """A select of IANA zones; the value is checked again by the services."""

    widget = ZoneSelect()

    def __init__(self, label=None, **kwargs):
        kwargs.setdefault("choices", [SelectChoice(z) for z in timezone_names()])
        super().__init__(label or _l("Timezone"), **kwargs)

    def pre_validate(self, form):
        if self.data not in timezone_names():
            raise ValidationError(_l("Choose a timezone from the list."))
