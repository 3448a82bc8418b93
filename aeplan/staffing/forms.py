from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from aeplan.bookings.models import STAFF_DISCIPLINES
from aeplan.forms import choices


class AssignForm(FlaskForm):
    user_id = SelectField(_l("Person"), coerce=int, validate_choice=False,
                          validators=[DataRequired(message=_l("Choose a person."))])
    role = SelectField(_l("Role on this booking"), choices=choices(STAFF_DISCIPLINES))
    # The booking's SEQUENCE when the form was made: a form from before a move is refused.
    version = HiddenField()


class ReassignForm(FlaskForm):
    user_id = SelectField(_l("Replace with"), coerce=int, validate_choice=False,
                          validators=[DataRequired(message=_l("Choose a person."))])


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("Why you decline"),
                           validators=[DataRequired(message=_l("Say why you decline.")),
                                       Length(max=500)])


class TimeOffForm(FlaskForm):
    first_day = DateField(_l("First day"), validators=[DataRequired(message=_l("Enter a date."))])
    last_day = DateField(_l("Last day"), validators=[DataRequired(message=_l("Enter a date."))])
    reason = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=200)])
