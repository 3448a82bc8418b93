from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from aeplan.auth.models import DISCIPLINES, ROLES
from aeplan.forms import TimezoneField, choices, options


def printable(form, field) -> None:
    """Refuse control characters (NUL above all: PostgreSQL cannot store or even compare
    it, and a query with one failed with a 500)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data or ""):
        raise ValidationError(_l("Remove the control characters from this field."))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254), printable])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SettingsForm(FlaskForm):
    timezone = TimezoneField(_l("Home timezone"))
    locale = SelectField(_l("Language"), choices=options([("", _l("As my browser says")),
                                                          ("en", "English"), ("de", "Deutsch")]))


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    # Length and strength are judged by auth.passwords, the one rule for every form.
    new_password = PasswordField(_l("New password"), validators=[DataRequired()])


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=choices(ROLES))
    discipline = SelectField(_l("Discipline (support staff)"),
                             choices=choices(DISCIPLINES, blank=_l("None")))
    skills = StringField(_l("Skills (comma separated)"), validators=[Optional(), Length(max=500)])
    timezone = TimezoneField(_l("Home timezone"), default="Europe/Berlin")
    password = PasswordField(_l("Password"), validators=[Optional()])  # see auth.passwords
