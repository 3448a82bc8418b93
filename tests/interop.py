"""Interop helpers: read iCalendar bytes back with three independent parsers and check
that they agree.

- icalendar (the library that writes our output; its parse errors are collected, not
  raised, so they are checked here),
- vobject, with validation on (`readOne(validate=True)` and `validate()`),
- ical.js, the parser inside Thunderbird, run by node through `tests/icaljs/parse.mjs`.

Each parser's result is turned into the same plain shape::

    {"calendar": {"prodid", "version", "method", "name", "x_wr_calname", "uid",
                  "refresh_interval", "published_ttl", "timezones"},
     "events": [{"uid", "sequence", "dtstart", "dtend", "all_day", "dtstamp", "summary",
                 "description", "location", "url", "status", "transp", "organizer",
                 "attendees", "alarms"}, ...]}

Times are "YYYY-MM-DD" for DATE values and UTC "YYYY-MM-DDTHH:MM:SSZ" for DATE-TIME
values ("floating:..." when the value had no zone). People are {"email", "cn",
"partstat", "role", "cutype", "rsvp"}.

`parsed(data)` parses with all three, fails on any disagreement and returns the common
result. ical.js needs node and `npm ci --prefix tests/icaljs` (done by `make test`);
without them the ical.js reading is skipped, unless AEPLAN_REQUIRE_ICALJS=1 makes that a
failure (CI sets it).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

ICALJS_DIR = Path(__file__).parent / "icaljs"
NODE_MISSING = "ical.js: node not found, ical.js checks skipped"
NOT_INSTALLED = ("ical.js: not installed in tests/icaljs/node_modules (run `make test` or "
                 "`npm ci --prefix tests/icaljs`), ical.js checks skipped")
PARSERS = ("icalendar", "vobject", "icaljs")


# --- ical.js availability -------------------------------------------------------------

def icaljs_required() -> bool:
    return os.environ.get("AEPLAN_REQUIRE_ICALJS") == "1"


def icaljs_missing() -> str | None:
    """Why ical.js cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return NODE_MISSING
    if not (ICALJS_DIR / "node_modules" / "ical.js" / "package.json").is_file():
        return NOT_INSTALLED
    return None


# --- shared normalisation -------------------------------------------------------------

