"""Languages of the interface: gettext catalogues read from ``kiosk/translations/<lang>/<domain>.po``.

The .po files are compiled in memory at start (babel), so there is no build step and no binary file in
the repository. Message ids are English; French is the kit's first language and has its own catalogue.

Two domains: ``messages`` (the participants' pages, in every language the kit offers) and ``dashboard``
(the mediators' dashboard, in French; ``DOMAINS`` says which files belong to which).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from gettext import NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in its own script
    direction: str  # "ltr" or "rtl"


LANGUAGES: dict[str, Language] = {
    "fr": Language("fr", "Français", "ltr"),
    "en": Language("en", "English", "ltr"),
    "ar": Language("ar", "العربية", "rtl"),
    "uk": Language("uk", "Українська", "ltr"),
    "es": Language("es", "Español", "ltr"),
}


def load_catalogue(code: str, directory: Path = TRANSLATIONS_DIR, domain: str = "messages") -> NullTranslations:
    po_file = directory / code / "LC_MESSAGES" / f"{domain}.po"
    if not po_file.exists():
        return NullTranslations()
    with po_file.open("rb") as handle:
        catalogue = read_po(handle, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(fp=compiled)


class Catalogues:
    """The offered languages and their translations, loaded once."""

    def __init__(self, offered: list[str], default: str, directory: Path = TRANSLATIONS_DIR,
                 domain: str = "messages") -> None:
        self.offered = [LANGUAGES[code] for code in offered]
        self.default = default
        self._translations = {code: load_catalogue(code, directory, domain) for code in offered}

    def get(self, code: str) -> NullTranslations:
        return self._translations[code]

    def choose(self, asked: str | None, accept_language) -> str:
        """An explicit choice if offered, else the phone's preference (werkzeug's Accept-Language), else
        the default."""
        codes = [language.code for language in self.offered]
        if asked in codes:
            return asked
        best = accept_language.best_match(codes) if accept_language else None
        return best or self.default


def N_(message: str) -> str:
    """Marks a message id for extraction; it is translated where it is shown."""
    return message


PACKAGE_DIR = TRANSLATIONS_DIR.parent
_DASHBOARD_FILES = ("templates/dashboard/**.html", "web/dashboard/**.py")
# Which files belong to which domain (babel's method map: the first matching pattern wins).
DOMAINS: dict[str, list[tuple[str, str]]] = {
    "messages": [*((pattern, "ignore") for pattern in _DASHBOARD_FILES),
                 ("templates/**.html", "jinja2"), ("**.py", "python")],
    "dashboard": [("templates/dashboard/**.html", "jinja2"), ("web/dashboard/**.py", "python")],
}
# The languages each domain is translated into (English is the message ids).
DOMAIN_LANGUAGES: dict[str, tuple[str, ...]] = {
    "messages": tuple(code for code in LANGUAGES if code != "en"),
    "dashboard": ("fr",),
}
_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "tr": None}


def extract_messages(package_dir: Path = PACKAGE_DIR, domain: str = "messages") -> dict[str, list[str]]:
    """Every message id the domain's files use → the places that use it."""
    from babel.messages.extract import extract_from_dir

    found: dict[str, list[str]] = {}
    options = {pattern: {"extensions": "jinja2.ext.i18n"} for pattern, method in DOMAINS[domain]
               if method == "jinja2"}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(package_dir), DOMAINS[domain], options_map=options, keywords=_KEYWORDS):
        key = message if isinstance(message, str) else message[0]
        found.setdefault(key, []).append(f"{filename}:{lineno}")
    return found


def update_catalogues(directory: Path = TRANSLATIONS_DIR, domain: str = "messages") -> None:
    """Add new message ids to the domain's .po file in each of its languages (``python -m kiosk.web.i18n``)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    template = Catalog(project="triporteur-kit")
    for message, places in sorted(extract_messages(domain=domain).items()):
        template.add(message, locations=[(place.rsplit(":", 1)[0], int(place.rsplit(":", 1)[1]))
                                         for place in places])
    for code in DOMAIN_LANGUAGES[domain]:
        po_file = directory / code / "LC_MESSAGES" / f"{domain}.po"
        if po_file.exists():
            with po_file.open("rb") as handle:
                catalogue = read_po(handle, locale=code)
        else:
            catalogue = Catalog(locale=code, project="triporteur-kit", domain=domain)
        catalogue.update(template, update_header_comment=False)
        po_file.parent.mkdir(parents=True, exist_ok=True)
        with po_file.open("wb") as handle:
            write_po(handle, catalogue, width=110, omit_header=False, ignore_obsolete=True)
        missing = [m.id for m in catalogue if m.id and (not m.string or m.fuzzy)]
        print(f"{code}: {len(missing)} message(s) to translate in {po_file}")


def main(argv: list[str] | None = None) -> None:
    """``python -m kiosk.web.i18n [DOMAIN…]``: update the catalogues of the domains named, or of all."""
    import sys

    names = (sys.argv[1:] if argv is None else argv) or list(DOMAINS)
    unknown = [name for name in names if name not in DOMAINS]
    if unknown:
        raise SystemExit(f"unknown domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}")
    for name in names:
        update_catalogues(domain=name)


if __name__ == "__main__":
    main()
