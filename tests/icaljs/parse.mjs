// Parse iCalendar text from stdin with ical.js (the parser inside Thunderbird) and print
// what the interop tests compare, as JSON. The same shape comes from tests/interop.py
// for icalendar and vobject, so the three parsers can be compared field by field.
//
//   node tests/icaljs/parse.mjs < invite.ics
//
// Exits 1 with the parser's message on stderr when ical.js refuses the input.
import ICAL from "ical.js";

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", (chunk) => chunks.push(chunk));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

// A DATE as "YYYY-MM-DD"; a DATE-TIME as UTC "YYYY-MM-DDTHH:MM:SSZ", or with
// "floating:" in front when it has no zone (so a test can tell it was not UTC).
function when(prop) {
  if (!prop) return null;
  const time = prop.getFirstValue();
  if (time.isDate) {
    return `${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}`;
  }
  const tzid = time.zone ? time.zone.tzid : "floating";
  if (tzid === "floating") {
    return `floating:${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}T` +
      `${pad(time.hour)}:${pad(time.minute)}:${pad(time.second)}`;
  }
  return new Date(time.toUnixTime() * 1000).toISOString().replace(".000Z", "Z");
}

function text(component, name) {
  const value = component.getFirstPropertyValue(name);
  if (value === null || value === undefined) return null;
  return String(value);
}

function param(prop, name) {
  const value = prop.getParameter(name);
  if (value === null || value === undefined) return null;
  return Array.isArray(value) ? value.join(",") : String(value);
}

function address(prop) {
  return {
    email: String(prop.getFirstValue()),
    cn: param(prop, "cn"),
    partstat: param(prop, "partstat"),
    role: param(prop, "role"),
    cutype: param(prop, "cutype"),
    rsvp: param(prop, "rsvp") === null ? null : param(prop, "rsvp").toUpperCase(),
  };
}

function event(vevent) {
  const organizer = vevent.getFirstProperty("organizer");
  const dtstart = vevent.getFirstProperty("dtstart");
  const dtend = vevent.getFirstProperty("dtend");
  const sequence = vevent.getFirstPropertyValue("sequence");
  return {
    uid: text(vevent, "uid"),
    sequence: sequence === null ? null : Number(sequence),
    dtstart: when(dtstart),
    dtend: when(dtend),
    all_day: dtstart ? dtstart.getFirstValue().isDate : null,
    dtstamp: when(vevent.getFirstProperty("dtstamp")),
    summary: text(vevent, "summary"),
    description: text(vevent, "description"),
    location: text(vevent, "location"),
    url: text(vevent, "url"),
    status: text(vevent, "status"),
    transp: text(vevent, "transp"),
    organizer: organizer ? address(organizer) : null,
    attendees: vevent.getAllProperties("attendee").map(address),
    alarms: vevent.getAllSubcomponents("valarm").length,
  };
}

function calendar(vcalendar) {
  const refresh = vcalendar.getFirstPropertyValue("refresh-interval");
  return {
    calendar: {
      prodid: text(vcalendar, "prodid"),
      version: text(vcalendar, "version"),
      method: text(vcalendar, "method"),
      name: text(vcalendar, "name"),
      x_wr_calname: text(vcalendar, "x-wr-calname"),
      uid: text(vcalendar, "uid"),
      refresh_interval: refresh === null ? null : refresh.toString(),
      published_ttl: text(vcalendar, "x-published-ttl"),
      timezones: vcalendar.getAllSubcomponents("vtimezone").length,
    },
    events: vcalendar.getAllSubcomponents("vevent").map(event),
  };
}

const input = await readStdin();
try {
  const jcal = ICAL.parse(input);
  if (Array.isArray(jcal[0])) {
    throw new Error(`expected one VCALENDAR, found ${jcal.length}`);
  }
  const root = new ICAL.Component(jcal);
  if (root.name !== "vcalendar") {
    throw new Error(`expected VCALENDAR, found ${root.name.toUpperCase()}`);
  }
  process.stdout.write(JSON.stringify(calendar(root)));
} catch (error) {
  process.stderr.write(`ical.js: ${error && error.message ? error.message : error}\n`);
  process.exit(1);
}