def _when(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return "floating:" + value.strftime("%Y-%m-%dT%H:%M:%S")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a date or date-time: {value!r}")


def _duration(value: timedelta) -> str:
    """A timedelta as RFC 5545 DURATION text, the way ical.js prints it."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    days, within_day = divmod(abs(seconds), 86400)
    hours, within_hour = divmod(within_day, 3600)
    minutes, secs = divmod(within_hour, 60)
    if days and not within_day and days % 7 == 0:
        return f"{sign}P{days // 7}W"
    out = f"{sign}P" + (f"{days}D" if days else "")
    if within_day:
        out += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") \
            + (f"{secs}S" if secs else "")
    return out if out not in ("P", "-P") else "PT0S"


def _person(email, params) -> dict:
    def get(name):
        value = params.get(name)
        if value is None:
            return None
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        return str(value)
    rsvp = get("RSVP")
    return {"email": str(email), "cn": get("CN"), "partstat": get("PARTSTAT"),
            "role": get("ROLE"), "cutype": get("CUTYPE"),
            "rsvp": rsvp.upper() if rsvp is not None else None}


# --- icalendar ------------------------------------------------------------------------

def parse_icalendar(data: bytes) -> dict:
    from icalendar import Calendar

    calendar = Calendar.from_ical(data)
    assert calendar.name == "VCALENDAR", f"icalendar: top component is {calendar.name}"
    for component in calendar.walk():
        assert not component.errors, f"icalendar: errors in {component.name}: {component.errors}"

    def text(component, name):
        value = component.get(name)
        if value is None:
            return None
        assert not isinstance(value, list), f"icalendar: {name} appears more than once"
        return str(value)

    def when(component, name):
        return _when(component.decoded(name)) if name in component else None

    def people(component, name):
        values = component.get(name, [])
        values = values if isinstance(values, list) else [values]
        return [_person(v, v.params) for v in values]

    refresh = calendar.get("REFRESH-INTERVAL")
    if refresh is not None:
        decoded = calendar.decoded("REFRESH-INTERVAL")
        refresh = _duration(decoded) if isinstance(decoded, timedelta) else str(refresh)
    events = []
    for event in calendar.walk("VEVENT"):
        organizers = people(event, "ORGANIZER")
        assert len(organizers) <= 1, "icalendar: more than one ORGANIZER"
        start = event.decoded("DTSTART") if "DTSTART" in event else None
        events.append({
            "uid": text(event, "UID"),
            "sequence": int(event.decoded("SEQUENCE")) if "SEQUENCE" in event else None,
            "dtstart": when(event, "DTSTART"),
            "dtend": when(event, "DTEND"),
            "all_day": None if start is None else not isinstance(start, datetime),
            "dtstamp": when(event, "DTSTAMP"),
            "summary": text(event, "SUMMARY"),
            "description": text(event, "DESCRIPTION"),
            "location": text(event, "LOCATION"),
            "url": text(event, "URL"),
            "status": text(event, "STATUS"),
            "transp": text(event, "TRANSP"),
            "organizer": organizers[0] if organizers else None,
            "attendees": people(event, "ATTENDEE"),
            "alarms": sum(1 for c in event.subcomponents if c.name == "VALARM"),
        })
    return {
        "calendar": {
            "prodid": text(calendar, "PRODID"),
            "version": text(calendar, "VERSION"),
            "method": text(calendar, "METHOD"),
            "name": text(calendar, "NAME"),
            "x_wr_calname": text(calendar, "X-WR-CALNAME"),
            "uid": text(calendar, "UID"),
            "refresh_interval": refresh,
            "published_ttl": text(calendar, "X-PUBLISHED-TTL"),
            "timezones": sum(1 for c in calendar.subcomponents if c.name == "VTIMEZONE"),
        },
        "events": events,
    }


# --- vobject --------------------------------------------------------------------------

def parse_vobject(data: bytes) -> dict:
    import vobject

    calendar = vobject.readOne(data.decode("utf-8"), validate=True)
    assert calendar.name == "VCALENDAR", f"vobject: top component is {calendar.name}"
    calendar.validate(raiseException=True)

    def line(component, name):
        lines = component.contents.get(name, [])
        assert len(lines) <= 1, f"vobject: {name} appears more than once"
        return lines[0] if lines else None

    def text(component, name):
        found = line(component, name)
        return None if found is None else str(found.value)

    def when(component, name):
        found = line(component, name)
        return None if found is None else _when(found.value)

    def person(found):
        return _person(found.value, found.params)

    refresh = line(calendar, "refresh-interval")
    if refresh is not None:
        refresh = _duration(refresh.value) if isinstance(refresh.value, timedelta) \
            else str(refresh.value)
    events = []
    for event in calendar.contents.get("vevent", []):
        organizers = event.contents.get("organizer", [])
        assert len(organizers) <= 1, "vobject: more than one ORGANIZER"
        start = line(event, "dtstart")
        sequence = text(event, "sequence")
        events.append({
            "uid": text(event, "uid"),
            "sequence": None if sequence is None else int(sequence),
            "dtstart": when(event, "dtstart"),
            "dtend": when(event, "dtend"),
            "all_day": None if start is None else not isinstance(start.value, datetime),
            "dtstamp": when(event, "dtstamp"),
            "summary": text(event, "summary"),
            "description": text(event, "description"),
            "location": text(event, "location"),
            "url": text(event, "url"),
            "status": text(event, "status"),
            "transp": text(event, "transp"),
            "organizer": person(organizers[0]) if organizers else None,
            "attendees": [person(a) for a in event.contents.get("attendee", [])],
            "alarms": len(event.contents.get("valarm", [])),
        })
    return {
        "calendar": {
            "prodid": text(calendar, "prodid"),
            "version": text(calendar, "version"),
            "method": text(calendar, "method"),
            "name": text(calendar, "name"),
            "x_wr_calname": text(calendar, "x-wr-calname"),
            "uid": text(calendar, "uid"),
            "refresh_interval": refresh,
            "published_ttl": text(calendar, "x-published-ttl"),
            "timezones": len(calendar.contents.get("vtimezone", [])),
        },
        "events": events,
    }


# --- ical.js --------------------------------------------------------------------------

def parse_icaljs(data: bytes) -> dict:
    result = subprocess.run(
        ["node", str(ICALJS_DIR / "parse.mjs")], input=data, capture_output=True,
        cwd=ICALJS_DIR, timeout=60, check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"ical.js refused the calendar: "
                             f"{result.stderr.decode(errors='replace').strip()}")
    return json.loads(result.stdout)


# --- all three --------------------------------------------------------------------------

def parse_all(data: bytes) -> dict[str, dict]:
    """{parser name: result} from every parser that can run here."""
    assert isinstance(data, bytes), f"expected bytes, got {type(data).__name__}"
    results = {"icalendar": parse_icalendar(data), "vobject": parse_vobject(data)}
    missing = icaljs_missing()
    if missing is None:
        results["icaljs"] = parse_icaljs(data)
    elif icaljs_required():
        pytest.fail(f"{missing} (AEPLAN_REQUIRE_ICALJS=1)")
    return results


def differences(a, b, path: str = "") -> list[str]:
    """Where two parsed results differ, as readable paths (assertion rewriting does not
    reach this module, so the message has to say it)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(a.keys() | b.keys()):
            out += differences(a.get(key), b.get(key), f"{path}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {a!r:.200} != {b!r:.200}"]


def parsed(data: bytes) -> dict:
    """Parse with icalendar, vobject and ical.js; fail unless all agree; the result."""
    results = parse_all(data)
    reference = results["icalendar"]
    for name, result in results.items():
        diff = differences(reference, result)
        assert not diff, f"icalendar and {name} read the calendar differently:\n" + \
            "\n".join(diff[:20])
    return reference


def only_event(data: bytes) -> tuple[dict, dict]:
    """(calendar props, the one VEVENT) of an invitation, read by every parser."""
    result = parsed(data)
    assert len(result["events"]) == 1, f"expected one VEVENT, found {len(result['events'])}"
    return result["calendar"], result["events"][0]


# --- the raw text ------------------------------------------------------------------------

def physical_lines(data: bytes) -> list[bytes]:
    """The octet lines as sent; every one must end with CRLF."""
    assert data.endswith(b"\r\n"), "the calendar does not end with CRLF"
    lines = data.split(b"\r\n")[:-1]
    for line in lines:
        assert b"\n" not in line and b"\r" not in line, f"bare line break in {line[:80]!r}"
    return lines


def content_lines(data: bytes) -> list[str]:
    """Unfolded content lines (RFC 5545 3.1)."""
    out: list[bytes] = []
    for line in physical_lines(data):
        if line[:1] in (b" ", b"\t"):
            assert out, "continuation line at the start"
            out[-1] += line[1:]
        else:
            out.append(line)
    return [line.decode("utf-8") for line in out]


def overlong_lines(data: bytes, limit: int = 75) -> list[bytes]:
    """Physical lines longer than `limit` octets (RFC 5545 3.1: SHOULD NOT)."""
    return [line for line in physical_lines(data) if len(line) > limit]


def property_lines(data: bytes, name: str) -> list[str]:
    """Unfolded lines of property `name` (with or without parameters)."""
    prefix = name.upper()
    return [line for line in content_lines(data)
            if line.upper().startswith(prefix + ":") or line.upper().startswith(prefix + ";")]


_NAME = r"[A-Za-z0-9-]+"
_PARAM_VALUE = r'(?:"[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*)'
_PARAM = rf";{_NAME}={_PARAM_VALUE}(?:,{_PARAM_VALUE})*"
_CONTENT_LINE = re.compile(rf"^({_NAME})((?:{_PARAM})*):(.*)$", re.DOTALL)
_ONE_PARAM = re.compile(rf";({_NAME})=({_PARAM_VALUE}(?:,{_PARAM_VALUE})*)")


def strict_line(line: str) -> tuple[str, dict[str, str], str]:
    """A content line read by the RFC 5545 grammar, strictly: a parameter value is either
    free of DQUOTE, ';', ':' and ',' or wholly inside one pair of DQUOTEs with no DQUOTE
    inside. Returns (NAME, {PARAM: value without quotes}, value)."""
    match = _CONTENT_LINE.match(line)
    assert match, f"not a valid content line (RFC 5545 3.1): {line[:200]!r}"
    params = {}
    for name, value in _ONE_PARAM.findall(match[2]):
        params[name.upper()] = value[1:-1] if value.startswith('"') else value
    return match[1].upper(), params, match[3]


_TEXT_TOKEN = re.compile(r"\\(.?)|[^\\]+", re.DOTALL)


def unescape_text(value: str) -> str:
    r"""A TEXT value unescaped by the letter of RFC 5545 3.3.11, independent of any
    library; an escape other than \\, \;, \, and \n (\N) is an error."""
    out = []
    for match in _TEXT_TOKEN.finditer(value):
        if not match[0].startswith("\\"):
            out.append(match[0])
            continue
        escaped = match[1]
        assert escaped and escaped in "\\;,nN", f"bad escape \\{escaped} in {value[:200]!r}"
        out.append("\n" if escaped in "nN" else escaped)
    return "".join(out)


def raw_text(data: bytes, name: str) -> list[str]:
    """The TEXT values of property `name` as the bytes say, by RFC 5545 alone."""
    return [unescape_text(strict_line(line)[2]) for line in property_lines(data, name)]
