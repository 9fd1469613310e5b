"""`kiosk report export --anonymous`: the kit's activity per local day, what the fleet report merges.

A real store with its migrations, filled through the services a kit uses in the field (internet sessions,
outings, activity records, questionnaires, appointment requests, tablet loans), read by the real command.
The kit's local time is Paris time here, so that a local day differs from a UTC day.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import pytest

from kiosk import cli
from kiosk.adapters.firewall import Client, RecordingFirewall
from kiosk.services.access import AccessService, Limits
from kiosk.services.mediation import anonymous_export
from kiosk.services.mediation.activity import ActivityService, check_entry
from kiosk.services.mediation.outings import OutingService, check_draft
from kiosk.services.survey import rules
from kiosk.services.survey.appointments import Request
from kiosk.services.survey.kit import SurveyServices, build_survey
from kiosk.store import Store
from provisioning import fleet_report
from provisioning.inventory import Inventory
from tests.conftest import ManualClock, make_settings
from tests.support.system import kiosk_command

PARIS = "CET-1CEST,M3.5.0,M10.5.0/3"  # Europe/Paris's rules, without needing tzdata
HEADER = ("day,sessions,data_bytes,session_minutes,accompaniments,people_met,accompaniment_minutes,outings,"
          "questionnaires,appointments,tablet_loans")
MACS = ("5a:11:22:33:44:55", "5a:11:22:33:44:56", "5a:11:22:33:44:57")
IPS = ("10.42.0.23", "10.42.0.24", "10.42.0.25")


@pytest.fixture(autouse=True)
def paris_time(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", PARIS)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def at(local: str) -> float:
    """The epoch of a moment on the kit's (local) clock."""
    return datetime.fromisoformat(local).timestamp()


class MeteredFirewall(RecordingFirewall):
    """The `none` backend plus per-client byte counters, as nftables keeps them (proven in the namespace tests)."""

    def __init__(self, store: Store, clock) -> None:
        super().__init__(store, clock)
        self.traffic: dict[Client, int] = {}

    def counters(self) -> dict[Client, int]:
        return dict(self.traffic)


@dataclass
class FieldKit:
    """A kit's store and the services mediators and participants use, on a clock the test moves."""

    path: Path
    config: Path
    clock: ManualClock
    store: Store
    firewall: MeteredFirewall
    access: AccessService
    activity: ActivityService
    outings: OutingService
    survey: SurveyServices
    inventory: Inventory

    def now(self, local: str) -> None:
        moment = at(local)
        assert moment >= self.clock.now, "the test's clock only moves forward"
        self.clock.now = moment

    def connect(self, phone: int) -> None:
        self.access.grant(IPS[phone], MACS[phone], "fr")

    def traffic(self, phone: int, used: int) -> None:
        self.firewall.traffic[Client(IPS[phone], MACS[phone])] = used
        self.access.sweep()

    def leave(self, phone: int) -> None:
        assert self.access.revoke(IPS[phone], MACS[phone]) == 1

    def record(self, kind: str = "individuel", duration: str = "30", **values) -> None:
        values.setdefault("themes", ["email"])
        self.activity.record(check_entry(kind, duration, values.pop("themes"), values.pop("procedure_themes", ()),
                                         **values))

    def questionnaire(self, nonce: str, complete: bool = True) -> None:
        visits, questionnaire = self.survey.visits, self.survey.library.default
        visit = visits.start(questionnaire, "fr", nonce)
        while (item := rules.current(questionnaire, visits.answers(visit.id))) is not None:
            visit = visits.answer(visit, item, None, "fr")  # "I don't understand": no answer, still a step
            if not complete:
                break
        assert visit.completed == complete

    def lend(self, tablet: str) -> None:
        self.inventory.enroll(tablet, "android", "android-user", {}, address="127.0.0.1:5555")
        self.inventory.transition(tablet, "ready", "verified clean")
        self.inventory.transition(tablet, "lent", "lent")

    def export(self, *options: str) -> tuple[int, str, str]:
        """The command, in this process (its clock is the real one: sessions here are all ended)."""
        return run_main(self.config, "report", "export", *options)


