from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from aeplan.bookings.models import KINDS
from aeplan.forms import TimezoneField, choices
from aeplan.timeutil import LOCAL_FORMAT


def _needs(label):
    return IntegerField(label, default=0,
                        validators=[InputRequired(), NumberRange(min=0, max=20)])


class BookingForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=choices(KINDS))
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    client_id = SelectField(_l("Client"), coerce=int, validate_choice=False,
                            validators=[DataRequired(message=_l("Choose a client."))])
    starts_at = DateTimeLocalField(_l("Starts"), format=[LOCAL_FORMAT, LOCAL_FORMAT + ":%S"],
                                   validators=[DataRequired(message=_l("Enter a start."))])
    ends_at = DateTimeLocalField(_l("Ends"), format=[LOCAL_FORMAT, LOCAL_FORMAT + ":%S"],
                                 validators=[DataRequired(message=_l("Enter an end."))])
    timezone = TimezoneField(_l("Timezone of these times"))
    location = StringField(_l("Location or meeting link"), validators=[Optional(), Length(max=500)])
    agenda = TextAreaField(_l("Agenda"), validators=[Optional(), Length(max=10000)])
    needs_technical = _needs(_l("Technical staff needed"))
    needs_creative = _needs(_l("Creative staff needed"))
    needs_other = _needs(_l("Other staff needed"))
    skills = StringField(_l("Skills wanted"), validators=[Optional(), Length(max=500)])
    trip_id = HiddenField()
    travel_buffer_minutes = IntegerField(
        _l("Travel time before and after (minutes)"),
        validators=[Optional(), NumberRange(min=0, max=720)])


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=1000)])


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=choices(("tentative", "confirmed", "done")),
                         validate_choice=False)  # the service explains a bad value
