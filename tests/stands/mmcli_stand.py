#!/usr/bin/env python3
"""A stand-in for ModemManager's ``mmcli``, for machines with no modem (every test machine).

It answers ``mmcli -J -L``, ``mmcli -J -m N`` and ``mmcli -J -m N --time`` from the recorded outputs in
tests/fixtures/mmcli/<scenario>/, chosen by ``MMCLI_STAND_SCENARIO``; like the real mmcli it exits 1 with
its error message on stderr when ModemManager is not running or the modem does not exist.

Scenarios: every fixture folder, plus ``not-running`` (ModemManager stopped), ``garbage`` (output cut
short) and ``hang`` (mmcli stuck on D-Bus, until killed).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

FIXTURES = Path(os.environ.get("MMCLI_STAND_FIXTURES", Path(__file__).resolve().parents[1] / "fixtures" / "mmcli"))
MODEM_PREFIX = "/org/freedesktop/ModemManager1/Modem/"


def fail(message: str, code: int = 1) -> int:
    sys.stderr.write(message + "\n")
    return code


def parse(argv: list[str]) -> tuple[bool, bool, str | None, bool]:
    json_output = list_modems = time_flag = False
    modem: str | None = None
    args = iter(argv)
    for arg in args:
        if arg in ("-J", "--output-json"):
            json_output = True
        elif arg in ("-L", "--list-modems"):
            list_modems = True
        elif arg in ("-m", "--modem"):
            modem = next(args, None)
        elif arg.startswith("--modem="):
            modem = arg.split("=", 1)[1]
        elif arg == "--time":
            time_flag = True
        else:
            raise SystemExit(fail(f"mmcli stand: option {arg!r} is not recorded", 2))
    if not json_output:
        raise SystemExit(fail("mmcli stand: only -J (JSON) output is recorded", 2))
    return json_output, list_modems, modem, time_flag


def main(argv: list[str]) -> int:
    scenario = os.environ.get("MMCLI_STAND_SCENARIO", "")
    _, list_modems, modem, time_flag = parse(argv)
    if scenario == "not-running":
        return fail("error: couldn't find the ModemManager process in the bus")
    if scenario == "hang":
        time.sleep(60)
        return fail("error: couldn't create manager: Timeout was reached")
    if scenario == "garbage":
        sys.stdout.write('{"modem":{"3gpp":{"enabled-locks":["fixed-dia')
        return 0
    folder = FIXTURES / scenario
    if not scenario or not (folder / "list.json").is_file():
        return fail(f"mmcli stand: unknown scenario {scenario!r} (MMCLI_STAND_SCENARIO)", 2)
    listed = json.loads((folder / "list.json").read_text())["modem-list"]
    if list_modems:
        sys.stdout.write((folder / "list.json").read_text())
        return 0
    if modem is None:
        return fail("mmcli stand: nothing to do (give -L or -m N)", 2)
    if modem == "any":
        modem = listed[0] if listed else ""
    index = modem.removeprefix(MODEM_PREFIX)
    answer = folder / f"modem-{index}.json"
    if not index.isdigit() or f"{MODEM_PREFIX}{index}" not in listed or not answer.is_file():
        return fail("error: couldn't find modem")
    if time_flag:
        network_time = folder / f"time-{index}.json"
        if network_time.is_file():
            sys.stdout.write(network_time.read_text())
            return 0
        state = json.loads(answer.read_text())["modem"]["generic"]["state"]
        if state in ("failed", "unknown", "initializing", "locked", "disabled", "disabling", "enabling"):
            return fail("error: modem not enabled yet")
        return fail("error: modem has no time capabilities")
    sys.stdout.write(answer.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