def run_main(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(config), *args])
    return code, out.getvalue(), err.getvalue()


def run_process(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(kiosk_command("--config", str(config), *args), capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "TZ": PARIS})


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[FieldKit]:
    clock = ManualClock(at("2026-11-16T08:00"))
    settings = make_settings(tmp_path)
    store = Store(settings.store.path)
    store.upgrade()
    firewall = MeteredFirewall(store, clock)
    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{settings.store.path}"\n')
    yield FieldKit(Path(settings.store.path), config, clock, store, firewall,
                   AccessService(store, firewall, Limits.from_settings(settings), [], clock),
                   ActivityService(store, clock), OutingService(store, clock), build_survey(settings, store, clock),
                   Inventory(store, clock))
    store.close()


def start_outing(kit: FieldKit, place: str = "Place du marché") -> int:
    return kit.outings.start(check_draft(place, "Clamecy", "58079", "market", "Awa, Jules")).id


def a_busy_week(kit: FieldKit) -> None:
    """Two outings on Monday, accompaniments alone on Tuesday, nothing on Wednesday, a session still open
    just after midnight on Thursday (Wednesday evening in UTC)."""
    kit.now("2026-11-16T09:00")
    morning = start_outing(kit)
    kit.now("2026-11-16T09:10")
    kit.connect(0)
    kit.now("2026-11-16T09:25")
    kit.traffic(0, 3_000_000)
    kit.now("2026-11-16T09:40")
    kit.leave(0)  # 30 minutes
    kit.now("2026-11-16T09:45")
    kit.connect(1)
    kit.now("2026-11-16T10:00")
    kit.record(procedure_themes=["etrangers_europe"], themes=["aide_aux_demarches_administratives"],
               age_band="soixante_dix_plus", gender="feminin", social_status="retraite",
               autonomy="partiellement_autonome", referral="administration")
    kit.now("2026-11-16T10:15")
    kit.traffic(1, 1_500_000)
    kit.now("2026-11-16T10:30")
    kit.leave(1)  # 45 minutes
    kit.now("2026-11-16T10:40")
    kit.record("collectif", "90", participants="6", workshop_title="Premiers pas Clamecy")
    kit.now("2026-11-16T11:00")
    kit.questionnaire("visit-1")
    kit.questionnaire("visit-2", complete=False)  # started, left unfinished: not counted
    kit.now("2026-11-16T11:10")
    kit.survey.appointments.request(Request("Fatou", "0612345678", "", "any"), "fr")
    kit.now("2026-11-16T11:20")
    kit.lend("tab-9")
    kit.now("2026-11-16T12:00")
    assert kit.outings.end(morning)
    kit.now("2026-11-16T14:00")
    afternoon = start_outing(kit, "Parvis de l'école")
    kit.now("2026-11-16T14:30")
    kit.record("individuel", "45", themes=["aide_aux_demarches_administratives"],
               procedure_themes=["logement"])
    kit.now("2026-11-16T16:00")
    assert kit.outings.end(afternoon)
    kit.now("2026-11-17T10:00")
    kit.record("information", "15", themes=["securite_numerique"])
    kit.now("2026-11-17T11:00")
    kit.record()
    kit.now("2026-11-19T00:30")
    kit.connect(2)
    kit.now("2026-11-19T00:50")


EXPECTED = {
    "2026-11-16": "2026-11-16,2,4500000,75,3,8,165,2,1,1,1",
    "2026-11-17": "2026-11-17,0,0,0,2,2,45,0,0,0,0",
    "2026-11-19": "2026-11-19,1,0,20,0,0,0,0,0,0,0",
}


def lines(*days: str) -> str:
    return "\n".join([HEADER, *(EXPECTED[day] for day in days)]) + "\n"


