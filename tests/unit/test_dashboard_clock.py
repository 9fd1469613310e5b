"""The kit's clock: a Pi without a battery-backed clock restarts on a wrong time; when the clock is set (by a
mediator's phone, the 4G network, NTP) the records of this boot are moved by the correction, and only them.

A simulated Pi gives both clocks: time passes for both, setting the clock moves only the wall clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.adapters.clock import MAX_EPOCH, MIN_EPOCH, ClockError, check_epoch
from kiosk.adapters.firewall import RecordingFirewall
from kiosk.services.access import AccessService, Limits
from kiosk.services.clock import ClockService, describe_offset, epoch_from_local, local_day, shift_day
from kiosk.services.mediation.activity import ActivityService, check_entry
from kiosk.services.mediation.outings import OutingService, check_draft
from kiosk.store import Store
from tests.unit.test_dashboard import build

WRONG = datetime(2025, 3, 1, 9, 0).timestamp()  # what fake-hwclock restored after a power cut
TRUE = datetime(2026, 9, 20, 14, 0).timestamp()  # what the mediator's phone says


class SimulatedPi:
    def __init__(self, wall: float, boot: str = "boot-1") -> None:
        self.wall, self.up, self.boot = wall, 40.0, boot
        self.set_calls: list[float] = []

    def __call__(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.up += seconds

    def set(self, epoch: float) -> None:
        self.set_calls.append(epoch)
        self.wall = epoch

    def reboot(self, wall: float, boot: str) -> None:
        self.wall, self.up, self.boot = wall, 30.0, boot

    def boot_id(self) -> str:
        return self.boot

    def since_boot(self) -> float:
        return self.up


@pytest.fixture
def pi() -> SimulatedPi:
    return SimulatedPi(WRONG)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "kiosk.db")
    store.upgrade()
    return store


def services(store: Store, pi: SimulatedPi, network=None):
    clock = ClockService(store, pi, pi, pi.set, network)
    clock.current_boot()
    access = AccessService(store, RecordingFirewall(store, pi), Limits(7200, 1800, 0), [], pi)
    return clock, access, OutingService(store, pi), ActivityService(store, pi)


def test_setting_the_clock_from_a_phone_moves_this_boots_records(store, pi):
    clock, access, outings, activity = services(store, pi)
    outing = outings.start(check_draft("Marché", "Clamecy", "58079", "market", "Awa"))
    pi.advance(600)
    record = activity.record(check_entry("individuel", "30", ["email"], []))
    session = access.grant("10.42.0.23", "5a:11:22:33:44:55", "fr")
    with store.write() as db:
        db.execute("INSERT INTO survey_visits (questionnaire, version, language, started_day, updated_day) "
                   "VALUES ('q', 1, 'fr', ?, ?)", (local_day(pi()), local_day(pi())))
        db.execute("INSERT INTO survey_appointments (first_name, contact, structure, slot, language, created_day) "
                   "VALUES ('Fatou', '0612345678', '', 'any', 'fr', ?)", (local_day(pi()),))
    pi.advance(60)

    delta = clock.set_time(TRUE, "phone")

    assert delta == pytest.approx(TRUE - (WRONG + 660))
    assert pi.set_calls == [TRUE]
    assert outings.get(outing.id).started_at == pytest.approx(TRUE - 660)
    [moved] = activity.recent(outing.id)
    assert moved.recorded_at == pytest.approx(record.recorded_at + delta) and moved.day == "2026-09-20"
    [open_session] = access.open_sessions()
    assert open_session.started_at == round(session.started_at + delta)
    assert open_session.seconds_remaining(pi()) == pytest.approx(7200 - 60, abs=1)  # not expired by the jump
    assert access.sweep() == {"expired": 0, "cap": 0, "idle": 0, "quota": 0}
    with store.read() as db:
        assert db.execute("SELECT started_day, updated_day FROM survey_visits").fetchone()[:] == ("2026-09-20",) * 2
        assert db.execute("SELECT created_day FROM survey_appointments").fetchone()[0] == "2026-09-20"
        assert db.execute("SELECT requested_day FROM appointment_follow_up").fetchone()[0] == "2026-09-20"
        boot = db.execute("SELECT corrected, last_source FROM clock_boots").fetchone()
    assert boot["corrected"] == pytest.approx(delta) and boot["last_source"] == "phone"
    assert clock.reconcile() == 0  # nothing more to do: the setting is accounted for


def test_a_clock_set_by_someone_else_is_noticed_and_corrected(store, pi):
    clock, _access, _outings, activity = services(store, pi)
    activity.record(check_entry("information", "15", ["aide_aux_demarches_administratives"], ["logement"]))
    pi.set(TRUE)  # NTP, once the 4G came up: the kiosk was not asked
    assert clock.reconcile() == pytest.approx(TRUE - WRONG)
    [moved] = activity.recent(None)
    assert moved.day == local_day(TRUE)
    assert clock.current_boot().last_source == "system"


def test_records_of_an_earlier_boot_are_left_alone(store, pi):
    clock, _access, _outings, activity = services(store, pi)
    pi.set(TRUE)
    clock.reconcile()
    before = activity.record(check_entry("individuel", "30", ["email"], []))
    pi.reboot(TRUE - 3600, "boot-2")  # power cut; fake-hwclock restores an hour-old time
    clock.current_boot()
    during = activity.record(check_entry("individuel", "30", ["bureautique"], []))
    pi.advance(120)
    clock.set_time(TRUE + 7200, "phone")
    by_id = {record.id: record for record in activity.recent(None)}
    assert by_id[before.id].recorded_at == before.recorded_at
    assert by_id[during.id].recorded_at == pytest.approx(during.recorded_at + 3600 + 7200 - 120)


def test_a_second_correction_refines_every_record_of_the_boot(store, pi):
    clock, _access, _outings, activity = services(store, pi)
    first = activity.record(check_entry("individuel", "30", ["email"], []))
    clock.set_time(TRUE, "phone")
    second = activity.record(check_entry("individuel", "30", ["email"], []))
    clock.set_time(TRUE + 90, "network")  # the network is 90 s ahead of the phone
    by_id = {record.id: record for record in activity.recent(None)}
    assert by_id[second.id].recorded_at == pytest.approx(second.recorded_at + 90)
    assert by_id[first.id].recorded_at == pytest.approx(TRUE + 90)


def test_a_tiny_difference_changes_nothing(store, pi):
    clock, *_ = services(store, pi)
    assert clock.set_time(WRONG + 2, "phone") == 0
    assert pi.set_calls == []


@pytest.mark.parametrize("epoch", [0, MIN_EPOCH - 1, MAX_EPOCH + 1, float("nan"), float("inf"), True, "1790000000",
                                   None])
def test_an_insane_time_is_refused(store, pi, epoch):
    clock, *_ = services(store, pi)
    with pytest.raises(ClockError):
        clock.set_time(epoch, "phone")
    assert pi.set_calls == []
    with pytest.raises(ValueError):
        check_epoch(epoch)


def test_a_kit_that_cannot_set_its_clock_says_so(store, pi):
    clock = ClockService(store, pi, pi, None)
    with pytest.raises(ClockError, match="development"):
        clock.set_time(TRUE, "phone")


def test_the_networks_time_is_used_when_the_kit_is_far_off(store, pi):
    ticks = [0.0]
    network = datetime.fromtimestamp(TRUE, UTC)
    clock = ClockService(store, pi, pi, pi.set, lambda: network, monotonic=lambda: ticks[0])
    clock.current_boot()
    assert clock.use_network_time_if_wrong() == pytest.approx(TRUE - WRONG)
    assert pi.wall == pytest.approx(TRUE)
    assert clock.current_boot().last_source == "network"
    ticks[0] += 61
    assert clock.use_network_time_if_wrong() == 0  # now right


def test_no_network_time_no_change(store, pi):
    clock = ClockService(store, pi, pi, pi.set, lambda: None)
    assert clock.use_network_time_if_wrong() == 0 and pi.set_calls == []


def test_day_shifting_and_parsing_helpers():
    assert shift_day("2025-03-01", TRUE - WRONG, WRONG - 100, WRONG + 600) == "2026-09-20"
    assert shift_day("not a day", 3600, 0, 1) == "not a day"
    assert epoch_from_local("2026-09-20T14:00") == datetime(2026, 9, 20, 14, 0).timestamp()
    for wrong in ("", "14:00", "2026-09-20T14:00+02:00", "1899-01-01T00:00", "x" * 40):
        assert epoch_from_local(wrong) is None
    assert describe_offset(-40) == ("seconds", 40) and describe_offset(3000) == ("minutes", 50)
    assert describe_offset(5 * 3600) == ("hours", 5) and describe_offset(400 * 86400) == ("days", 400)


# --- through the dashboard ----------------------------------------------------------------------------------

def test_the_clock_page_compares_and_sets_the_kit_from_the_phone(tmp_path):
    dash = build(tmp_path)
    pi = SimulatedPi(dash.clock())
    dash.context.clock = ClockService(dash.apps.kit.store, pi, pi, pi.set)
    dash.login()
    page = dash.visible("/clock")
    assert "Mettre le kit à l'heure de mon téléphone" in page and 'name="phone_local"' in page
    assert re.search(r'data-kit-ms="\d+"', page)
    dash.post("/activity", {"kind": "individuel", "duration": "30", "themes": ["email"]})
    target = pi() + 3 * 3600
    response = dash.post("/clock/phone", {"phone_ms": str(int(target * 1000))})
    assert response.status_code == 303
    assert pi.set_calls == [pytest.approx(target)]
    assert "Horloge réglée (décalée de 3 h)" in dash.visible("/clock")
    assert dash.get("/").status_code == 200, "setting the clock does not log the mediator out"


def test_without_script_the_mediator_types_the_phones_time(tmp_path):
    dash = build(tmp_path)
    pi = SimulatedPi(dash.clock())
    dash.context.clock = ClockService(dash.apps.kit.store, pi, pi, pi.set)
    dash.login()
    typed = datetime.fromtimestamp(pi() + 2 * 86400).strftime("%Y-%m-%dT%H:%M")
    dash.post("/clock/phone", {"phone_local": typed})
    assert pi.set_calls == [epoch_from_local(typed)]
    dash.post("/clock/phone", {"phone_local": "nonsense"})
    assert "Indiquez la date et l'heure" in dash.visible("/clock")
    dash.post("/clock/phone", {"phone_local": "2001-01-01T10:00"})
    assert "L'horloge n'a pas été changée" in dash.visible("/clock")


def test_a_development_kit_never_touches_the_computers_clock(tmp_path):
    dash = build(tmp_path)  # firewall backend none
    dash.login()
    assert "configuré pour le développement" in dash.visible("/clock")
    dash.post("/clock/phone", {"phone_ms": str(int((dash.clock() + 7200) * 1000))})
    assert "L'horloge n'a pas été changée" in dash.visible("/clock")


def test_the_machines_clock_is_never_set_from_a_test_namespace(monkeypatch):
    """Network namespaces share the host's one clock: a kit under test there must not move it."""
    import kiosk.adapters.clock as adapter

    calls: list[tuple] = []
    monkeypatch.setattr(adapter.time, "clock_settime", lambda *args: calls.append(args))  # a safety net, too
    monkeypatch.setattr(adapter, "in_test_namespace", lambda: True)
    with pytest.raises(ClockError, match="test stand"):
        adapter.set_system_clock(1_790_000_000)
    assert calls == []
