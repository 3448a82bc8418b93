from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from aeplan.forms import TimezoneField, choices
from aeplan.trips.models import ALLOCATIONS, CATEGORIES


class TripForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    destination = StringField(_l("Destination"), validators=[DataRequired(), Length(max=200)])
    timezone = TimezoneField(_l("Timezone at the destination"), default="Europe/Berlin")
    starts_on = DateField(_l("First day"), validators=[DataRequired(message=_l("Enter a date."))])
    ends_on = DateField(_l("Last day"), validators=[DataRequired(message=_l("Enter a date."))])
    owner_id = SelectField(_l("Account executive"), coerce=int, validate_choice=False)
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])


class ExpenseForm(FlaskForm):
    category = SelectField(_l("Category"), choices=choices(CATEGORIES))
    amount = StringField(_l("Amount"), validators=[DataRequired(message=_l("Enter the amount.")),
                                                   Length(max=30)])
    currency = StringField(_l("Currency (ISO code)"), default="EUR",
                           validators=[DataRequired(), Length(max=3)])
    spent_on = DateField(_l("Date"), validators=[DataRequired(message=_l("Enter a date."))])
    allocation = SelectField(_l("Attribute to"), choices=choices(ALLOCATIONS))
    client_id = SelectField(_l("Client (when attributed to one)"), coerce=int,
                            validate_choice=False, validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class TravellerForm(FlaskForm):
    user_id = SelectField(_l("Traveller"), coerce=int, validate_choice=False,
                          validators=[DataRequired(message=_l("Choose who travels."))])


class StopForm(FlaskForm):
    booking_id = SelectField(_l("Booking"), coerce=int, validate_choice=False,
                             validators=[DataRequired(message=_l("Choose a booking."))])