def test_counts_per_local_day_over_several_days_and_outings(kit):
    a_busy_week(kit)
    days = anonymous_export.daily_counts(kit.store, kit.clock())
    assert anonymous_export.to_csv(days) == lines("2026-11-16", "2026-11-17", "2026-11-19")


def test_the_command_prints_the_same_and_the_fleet_report_reads_it(kit):
    a_busy_week(kit)
    code, out, err = kit.export("--anonymous", "--until", "2026-11-18")  # the open session is after: now is fixed
    assert (code, err) == (0, "")
    assert out == lines("2026-11-16", "2026-11-17")
    rows, reported = fleet_report.parse_export("kit-a", out)
    assert reported == fleet_report.ACTIVITY_COLUMNS
    assert [(row.sessions, row.accompaniments, row.people_met) for row in rows] == [(2, 3, 8), (0, 2, 2)]


def test_an_open_session_counts_up_to_now_and_never_past_its_granted_end(kit):
    kit.now("2026-11-19T00:30")
    kit.connect(0)
    first = anonymous_export.daily_counts(kit.store, at("2026-11-19T00:50"))
    assert [(day.day, day.sessions, round(day.session_minutes)) for day in first] == [("2026-11-19", 1, 20)]
    much_later = anonymous_export.daily_counts(kit.store, at("2026-11-21T09:00"))  # a power cut left it open
    assert round(much_later[0].session_minutes) == 120  # access.session_minutes: the end it was granted


def test_a_day_with_only_activity_records(kit):
    kit.now("2026-11-17T10:00")
    kit.record("information", "15", themes=["securite_numerique"])
    kit.record("collectif", "120", participants="12", themes=["email"])
    code, out, _ = kit.export("--anonymous")
    assert code == 0
    assert out == HEADER + "\n2026-11-17,0,0,0,2,13,135,0,0,0,0\n"


@pytest.mark.parametrize(("options", "days"), [
    (("--since", "2026-11-17", "--until", "2026-11-17"), ("2026-11-17",)),
    (("--since", "2026-11-17"), ("2026-11-17", "2026-11-19")),
    (("--until", "2026-11-16"), ("2026-11-16",)),
    (("--since", "2026-11-18", "--until", "2026-11-18"), ()),  # 23:30 UTC on the 18th is the 19th on the kit
    (("--since", "2026-11-19"), ("2026-11-19",)),
    (("--since", "2026-11-20"), ()),
])
def test_the_range_is_of_local_days_both_included(kit, options, days):
    a_busy_week(kit)
    since = options[options.index("--since") + 1] if "--since" in options else None
    until = options[options.index("--until") + 1] if "--until" in options else None
    assert anonymous_export.to_csv(anonymous_export.daily_counts(kit.store, kit.clock(), since, until)) == lines(*days)
    code, out, _ = kit.export("--anonymous", *options)
    assert code == 0 and out.splitlines()[0] == HEADER
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == list(days)


@pytest.mark.parametrize("options", [
    ("--since", "2026-02-30"), ("--since", "yesterday"), ("--until", "2026-1-5"), ("--since", "20261105"),
    ("--since", "2026-W45"), ("--until", "2026-11-05T10:00"), ("--since", "1850-01-01"), ("--until", ""),
    ("--since", "2026-11-20", "--until", "2026-11-19"),
])
def test_bad_dates_are_explained_with_exit_2(kit, options):
    code, out, err = kit.export("--anonymous", *options)
    assert (code, out) == (2, "")
    assert err.startswith("kiosk: --") and "Traceback" not in err
    assert "not a day like 2026-01-31" in err or "must not come before" in err


def test_bad_dates_in_a_real_process_give_a_message_not_a_traceback(kit):
    done = run_process(kit.config, "report", "export", "--anonymous", "--since", "31/12/2026")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "kiosk: --since '31/12/2026' is not a day like 2026-01-31\n"


def test_without_anonymous_it_refuses_and_points_at_the_dashboard(kit):
    a_busy_week(kit)
    code, out, err = kit.export()
    assert (code, out) == (2, "")
    assert "only the anonymous export exists" in err and "--anonymous" in err and "dashboard" in err


