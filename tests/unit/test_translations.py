"""Every message of the interface is translated in every language the kit offers."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from kiosk.web.i18n import DOMAIN_LANGUAGES, LANGUAGES, TRANSLATIONS_DIR, extract_messages, load_catalogue

PLACEHOLDER = re.compile(r"%\(\w+\)s")


@pytest.mark.parametrize("code", [code for code in LANGUAGES if code != "en"])
def test_every_message_is_translated_with_the_same_placeholders(code):
    with (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        entries = {entry.id: entry for entry in read_po(handle, locale=code) if entry.id}
    messages = extract_messages()
    assert messages, "no message extracted: the extraction itself is broken"
    missing = [m for m in messages if m not in entries or not entries[m].string or entries[m].fuzzy]
    assert not missing, f"{code}: untranslated (run python -m kiosk.web.i18n, then translate): {missing}"
    broken = [m for m in messages
              if sorted(PLACEHOLDER.findall(entries[m].string)) != sorted(PLACEHOLDER.findall(m))]
    assert not broken, f"{code}: placeholders differ: {broken}"


def test_catalogues_load_into_the_interface():
    assert load_catalogue("ar").gettext("Welcome") == "أهلًا وسهلًا"
    assert load_catalogue("fr").gettext("Language") == "Langue"


@pytest.mark.parametrize("code", DOMAIN_LANGUAGES["dashboard"])
def test_the_dashboard_is_fully_translated_in_its_own_domain(code):
    """The mediators' dashboard has its own catalogue (dashboard.po), in French, the mediators' language."""
    with (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "dashboard.po").open("rb") as handle:
        entries = {entry.id: entry for entry in read_po(handle, locale=code) if entry.id}
    messages = extract_messages(domain="dashboard")
    assert len(messages) > 100, "no dashboard message extracted: the extraction itself is broken"
    missing = [m for m in messages if m not in entries or not entries[m].string or entries[m].fuzzy]
    assert not missing, f"{code}: untranslated (run python -m kiosk.web.i18n dashboard, then translate): {missing}"
    broken = [m for m in messages
              if sorted(PLACEHOLDER.findall(entries[m].string)) != sorted(PLACEHOLDER.findall(m))
              or entries[m].string.count("%%") != m.count("%%")]
    assert not broken, f"{code}: placeholders differ: {broken}"
    assert load_catalogue(code, domain="dashboard").gettext("Record an activity") == "Noter une activité"


def test_each_file_belongs_to_one_domain():
    dashboard = extract_messages(domain="dashboard")
    messages = extract_messages()
    places = {place.rsplit(":", 1)[0] for found in dashboard.values() for place in found}
    assert places and all(place.startswith(("templates/dashboard/", "web/dashboard")) for place in places)
    assert not any(place.startswith(("templates/dashboard/", "web/dashboard"))
                   for found in messages.values() for place in found)
