"""Hostile values in every form and query parameter of the app never give a 500 nor
write anything (issue 13, item 5), generated with hypothesis. The cases the attack found
are in tests/test_hostile_cases.py."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import quote, quote_from_bytes

import pytest
from flask import url_for
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.core import UnboundField
from wtforms.validators import Length

from aeplan import create_app
from aeplan.auth.forms import LoginForm, PasswordForm, SettingsForm, UserForm
from aeplan.bookings.forms import BookingForm, CancelForm, StatusForm
from aeplan.calendar.models import CURRENT_VERSION
from aeplan.clients.forms import ClientForm, ContactForm
from aeplan.extensions import db
from aeplan.forms import TimezoneField
from aeplan.staffing import service as staffing
from aeplan.staffing.forms import AssignForm, DeclineForm, ReassignForm, TimeOffForm
from aeplan.trips import service as trips
from aeplan.trips.forms import ExpenseForm, StopForm, TravellerForm, TripForm
from aeplan.trips.models import Trip
from tests.conftest import PASSWORD, T0


def text(response) -> str:
    return response.get_data(as_text=True)


# --- generated: hostile values in every form and query parameter ---------------------------
#
# Three families of hostile values:
# - POISON (NUL, invalid UTF-8, a file part): refused centrally, 400, whatever the route;
# - REFUSED: a value the field's own rules refuse (a far date, a huge number, a choice
#   that is not one, text longer than the field holds), put into an otherwise valid form;
# - ODD (CR/LF, unusual characters, the other families' text): anything, never a 5xx.
# A POST must answer 4xx and write nothing; a GET with poison in its query must answer 4xx.

HYPOTHESIS = settings(max_examples=15, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])

FAR_DATES = ["0001-01-01", "9999-12-31", "1969-12-31", "3000-01-01", "10000-01-01",
             "2026-02-30", "-2026-01-01", "2026-12-07\r\n", "99999999999999999999"]
FAR_TIMES = ["9999-12-31T10:00", "0001-01-01T00:00", "1969-12-31T22:00",
             "3000-01-01T00:00", "2026-12-07T25:00", "2026-12-07T10:00\r\nX"]
HUGE_NUMBERS = ["2147483648", "99999999999999999999999", "-1", "-2147483649", "1e999",
                "NaN", "Infinity", "0x10", "1\r\n2"]
NOT_A_CHOICE = ["nope", "demo\r\n", " visit", "DEMO", "x" * 300, "0"]
NOT_A_ZONE = ["Mars/Olympus", "Europe/Berlin\r\n", "", "../../etc/passwd", "x" * 300]
BAD_EMAILS = ["pat@client.example\r\nBcc: all@example.com", "pat @client.example",
              "a@b@client.example", "pat\n@client.example"]
odd_text = st.one_of(
    st.sampled_from(["line\r\nbreak", "\r\n", "tab\there", "\u202eevil", "=1+1", "<b>x</b>",
                     "'; DROP TABLE users; --", "\ufeff", "😀" * 50]),
    st.text(max_size=40),
    st.sampled_from(FAR_DATES + HUGE_NUMBERS),
)


def _unbound_fields(form_class) -> dict:
    found = {}
    for klass in reversed(form_class.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, UnboundField):
                found[name] = value
    return found


# Fields that set a password, and passwords every one of them must refuse: too short,
# too common, too long.
NEW_PASSWORDS = {(PasswordForm, "new_password"), (UserForm, "password")}
WEAK_PASSWORDS = ["12345678", "password1234", "Kx9#mQ2vL!p", "correct horse " * 15]


def refused_values(form_class, name: str):
    """A strategy of values that `name` of `form_class` must refuse, or None."""
    field = _unbound_fields(form_class)[name]
    kind = field.field_class
    if issubclass(kind, DateTimeLocalField):
        return st.sampled_from(FAR_TIMES)
    if issubclass(kind, DateField):
        return st.sampled_from(FAR_DATES)
    if issubclass(kind, IntegerField):
        return st.sampled_from(HUGE_NUMBERS)
    if issubclass(kind, TimezoneField):
        return st.sampled_from(NOT_A_ZONE)
    if issubclass(kind, SelectField):
        if field.kwargs.get("coerce") is int:
            return st.sampled_from(HUGE_NUMBERS)
        return st.sampled_from(NOT_A_CHOICE)
    if issubclass(kind, BooleanField | HiddenField):
        return None
    if (form_class, name) in NEW_PASSWORDS:  # the rule lives in aeplan.auth.passwords
        return st.sampled_from(WEAK_PASSWORDS)
    longest = max((v.max for v in field.kwargs.get("validators", ())
                   if isinstance(v, Length) and v.max >= 0), default=None)
    if longest is None:
        return None
    too_long = st.integers(longest + 1, longest + 300).map(lambda n: ("x\r\n" * n)[:n])
    if name == "email" and form_class is ContactForm:
        return st.one_of(too_long, st.sampled_from(BAD_EMAILS))
    return too_long


@dataclass
class World:
    ae: object
    manager: object
    admin: object
    support: object
    other_support: object
    spare: object
    client: object
    contact: object
    booking: object
    free_booking: object
    assignment: object
    trip: object
    expense: object
    time_off: object

    def role(self, name: str):
        return {"ae": self.ae, "manager": self.manager, "admin": self.admin,
                "support": self.support}[name]


@pytest.fixture
def world(make_user, make_client, make_contact, make_booking, assign) -> World:
    ae, manager, admin = make_user("ae"), make_user("manager"), make_user("admin")
    support, other_support = make_user("support"), make_user("support")
    spare = make_user("support", discipline="creative")
    account = make_client(ae)
    contact = make_contact(account)
    booking = make_booking(account, kind="visit", starts_at=T0)
    free = make_booking(account, kind="visit", title="Free", starts_at=T0 + timedelta(days=1))
    assignment = assign(booking, support)
    trip = Trip(title="Road", destination="Hamburg", timezone="Europe/Berlin",
                starts_on=T0.date(), ends_on=T0.date() + timedelta(days=3), owner_id=ae.id)
    db.session.add(trip)
    db.session.flush()
    booking.trip_id = trip.id
    trips.add_traveller(trip, other_support, actor=ae)
    expense = trips.add_expense(trip, trips.ExpenseInput("hotel", "100.00", "EUR", T0.date(),
                                                         "even"), actor=ae)
    time_off = staffing.add_time_off(support, T0.date() + timedelta(days=20),
                                     T0.date() + timedelta(days=21), "", actor=support)
    db.session.commit()
    return World(ae, manager, admin, support, other_support, spare, account, contact, booking,
                 free, assignment, trip, expense, time_off)


def url_args(world: World) -> dict:
    return {"booking_id": world.booking.id, "client_id": world.client.id,
            "trip_id": world.trip.id, "assignment_id": world.assignment.id,
            "entry_id": world.time_off.id, "expense_id": world.expense.id,
            "user_id": world.other_support.id, "token": "not-a-token",
            "filename": "css/app.css"}


def role_for(endpoint: str) -> str | None:
    if endpoint == "auth.login":
        return None
    if endpoint.startswith("admin."):
        return "admin"
    if endpoint.startswith("reports.") or endpoint in ("staffing.queue",
                                                       "staffing.utilisation"):
        return "manager"
    if endpoint in ("staffing.mine", "staffing.accept", "staffing.decline",
                    "staffing.time_off", "staffing.cancel_time_off"):
        return "support"
    return "ae"


def baselines(endpoint: str, w: World) -> list[tuple[type, dict]]:
    """The forms a POST endpoint reads, each with data it accepts; [] for none."""
    when = {"starts_at": "2026-12-09T10:00", "ends_at": "2026-12-09T11:00"}
    booking = {"kind": "demo", "title": "Demo", "client_id": str(w.client.id),
               "timezone": "Europe/Berlin", "location": "Room 1", "agenda": "",
               "needs_technical": "0", "needs_creative": "0", "needs_other": "0",
               "skills": "", "travel_buffer_minutes": "0", **when}
    client = {"name": "New Client", "industry": "technology", "tier": "standard",
              "owner_id": str(w.ae.id), "timezone": "Europe/Berlin", "cadence_days": "30",
              "notes": ""}
    trip = {"title": "Trip", "destination": "Paris", "timezone": "Europe/Paris",
            "starts_on": "2026-12-07", "ends_on": "2026-12-10", "owner_id": str(w.ae.id),
            "notes": ""}
    user = {"email": "new.person@example.com", "name": "New Person", "role": "support",
            "discipline": "creative", "skills": "", "timezone": "Europe/Berlin",
            "password": "Vermilion-Kestrel-Orbit-2291"}
    return {
        "auth.login": [(LoginForm, {"email": w.ae.email, "password": PASSWORD})],
        "auth.profile": [(SettingsForm, {"form": "settings", "settings-timezone": "Europe/Paris",
                                         "settings-locale": "de"}),
                         (PasswordForm, {"form": "password",
                                         "password-current_password": PASSWORD,
                                         "password-new_password": "Vermilion-Kestrel-Orbit-2291"})],
        "admin.create_user": [(UserForm, user)],
        "admin.edit_user": [(UserForm, {**user, "email": w.other_support.email})],
        "clients.create": [(ClientForm, client)],
        "clients.edit": [(ClientForm, {**client, "name": w.client.name})],
        "clients.add_contact": [(ContactForm, {"name": "Pat", "email": "p@client.example",
                                               "title": "CTO"})],
        "bookings.create": [(BookingForm, booking)],
        "bookings.edit": [(BookingForm, booking)],
        "bookings.cancel": [(CancelForm, {"reason": "Moved"})],
        "bookings.set_status": [(StatusForm, {"status": "confirmed"})],
        "staffing.assign": [(AssignForm, {"user_id": str(w.other_support.id),
                                          "role": "technical"})],
        "staffing.reassign": [(ReassignForm, {"user_id": str(w.other_support.id)})],
        "staffing.decline": [(DeclineForm, {"reason": "Ill"})],
        "staffing.time_off": [(TimeOffForm, {"first_day": "2027-01-04",
                                             "last_day": "2027-01-05", "reason": ""})],
        "trips.create": [(TripForm, trip)],
        "trips.edit": [(TripForm, trip)],
        "trips.add_expense": [(ExpenseForm, {
            "category": "meals", "amount": "12.50", "currency": "EUR",
            "spent_on": "2026-12-08", "allocation": "client", "client_id": str(w.client.id),
            "note": ""})],
        "trips.add_traveller": [(TravellerForm, {"user_id": str(w.spare.id)})],
        "trips.attach": [(StopForm, {"booking_id": str(w.free_booking.id)})],
    }.get(endpoint, [])


_APP = create_app({"TESTING": True, "SECRET_KEY": "routes", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
RULES = {rule.endpoint: rule for rule in _APP.url_map.iter_rules()}
POST_ENDPOINTS = sorted(e for e, rule in RULES.items() if "POST" in rule.methods)
GET_ENDPOINTS = sorted(e for e, rule in RULES.items() if "GET" in rule.methods)
# Every query parameter a view reads (request.args), and `next` on /login.
QUERY_PARAMS = ["after", "archived", "before", "client", "client_q", "date", "from", "industry",
                "kind", "next", "overdue", "page", "past", "q", "role", "scope", "status",
                "tier", "to", "view", "week"]
ALL_FIELDS = sorted({name for form in (LoginForm, SettingsForm, PasswordForm, UserForm,
                                       ClientForm, ContactForm, BookingForm, CancelForm,
                                       StatusForm, AssignForm, ReassignForm, DeclineForm,
                                       TimeOffForm, TripForm, ExpenseForm, TravellerForm,
                                       StopForm)
                     for name in _unbound_fields(form)} | {"contact_ids", "form"})
def _placeholder_world() -> World:
    """Ids do not matter for counting a route's forms."""
    thing = SimpleNamespace(id=1, email="x@example.com", name="X", date=lambda: T0.date())
    return World(*([thing] * 14))