def test_the_header_is_stable_and_an_empty_store_prints_only_it(kit):
    assert anonymous_export.COLUMNS[:4] == ("day", "sessions", "data_bytes", "session_minutes")
    assert ",".join(anonymous_export.COLUMNS) == HEADER
    assert tuple(field.name for field in fields(anonymous_export.DayCounts)) == anonymous_export.COLUMNS
    done = run_process(kit.config, "report", "export", "--anonymous")
    assert (done.returncode, done.stdout, done.stderr) == (0, HEADER + "\n", "")


def test_nothing_in_the_output_can_point_at_a_person_or_a_device(kit):
    a_busy_week(kit)
    with kit.store.read() as db:  # the store does hold all of these
        assert db.execute("SELECT count(*) FROM access_sessions WHERE mac IS NOT NULL AND ip IS NOT NULL"
                          ).fetchone()[0] == 3
        assert db.execute("SELECT count(*) FROM activity_records WHERE procedure_themes LIKE '%etrangers%' "
                          "AND age_band IS NOT NULL").fetchone()[0] == 1
        assert db.execute("SELECT first_name FROM survey_appointments").fetchone()[0] == "Fatou"
    code, out, _ = kit.export("--anonymous")
    assert code == 0
    lowered = out.lower()
    for secret in (*MACS, *IPS, "5a:11", "10.42.", "etrangers", "étrangers", "logement", "email", "securite",
                   "soixante", "feminin", "retraite", "administration", "fatou", "0612345678", "tab-9", "premiers",
                   "clamecy", "58079", "march", "école", "awa", "jules", "fr"):
        assert secret.lower() not in lowered, secret
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == list(anonymous_export.COLUMNS)
    for day, *counts in rows[1:]:
        assert datetime.strptime(day, "%Y-%m-%d")  # a day, no time of day
        assert all(count.isdigit() for count in counts)
    assert ":" not in out and "T" not in out


def _snapshot(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())
            if path.suffix != ".toml" and not path.name.endswith("-shm")}


def test_it_reads_while_the_kit_writes_and_writes_nothing_itself(kit):
    a_busy_week(kit)
    kit.record()  # the kit's own connection stays open, as kiosk serve's does: its -wal and -shm exist
    assert (kit.path.parent / (kit.path.name + "-wal")).exists()
    before = _snapshot(kit.path.parent)
    done = run_process(kit.config, "report", "export", "--anonymous")
    assert done.returncode == 0, done.stderr
    last = dict(zip(anonymous_export.COLUMNS, done.stdout.splitlines()[3].split(","), strict=True))
    assert (last["day"], last["sessions"], last["accompaniments"]) == ("2026-11-19", "1", "1")  # just recorded
    assert _snapshot(kit.path.parent) == before


def test_with_the_kit_stopped_it_creates_no_file_beside_the_store(kit):
    a_busy_week(kit)
    kit.store.close()  # the last connection checkpoints and removes -wal and -shm
    names = sorted(path.name for path in kit.path.parent.iterdir())
    assert not any(name.endswith(("-wal", "-shm")) for name in names)
    before = _snapshot(kit.path.parent)
    done = run_process(kit.config, "report", "export", "--anonymous")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 4
    assert sorted(path.name for path in kit.path.parent.iterdir()) == names
    assert _snapshot(kit.path.parent) == before


def test_a_store_not_upgraded_or_missing_is_explained(tmp_path):
    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n')
    code, out, err = run_main(config, "report", "export", "--anonymous")
    assert (code, out) == (1, "") and "no store at" in err
    assert not (tmp_path / "kiosk.db").exists()
    with sqlite3.connect(tmp_path / "kiosk.db") as db:
        db.execute("CREATE TABLE something (x)")
    code, out, err = run_main(config, "report", "export", "--anonymous")
    assert (code, out) == (1, "") and "kiosk db upgrade" in err
