from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from aeplan.clients.models import INDUSTRIES, TIERS
from aeplan.forms import TimezoneField, choices


class ClientForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=160)])
    industry = SelectField(_l("Industry"), choices=choices(INDUSTRIES))
    tier = SelectField(_l("Tier"), choices=choices(TIERS), default="standard")
    owner_id = SelectField(_l("Account executive"), coerce=int, validate_choice=False)
    timezone = TimezoneField(default="Europe/Berlin")
    cadence_days = IntegerField(_l("Contact at least every (days)"), default=30,
                                validators=[DataRequired(), NumberRange(min=1, max=730)])
    gift_rules = BooleanField(_l("Regulated: gift limits apply (FINRA Rule 3220)"))
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])


class ContactForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=254)])
    title = StringField(_l("Job title"), validators=[Optional(), Length(max=120)])
