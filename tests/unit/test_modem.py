"""The 4G modem through ``mmcli -J``: the pure parsers on recorded outputs, then the adapter end to end.

No test machine has a modem or a ModemManager to talk to, so the adapter runs tests/stands/mmcli_stand.py
as its mmcli binary: a stand-in at that boundary, serving the recorded outputs in tests/fixtures/mmcli/
and failing like the real mmcli does (exit 1, its error message on stderr).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kiosk.adapters.modem import (
    MmcliFormatError,
    ModemManagerCli,
    ModemStatus,
    NoModem,
    explain_failure,
    modem_selector,
    parse_modem,
    parse_modem_list,
    parse_network_time,
)
from kiosk.services.uplink import describe_modem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mmcli"
STAND = Path(__file__).resolve().parents[1] / "stands" / "mmcli_stand.py"
PARIS_WINTER = timezone(timedelta(hours=1))


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


# --- parsers ------------------------------------------------------------------------------------


def test_fixtures_are_mmcli_shaped_single_lines():
    for path in FIXTURES.rglob("*.json"):
        text = path.read_text()
        assert text.count("\n") == 1 and text.endswith("}\n"), path  # mmcli prints one line
        json.loads(text)


def test_modem_lists():
    assert parse_modem_list(fixture("quectel-orange/list.json")) == ["/org/freedesktop/ModemManager1/Modem/0"]
    assert parse_modem_list(fixture("huawei-sfr/list.json")) == ["/org/freedesktop/ModemManager1/Modem/3"]
    assert parse_modem_list(fixture("no-modem/list.json")) == []


@pytest.mark.parametrize("document", [None, [], {}, {"modem-list": "x"}, {"modem": {}}])
def test_a_modem_list_of_another_shape_is_refused(document):
    with pytest.raises(MmcliFormatError):
        parse_modem_list(document)


def test_quectel_connected_on_orange():
    status = parse_modem(fixture("quectel-orange/modem-0.json"))
    assert status == ModemStatus(
        path="/org/freedesktop/ModemManager1/Modem/0", manufacturer="Quectel", model="EC25", state="connected",
        failed_reason=None, operator_name="Orange F", operator_code="20801", registration="home",
        access_technologies=("lte",), signal_percent=71,
    )
    assert status.index == "0"
    assert describe_modem(status) == "Quectel EC25 — Orange F, LTE, signal 71%, connected"


def test_huawei_stick_registered_on_sfr():
    status = parse_modem(fixture("huawei-sfr/modem-3.json"))
    assert (status.manufacturer, status.model, status.state) == ("huawei", "E3372", "registered")
    assert (status.operator_name, status.operator_code, status.registration) == ("SFR", "20810", "home")
    assert status.access_technologies == ("umts",)
    assert status.signal_percent == 40
    assert describe_modem(status) == "Huawei E3372 — SFR, UMTS, signal 40%, registered"


def test_failed_modem_without_sim():
    status = parse_modem(fixture("sim-missing/modem-1.json"))
    assert (status.state, status.failed_reason) == ("failed", "sim-missing")
    # "--" is ModemManager's "unknown": never shown as an operator called "--"
    assert (status.operator_name, status.operator_code, status.registration) == (None, None, None)
    assert status.access_technologies == ()
    assert describe_modem(status) == "SIMCOM INCORPORATED SIMCOM_SIM7600E-H — failed (sim-missing)"


def test_unknowns_and_missing_sections():
    document = {"modem": {"dbus-path": "/org/freedesktop/ModemManager1/Modem/2", "generic": {
        "manufacturer": "--", "model": "", "state": "searching", "state-failed-reason": "--",
        "access-technologies": ["--"], "signal-quality": {"recent": "no", "value": "--"}}}}
    status = parse_modem(document)  # no "3gpp" section at all: mmcli leaves out what a modem lacks
    assert status == ModemStatus("/org/freedesktop/ModemManager1/Modem/2", None, None, "searching", None, None,
                                 None, None, (), None)
    assert describe_modem(status) == "modem — searching"


def test_failed_reason_only_counts_in_the_failed_state():
    document = fixture("quectel-orange/modem-0.json")
    document["modem"]["generic"]["state-failed-reason"] = "sim-missing"
    assert parse_modem(document).failed_reason is None


def test_roaming_is_shown():
    document = fixture("quectel-orange/modem-0.json")
    document["modem"]["3gpp"]["registration-state"] = "roaming"
    document["modem"]["generic"]["access-technologies"] = ["umts", "hsdpa", "hsupa"]
    assert describe_modem(parse_modem(document)) == "Quectel EC25 — Orange F, roaming, UMTS/HSDPA/HSUPA, " \
                                                    "signal 71%, connected"


@pytest.mark.parametrize("document", [None, {}, {"modem": {}}, {"modem": {"generic": "x"}}, {"modem-list": []}])
def test_a_modem_of_another_shape_is_refused(document):
    with pytest.raises(MmcliFormatError):
        parse_modem(document)


def test_network_time_with_its_offset():
    moment = parse_network_time(fixture("quectel-orange/time-0.json"))
    assert moment == datetime(2026, 3, 14, 10, 32, 7, tzinfo=PARIS_WINTER)
    assert moment.astimezone(UTC) == datetime(2026, 3, 14, 9, 32, 7, tzinfo=UTC)


def test_network_time_without_offset_takes_the_timezone_section():
    document = {"modem": {"time": {"current": "2026-07-01T08:00:00", "dst-offset": "60", "leap-seconds": "--"},
                          "timezone": {"current": "120"}}}
    assert parse_network_time(document) == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("document", [
    {"modem": {"time": {"current": "--"}, "timezone": {"current": "60"}}},
    {"modem": {"time": {"current": "2026-07-01T08:00:00"}, "timezone": {"current": "--"}}},  # no offset at all
    {"modem": {"time": {"current": "yesterday"}}},
    {},
])
def test_unknown_network_time_is_none(document):
    assert parse_network_time(document) is None


def test_selectors_and_error_texts():
    assert modem_selector(0) == "0"
    assert modem_selector("/org/freedesktop/ModemManager1/Modem/12") == "/org/freedesktop/ModemManager1/Modem/12"
    assert modem_selector("--help") is None
    assert modem_selector("/org/freedesktop/ModemManager1/SIM/0") is None
    assert explain_failure("error: couldn't find the ModemManager process in the bus\n") == \
        "ModemManager is not running"
    assert explain_failure("error: couldn't find modem\n") == "modem not found"
    assert explain_failure("error: couldn't create manager: Timeout was reached\n") == \
        "mmcli failed: couldn't create manager: Timeout was reached"
    assert explain_failure("") == "mmcli failed: no message"


# --- the adapter running the stand-in -----------------------------------------------------------


@pytest.fixture
def mmcli(monkeypatch):
    # The stand's "#!/usr/bin/env python3" then finds this interpreter first (and skips slow shims).
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")

    def use(scenario: str, timeout_s: float = 10.0) -> ModemManagerCli:
        monkeypatch.setenv("MMCLI_STAND_SCENARIO", scenario)
        return ModemManagerCli(str(STAND), timeout_s=timeout_s)

    return use


def test_stand_quectel_orange(mmcli):
    cli = mmcli("quectel-orange")
    assert cli.list_modems() == ["/org/freedesktop/ModemManager1/Modem/0"]
    assert cli.modem(0) == cli.modem("/org/freedesktop/ModemManager1/Modem/0") == cli.first_modem()
    assert cli.first_modem().operator_name == "Orange F"
    assert cli.network_time() == datetime(2026, 3, 14, 10, 32, 7, tzinfo=PARIS_WINTER)
    assert cli.network_time(0) == cli.network_time()


def test_stand_huawei_follows_the_list_not_index_zero(mmcli):
    cli = mmcli("huawei-sfr")
    first = cli.first_modem()
    assert isinstance(first, ModemStatus)
    assert (first.index, first.operator_code, first.signal_percent) == ("3", "20810", 40)
    assert cli.modem(0) == NoModem("modem not found")
    assert cli.network_time() is None  # "modem has no time capabilities"


def test_stand_failed_modem(mmcli):
    cli = mmcli("sim-missing")
    first = cli.first_modem()
    assert (first.state, first.failed_reason) == ("failed", "sim-missing")
    assert cli.network_time() is None  # "modem not enabled yet"


def test_stand_no_modem(mmcli):
    cli = mmcli("no-modem")
    assert cli.list_modems() == []
    assert cli.first_modem() == NoModem("no modem found")
    assert cli.modem(0) == NoModem("modem not found")
    assert cli.network_time() is None


def test_stand_modemmanager_not_running(mmcli):
    cli = mmcli("not-running")
    assert cli.list_modems() == NoModem("ModemManager is not running")
    assert cli.first_modem() == NoModem("ModemManager is not running")
    assert cli.modem(0) == NoModem("ModemManager is not running")
    assert cli.network_time() is None
    assert not cli.first_modem()


def test_stand_hung_mmcli_is_given_up(mmcli):
    cli = mmcli("hang", timeout_s=0.5)
    assert cli.first_modem() == NoModem("mmcli did not answer within 0.5 s")
    assert cli.network_time(0) is None


def test_stand_unreadable_output(mmcli):
    assert mmcli("garbage").first_modem() == NoModem("mmcli gave unreadable output")
    assert mmcli("garbage").modem(0) == NoModem("mmcli gave unreadable output")


def test_binary_missing_or_unusable(tmp_path):
    missing = ModemManagerCli(str(tmp_path / "no-such-mmcli"))
    assert missing.first_modem() == NoModem(f"mmcli is not installed ({tmp_path / 'no-such-mmcli'} not found)")
    assert missing.network_time() is None
    not_executable = tmp_path / "mmcli"
    not_executable.write_text("#!/bin/sh\n")
    answer = ModemManagerCli(str(not_executable)).first_modem()
    assert isinstance(answer, NoModem) and answer.reason.startswith("mmcli cannot run")
    assert ModemManagerCli("").first_modem() == NoModem("ModemManager not used (uplink.mmcli is empty)")


def test_a_bad_selector_never_reaches_mmcli(mmcli):
    cli = mmcli("quectel-orange")
    assert cli.modem("-L") == NoModem("not a modem index or path: '-L'")
    assert cli.network_time("--help") is None
