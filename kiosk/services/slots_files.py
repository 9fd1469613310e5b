"""Slots as files: iCalendar (RFC 5545) for a phone or a structure's calendar, CSV for a structure's planning.

The CSV a structure or tech lead provides has one slot per row and a header line with these columns (``;`` or
``,`` separated, UTF-8): ``structure``, ``address``, ``commune``, ``directions``, ``day`` (YYYY-MM-DD),
``time`` (HH:MM), ``minutes``, ``mediator``. An import is all or nothing: every broken row is listed with its
problem and nothing is published until the file is right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from kiosk.services.slots import Draft, Slot, SlotError, check_slot

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