FORM_CASES = [(endpoint, i) for endpoint in POST_ENDPOINTS
              for i in range(len(baselines(endpoint, _placeholder_world())))]
IGNORED = {"owner_id"}  # an AE's own id is used whatever the form says
PREFIXES = {SettingsForm: "settings-", PasswordForm: "password-"}  # two forms on /profile


def _subclasses(cls) -> set:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def _fingerprint():
    """Rows in every table and the feeds' data version: equal before and after means no
    write that a page or a feed could show."""
    counts = [select(func.count()).select_from(table).scalar_subquery()
              for table in db.metadata.sorted_tables]
    return tuple(db.session.execute(select(*counts, CURRENT_VERSION.scalar_subquery())).one())


def _signed_in_for(endpoint: str, world: World, client, login_as):
    role = role_for(endpoint)
    if role is None:
        client.post("/logout")
        return client
    signed_in = login_as(world.role(role))
    # The first page with a feed link issues the user's feed secret (a write): done
    # here, so that the writes compared below are the hostile requests' own.
    assert signed_in.get("/profile").status_code == 200
    return signed_in


def _post(client, url: str, fields: list[tuple[str, bytes, str | None]], *, multipart: bool):
    """POST raw field bytes (a filename makes a file part) as url-encoded or multipart."""
    if multipart or any(filename for _, _, filename in fields):
        boundary = "hostile-boundary-7d1f"
        body = b""
        for name, value, filename in fields:
            disposition = f'form-data; name="{name}"'
            if filename:
                disposition += f'; filename="{filename}"'
            body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                     + value + b"\r\n")
        body += f"--{boundary}--\r\n".encode()
        return client.post(url, data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    body = "&".join(f"{quote(name)}={quote_from_bytes(value, safe='')}"
                    for name, value, _ in fields)
    return client.post(url, data=body, content_type="application/x-www-form-urlencoded")


def _url(endpoint: str, world: World) -> str:
    rule = RULES[endpoint]
    args = {k: v for k, v in url_args(world).items() if k in rule.arguments}
    with _APP.test_request_context():
        return url_for(endpoint, **args)


def test_every_form_and_post_route_is_covered(world):
    forms = {form for endpoint in POST_ENDPOINTS for form, _ in baselines(endpoint, world)}
    defined = {cls for cls in _subclasses(FlaskForm) if cls.__module__.startswith("aeplan")}
    assert defined <= forms, defined - forms
    assert len(POST_ENDPOINTS) >= 30 and len(GET_ENDPOINTS) >= 30


@pytest.mark.parametrize("endpoint, variant", FORM_CASES)
def test_each_baseline_is_accepted(endpoint, variant, world, client, login_as):
    """The generated tests change one thing in these; here they are as they are."""
    signed_in = _signed_in_for(endpoint, world, client, login_as)
    _form, data = baselines(endpoint, world)[variant]
    response = signed_in.post(_url(endpoint, world), data=data)
    errors = re.findall(r'<p class="error"[^>]*>([^<]*)', text(response))
    assert response.status_code == 303, errors


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_poisoned_posts_are_400_and_write_nothing(endpoint, world, client, login_as):
    signed_in = _signed_in_for(endpoint, world, client, login_as)
    url = _url(endpoint, world)
    variants = baselines(endpoint, world) or [(None, {})]

    @HYPOTHESIS
    @given(data=st.data())
    def run(data):
        _form, base = data.draw(st.sampled_from(variants))
        fields = {name: value.encode() for name, value in base.items()}
        for name in data.draw(st.lists(st.sampled_from(ALL_FIELDS), max_size=3, unique=True)):
            fields[name] = data.draw(odd_text).encode()
        target = data.draw(st.sampled_from(sorted(fields) or ALL_FIELDS))
        poison = data.draw(st.sampled_from(["nul", "utf8", "file"]))
        value = fields.setdefault(target, b"")
        filename = None
        if poison == "nul":
            fields[target] = value + b"\x00" + data.draw(odd_text).encode()
        elif poison == "utf8":
            fields[target] = value + data.draw(st.sampled_from([b"\xff", b"\xc3\x28",
                                                                b"\xed\xa0\x80", b"\x80"]))
        else:
            filename = "upload.txt"
        parts = [(name, v, filename if name == target else None) for name, v in fields.items()]
        before = _fingerprint()
        response = _post(signed_in, url, parts, multipart=data.draw(st.booleans()))
        assert response.status_code == 400, (poison, target, response.status_code)
        assert _fingerprint() == before

    run()


@pytest.mark.parametrize("endpoint, variant", FORM_CASES)
def test_values_a_field_refuses_answer_4xx_and_write_nothing(endpoint, variant, world, client,
                                                             login_as):
    signed_in = _signed_in_for(endpoint, world, client, login_as)
    url = _url(endpoint, world)
    form, base = baselines(endpoint, world)[variant]
    prefix = PREFIXES.get(form, "")
    fields_of = {prefix + name: field for name, field in _unbound_fields(form).items()}
    targets = [n for n in base if n not in IGNORED and n in fields_of
               and refused_values(form, n.removeprefix(prefix)) is not None]
    free_text = [n for n in base if n in fields_of
                 and fields_of[n].field_class in (StringField, TextAreaField)]

    @HYPOTHESIS
    @given(data=st.data())
    def run(data):
        target = data.draw(st.sampled_from(targets))
        fields = dict(base)
        for name in data.draw(st.lists(st.sampled_from(free_text), unique=True)
                              if free_text else st.just([])):
            fields[name] = data.draw(odd_text)
        fields[target] = data.draw(refused_values(form, target.removeprefix(prefix)))
        before = _fingerprint()
        response = _post(signed_in, url, [(k, v.encode(), None) for k, v in fields.items()],
                         multipart=data.draw(st.booleans()))
        assert 400 <= response.status_code < 500, (target, fields[target], response.status_code)
        assert _fingerprint() == before

    run()


@pytest.mark.parametrize("endpoint", GET_ENDPOINTS)
def test_hostile_query_parameters_never_give_a_5xx(endpoint, world, client, login_as):
    signed_in = _signed_in_for(endpoint, world, client, login_as)
    url = _url(endpoint, world)
    values = st.one_of(odd_text, st.sampled_from(FAR_DATES + FAR_TIMES + HUGE_NUMBERS),
                       st.integers(1000, 5000).map(lambda n: "9" * n)).map(str.encode)

    @HYPOTHESIS
    @given(params=st.dictionaries(st.sampled_from(QUERY_PARAMS), values, min_size=1,
                                  max_size=4),
           poison=st.sampled_from([None, b"\x00", b"\xff", b"\xc3\x28"]))
    def run(params, poison):
        if poison is not None:
            name = sorted(params)[0]
            params[name] += poison
        query = "&".join(f"{quote(k)}={quote_from_bytes(v, safe='')}" for k, v in params.items())
        response = signed_in.get(f"{url}?{query}")
        response.close()  # static files are streamed
        if poison is None:
            assert response.status_code < 500, (params, response.status_code)
        else:
            assert response.status_code == 400, (params, response.status_code)

    run()
