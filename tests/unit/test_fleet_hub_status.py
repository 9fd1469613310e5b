"""`provision fleet status --hub`: a kit silent for N days, or never heard from, shows as such."""

from __future__ import annotations

from datetime import UTC, datetime

from provisioning.fleet_hub import format_hub_status, hub_status

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def report(days_ago: float) -> dict:
    return {"reported_epoch": int(NOW.timestamp() - days_ago * 86400), "version": "0.1.0",
            "applied": "0123456789abcdef", "last_run": {"result": "up to date"},
            "tablets": [{"name": "tab-1", "status": "ready"}]}


def test_a_recent_report_a_stale_one_and_a_kit_never_heard_from():
    status = hub_status({"kit-lyon": report(0.5), "kit-gap": report(9.2)}, ["kit-new"], NOW, stale_days=3)
    assert status["kit-lyon"]["state"] == "reported"
    assert status["kit-gap"]["state"] == "no report for 9 days"
    assert status["kit-new"]["state"] == "never reported"
    table = format_hub_status(status)
    assert "no report for 9 days" in table and "tab-1: ready" in table and "0123456789" in table


def test_the_hub_rule_keeps_participants_off_the_hub_in_the_rendered_firewall():
    from kiosk.adapters.netplan import NetworkPlan
    from kiosk.adapters.nftables import render_ruleset
    from kiosk.settings import defaults

    settings = defaults().replace(fleet__hub="ssh://fleet@203.0.113.2/srv/fleet.git",
                                  fleet__hub_addresses=["198.51.100.77"])
    ruleset = render_ruleset(NetworkPlan.from_settings(settings))
    assert 'iifname "wlan0" ip daddr { 198.51.100.77, 203.0.113.2 } reject' in ruleset
