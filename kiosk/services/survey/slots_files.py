"""Slots as files: iCalendar (RFC 5545) for a phone or a structure's calendar, CSV for a structure's planning.

An iCalendar file (one VEVENT per slot: DTSTART, DTEND or DURATION, LOCATION as the address, DESCRIPTION as
the directions) is imported for one structure and mediator named in the form.

The CSV a structure or tech lead provides has one slot per row and a header line with these columns (``;`` or
``,`` separated, UTF-8): ``structure``, ``address``, ``commune``, ``directions``, ``day`` (YYYY-MM-DD),
``time`` (HH:MM), ``minutes``, ``mediator``. An import is all or nothing: every broken row is listed with its
problem and nothing is published until the file is right.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from kiosk.services.survey.slots import Draft, Slot, SlotError, check_slot

COLUMNS = ("structure", "address", "commune", "directions", "day", "time", "minutes", "mediator")
MAX_ROWS = 2000
EXPORT_COLUMNS = ("structure", "address", "commune", "day", "time", "minutes", "mediator", "booked", "first_name",
                  "contact", "theme", "outcome")


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 §3.1)."""
    out, current = [], b""
    for ch in line:
        encoded = ch.encode()
        if len(current) + len(encoded) > 75:
            out.append(current.decode())
            current = b" "
        current += encoded
    out.append(current.decode())
    return "\r\n".join(out)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def ics(slots: Iterable[Slot], host: str, now: float, summary: str) -> str:
    """An iCalendar file with one event per slot, in the kit's local (floating) time."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Triporteur Kit//Appointments//FR", "CALSCALE:GREGORIAN"]
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    for slot in slots:
        start = slot.start
        place = ", ".join(part for part in (slot.structure, slot.address, slot.commune) if part)
        description = "\n".join(part for part in (slot.mediator, slot.directions) if part)
        lines += ["BEGIN:VEVENT", f"UID:slot-{slot.id}-{slot.starts}@{host}", f"DTSTAMP:{stamp}",
                  f"DTSTART:{_stamp(start)}", f"DTEND:{_stamp(start + timedelta(minutes=slot.minutes))}",
                  f"SUMMARY:{_text(summary)}", f"LOCATION:{_text(place)}", f"DESCRIPTION:{_text(description)}",
                  "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def export_csv(slots: Iterable[Slot]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for slot in slots:
        writer.writerow([slot.structure, slot.address, slot.commune, slot.day, slot.time, slot.minutes, slot.mediator,
                         slot.booked or "", slot.first_name or "", slot.contact or "", slot.theme or "",
                         slot.outcome or ""])
    return out.getvalue()


class ImportProblems(Exception):
    """Why a file cannot be imported: (line number, problem codes) for each broken row. The codes are
    ``check_slot``'s field names, or ``encoding``, ``columns``, ``cells``, ``too_many``, ``empty``."""

    def __init__(self, problems: list[tuple[int, list[str]]], missing: tuple[str, ...] = ()) -> None:
        super().__init__("; ".join(f"line {line}: {', '.join(codes)}" for line, codes in problems))
        self.problems = problems
        self.missing = missing


def read_csv(data: bytes, now: float) -> list[Draft]:
    """Every slot of a planning file, checked; raises ImportProblems listing each broken row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportProblems([(0, ["encoding"])]) from None
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if first.count(";") >= first.count(",") else ",")
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = tuple(name for name in COLUMNS if name not in header and name not in ("address", "directions"))
    if missing:
        raise ImportProblems([(1, ["columns"])], missing)
    reader.fieldnames = header
    drafts: list[Draft] = []
    problems: list[tuple[int, list[str]]] = []
    for row in reader:
        line = reader.line_num
        if len(drafts) + len(problems) >= MAX_ROWS:
            problems.append((line, ["too_many"]))
            break
        if None in row:
            problems.append((line, ["cells"]))
            continue
        try:
            drafts.append(check_slot(*(row.get(name) or "" for name in COLUMNS), now=now))
        except SlotError as problem:
            problems.append((line, problem.fields))
    if problems:
        raise ImportProblems(problems)
    if not drafts:
        raise ImportProblems([(1, ["empty"])])
    return drafts


def _unfold(text: str) -> list[tuple[int, str]]:
    """The content lines of an iCalendar file with their first line number, continuation lines joined."""
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] = (lines[-1][0], lines[-1][1] + raw[1:])
        elif raw.strip():
            lines.append((number, raw))
    return lines


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _when(value: str) -> datetime | None:
    """DTSTART/DTEND as the kit's local time: UTC (…Z) converted, TZID or floating taken as local."""
    try:
        if value.endswith("Z"):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).astimezone().replace(tzinfo=None)
        return datetime.strptime(value, "%Y%m%dT%H%M%S")
    except ValueError:
        return None


_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:0S)?$")


def read_ics(data: bytes, structure: str, commune: str, mediator: str, now: float) -> list[Draft]:
    """Every event of a structure's iCalendar file as a slot at ``structure`` with ``mediator`` (the event's
    LOCATION is the address, its DESCRIPTION the directions); raises ImportProblems listing each broken event
    by the line where it begins."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportProblems([(0, ["encoding"])]) from None
    drafts: list[Draft] = []
    problems: list[tuple[int, list[str]]] = []
    event: dict[str, str] | None = None
    start_line = 0
    for number, line in _unfold(text):
        name, _, value = line.partition(":")
        key = name.split(";", 1)[0].upper()
        if key == "BEGIN" and value.strip().upper() == "VEVENT":
            event, start_line = {}, number
        elif key == "END" and value.strip().upper() == "VEVENT" and event is not None:
            if len(drafts) + len(problems) >= MAX_ROWS:
                problems.append((start_line, ["too_many"]))
                break
            start = _when(event.get("DTSTART", ""))
            end = _when(event["DTEND"]) if "DTEND" in event else None
            length = _DURATION.match(event.get("DURATION", ""))
            minutes = (int((end - start).total_seconds() // 60) if start and end else
                       int(length.group(1) or 0) * 60 + int(length.group(2) or 0) if length else 0)
            try:
                drafts.append(check_slot(structure, _unescape(event.get("LOCATION", "")), commune,
                                         _unescape(event.get("DESCRIPTION", "")),
                                         start.date().isoformat() if start else "",
                                         start.strftime("%H:%M") if start else "", str(minutes), mediator, now))
            except SlotError as problem:
                problems.append((start_line, problem.fields))
            event = None
        elif event is not None:
            event[key] = value.strip()
    if problems:
        raise ImportProblems(problems)
    if not drafts:
        raise ImportProblems([(1, ["empty"])])
    return drafts
