"""OS connectivity probes, before and after accepting the charter (REFERENCE §2)."""

from __future__ import annotations

import re

import pytest

from kiosk.probes import APPLE_SUCCESS, FIREFOX_CANONICAL
from tests.conftest import KIT_IP

PORTAL = f"http://{KIT_IP}/"

# (probe URL, expected success status, expected success body)
PROBES = [
    ("http://connectivitycheck.gstatic.com/generate_204", 204, b""),
    ("http://www.google.com/gen_204", 204, b""),
    ("http://clients3.google.com/generate_204", 204, b""),
    ("http://captive.apple.com/hotspot-detect.html", 200, APPLE_SUCCESS.encode()),
    ("http://www.apple.com/library/test/success.html", 200, APPLE_SUCCESS.encode()),
    ("http://www.msftconnecttest.com/connecttest.txt", 200, b"Microsoft Connect Test"),
    ("http://www.msftncsi.com/ncsi.txt", 200, b"Microsoft NCSI"),
    ("http://detectportal.firefox.com/canonical.html", 200, FIREFOX_CANONICAL.encode()),
    ("http://detectportal.firefox.com/success.txt", 200, b"success\n"),
]


def accept(phone, lang: str = "fr"):
    page = phone.get(PORTAL + f"?lang={lang}")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    return phone.post(PORTAL + "accept", data={"csrf_token": token, "accept": "yes", "lang": lang})


@pytest.mark.parametrize(("url", "status", "body"), PROBES)
def test_probe_redirects_to_portal_by_ip_before_accepting(portal_kit, url, status, body):
    phone = portal_kit().phone()
    response = phone.get(url)
    assert response.status_code == 302
    assert response.headers["Location"] == PORTAL
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize(("url", "status", "body"), PROBES)
def test_probe_gets_exact_success_answer_after_accepting(portal_kit, url, status, body):
    phone = portal_kit().phone()
    assert accept(phone).status_code == 303
    response = phone.get(url)
    assert response.status_code == status
    assert response.data == body


def test_apple_probe_with_captive_user_agent(portal_kit):
    kit = portal_kit()
    phone = kit.phone()
    agent = {"User-Agent": "CaptiveNetworkSupport-443.40.1 wispr"}
    assert phone.get("http://captive.apple.com/hotspot-detect.html", headers=agent).status_code == 302
    accept(phone)
    assert phone.get("http://captive.apple.com/hotspot-detect.html", headers=agent).data == APPLE_SUCCESS.encode()


def test_other_hosts_and_unknown_paths_redirect_an_unauthorised_phone(portal_kit):
    phone = portal_kit().phone()
    for url in ("http://example.org/", "http://198.51.100.10/some/page?x=1", PORTAL + "no-such-page",
                "http://connectivitycheck.gstatic.com/other"):
        response = phone.get(url)
        assert (response.status_code, response.headers.get("Location")) == (302, PORTAL), url


def test_portal_pages_themselves_are_served_before_accepting(portal_kit):
    phone = portal_kit().phone()
    assert phone.get(PORTAL).status_code == 200
    assert phone.get(PORTAL + "info").status_code == 200
    assert phone.get(PORTAL + "static/portal.css").status_code == 200


def test_unknown_path_on_the_kit_is_a_friendly_404_once_connected(portal_kit):
    phone = portal_kit().phone()
    accept(phone)
    response = phone.get(PORTAL + "no-such-page")
    assert response.status_code == 404
    assert "Cette page n'existe pas." in response.get_data(as_text=True)


def test_probe_stays_captive_when_the_uplink_is_down_even_after_accepting(portal_kit):
    kit = portal_kit()
    phone = kit.phone()
    accept(phone)
    kit.uplink.up = False
    response = phone.get("http://connectivitycheck.gstatic.com/generate_204")
    assert response.status_code == 302  # the phone keeps its mobile data instead of a dead Wi-Fi


def test_another_phone_is_still_captive(portal_kit):
    kit = portal_kit()
    accept(kit.phone())
    other = kit.phone(ip="10.42.0.24", mac="6e:00:00:00:00:24")
    assert other.get("http://connectivitycheck.gstatic.com/generate_204").status_code == 302


def test_session_follows_the_mac_not_an_ip_reused_by_dhcp(portal_kit):
    kit = portal_kit()
    accept(kit.phone(ip="10.42.0.30", mac="5a:00:00:00:00:30"))
    # The lease moved: another phone now holds 10.42.0.30.
    kit.leases.write_text("")
    newcomer = kit.phone(ip="10.42.0.30", mac="5a:00:00:00:00:99")
    assert newcomer.get("http://connectivitycheck.gstatic.com/generate_204").status_code == 302


def test_trusted_tablet_is_always_allowed(portal_kit):
    kit = portal_kit(access__trusted_macs=["02:aa:bb:cc:dd:ee"])
    tablet = kit.phone(ip="10.42.0.50", mac="02:aa:bb:cc:dd:ee")
    assert tablet.get("http://connectivitycheck.gstatic.com/generate_204").status_code == 204


def test_mediators_phones_on_the_staff_network_never_see_the_portal(portal_kit):
    kit = portal_kit(network__staff_interface="wlan1", network__staff_address="10.42.1.1/24")
    mediator = kit.phone(ip="10.42.1.40", mac="5a:00:00:00:01:40")
    assert mediator.get("http://connectivitycheck.gstatic.com/generate_204").status_code == 204
    # Without a staff network configured, the same address is just an unknown phone.
    plain = portal_kit().phone(ip="10.42.1.40", mac="5a:00:00:00:01:40")
    assert plain.get("http://connectivitycheck.gstatic.com/generate_204").status_code == 302
