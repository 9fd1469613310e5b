"""Questionnaires as data: YAML files under ``kiosk/content/questionnaires/`` (or ``survey.content_dir``),
checked when the kit starts. Every problem is reported at once as ``file: path: reason``.

A questionnaire has a 4-level self-rating scale, areas, items and skip rules ("gates"). Item kinds:
``rating`` (self-rating on the scale), ``challenge`` (an observed mini-challenge with one right choice),
``single`` and ``multiple`` (needs, procedures, equipment). Skill items (rating, challenge) carry their
DigComp 2.2 and Pix competence codes. Texts are given per language; a text that is the same in every
language (a web address) may be a plain string.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kiosk.settings import KNOWN_LANGUAGES, SettingsError

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "content"  # kiosk/content
KINDS = ("rating", "challenge", "single", "multiple")
SKILL_KINDS = ("rating", "challenge")
ROLES = ("procedures", "manage_today", "learn", "equipment")
BANDS = ("beginner", "with_help", "on_my_own", "at_ease")  # band index 0..3
SCENARIO_KINDS = ("sms", "screen")
# DigComp 2.2: 5 areas, 21 competences. Pix: 5 domains, 16 competences.
DIGCOMP = frozenset({"1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "3.1", "3.2", "3.3", "3.4",
                     "4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "5.3", "5.4"})
PIX = frozenset({"1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3",
                 "5.1", "5.2"})
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PICTOGRAM = re.compile(r"^[a-z0-9-]{1,40}$")
_SVG_NS = "http://www.w3.org/2000/svg"
MAX_PICTOGRAM_BYTES = 2048
MAX_TEXT = 400

Texts = Mapping[str, str]  # language code -> text


class ContentError(SettingsError):
    """Questionnaire files that cannot be used; ``errors`` holds ``("file: path", reason)`` pairs, printed by
    the CLI as ``file: path: reason`` (exit 2), like a bad settings file."""


@dataclass(frozen=True)
class Choice:
    id: str
    text: Texts
    correct: bool = False
    sensitive: bool = False  # never counted in statistics (it can reveal origin)
    exclusive: bool = False  # "none of these": cannot go with other choices
    area: str | None = None  # a learning wish about this area
    procedures: bool = False  # a learning wish about doing procedures
    help_needed: bool = False  # a way of managing procedures that calls for help


@dataclass(frozen=True)
class Scenario:
    kind: str
    text: Texts
    sender: str | None = None


@dataclass(frozen=True)
class Item:
    id: str
    area: str
    kind: str
    text: Texts
    choices: tuple[Choice, ...] = ()
    scenario: Scenario | None = None
    digcomp: str | None = None
    pix: str | None = None
    checks: str | None = None  # for a challenge: the self-rating it keeps honest
    role: str | None = None

    def choice(self, choice_id: str) -> Choice | None:
        return next((choice for choice in self.choices if choice.id == choice_id), None)


@dataclass(frozen=True)
class Area:
    id: str
    title: Texts
    pictogram: str
    scored: bool = True


@dataclass(frozen=True)
class Level:
    level: int
    text: Texts
    pictogram: str


@dataclass(frozen=True)
class Gate:
    """After item ``after``, when ``area``'s band is at most ``band_at_most``, jump to ``skip_to``."""

    after: str
    area: str
    band_at_most: int
    skip_to: str


@dataclass(frozen=True)
class Questionnaire:
    id: str
    version: int
    languages: tuple[str, ...]
    title: Texts
    description: Texts
    minutes: int
    scale: tuple[Level, ...]
    not_understood: Level
    areas: tuple[Area, ...]
    items: tuple[Item, ...]
    gates: tuple[Gate, ...] = ()
    source: str = ""
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({item.id: position for position, item in enumerate(self.items)})

    def item(self, item_id: str) -> Item | None:
        position = self._index.get(item_id)
        return None if position is None else self.items[position]

    def index(self, item_id: str) -> int:
        return self._index[item_id]

    def area(self, area_id: str) -> Area:
        return next(area for area in self.areas if area.id == area_id)

    @property
    def scored_areas(self) -> tuple[Area, ...]:
        return tuple(area for area in self.areas if area.scored)

    def with_role(self, role: str) -> Item | None:
        return next((item for item in self.items if item.role == role), None)

    def text(self, texts: Texts, language: str) -> str:
        """The text in ``language``, or in the questionnaire's first language when it has none."""
        return texts.get(language) or texts[self.languages[0]]

    def speaks(self, language: str) -> bool:
        return language in self.languages


@dataclass(frozen=True)
class Library:
    """Every questionnaire the kit offers (in file-name order) and the pictograms (inline SVG text)."""

    questionnaires: dict[str, Questionnaire]
    pictograms: dict[str, str]

    @property
    def default(self) -> Questionnaire:
        return next(iter(self.questionnaires.values()))

    def get(self, questionnaire_id: str) -> Questionnaire | None:
        return self.questionnaires.get(questionnaire_id)


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[tuple[str, str]] = []

    def add(self, path: str, reason: str) -> None:
        self.errors.append((f"{self.source}: {path}" if path else self.source, reason))


class _Reader:
    """Reads one questionnaire document, collecting every problem instead of stopping at the first."""

    def __init__(self, problems: _Problems, pictograms: Iterable[str]) -> None:
        self.p = problems
        self.pictograms = set(pictograms)
        self.languages: tuple[str, ...] = ()

    def mapping(self, value: Any, path: str) -> dict:
        if not isinstance(value, dict):
            self.p.add(path, f"expected a mapping, got {type(value).__name__}")
            return {}
        return value

    def keys(self, node: dict, path: str, required: set[str], optional: set[str]) -> None:
        for key in sorted(required - node.keys()):
            self.p.add(f"{path}.{key}" if path else key, "missing")
        for key in sorted(set(map(str, node.keys())) - required - optional):
            self.p.add(f"{path}.{key}" if path else key, "unknown key")

    def ident(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not _ID.match(value):
            self.p.add(path, f"expected an id of lowercase letters, digits and _, got {value!r}")
            return ""
        return value

    def flag(self, node: dict, key: str, path: str) -> bool:
        value = node.get(key, False)
        if not isinstance(value, bool):
            self.p.add(f"{path}.{key}", f"expected true or false, got {value!r}")
            return False
        return value

    def texts(self, value: Any, path: str) -> Texts:
        if value is None:
            return {}  # reported as missing by keys()
        if isinstance(value, str):
            value = {code: value for code in self.languages}
        if not isinstance(value, dict):
            self.p.add(path, "expected a text per language (fr: …, en: …) or one text for all")
            return {}
        for code in self.languages:
            if code not in value:
                self.p.add(f"{path}.{code}", "missing translation")
        result: dict[str, str] = {}
        for code, text in value.items():
            if code not in self.languages:
                self.p.add(f"{path}.{code}", f"language not listed in `languages` ({', '.join(self.languages)})")
            elif not isinstance(text, str) or not text.strip():
                self.p.add(f"{path}.{code}", "expected a non-empty text")
            elif len(text) > MAX_TEXT or any(ord(ch) < 32 for ch in text):
                self.p.add(f"{path}.{code}", f"at most {MAX_TEXT} characters on one line")
            else:
                result[code] = text.strip()
        return result

    def pictogram(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not _PICTOGRAM.match(value):
            self.p.add(path, f"expected a pictogram name, got {value!r}")
            return ""
        if value not in self.pictograms:
            self.p.add(path, f"no pictogram named {value!r} (pictograms/{value}.svg)")
        return value

    def level(self, value: Any, path: str, number: int | None) -> Level:
        node = self.mapping(value, path)
        required = {"text", "pictogram"} | ({"level"} if number is not None else set())
        self.keys(node, path, required, set())
        if number is not None and node.get("level") != number:
            self.p.add(f"{path}.level", f"expected {number} (levels go 0, 1, 2, 3 in order)")
        return Level(number if number is not None else -1, self.texts(node.get("text"), f"{path}.text"),
                     self.pictogram(node.get("pictogram"), f"{path}.pictogram"))

    def questionnaire(self, document: Any, source: str) -> Questionnaire | None:
        root = self.mapping(document, "")
        self.keys(root, "", {"id", "version", "languages", "title", "description", "scale", "not_understood",
                             "areas", "items"}, {"minutes", "gates"})
        languages = root.get("languages")
        if (not isinstance(languages, list) or not languages or len(set(languages)) != len(languages)
                or any(code not in KNOWN_LANGUAGES for code in languages)):
            self.p.add("languages", f"expected a list of distinct languages among {', '.join(KNOWN_LANGUAGES)}")
            languages = [code for code in (languages if isinstance(languages, list) else [])
                         if code in KNOWN_LANGUAGES] or ["fr"]
        self.languages = tuple(dict.fromkeys(languages))
        version = root.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.p.add("version", f"expected a whole number ≥ 1, got {version!r}")
            version = 1
        minutes = root.get("minutes", 10)
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 60:
            self.p.add("minutes", f"expected a number of minutes between 1 and 60, got {minutes!r}")
            minutes = 10
        scale_nodes = root.get("scale")
        if not isinstance(scale_nodes, list) or len(scale_nodes) != len(BANDS):
            self.p.add("scale", f"expected exactly {len(BANDS)} levels (0 to 3)")
            scale_nodes = []
        scale = tuple(self.level(node, f"scale[{n}]", n) for n, node in enumerate(scale_nodes))
        not_understood = self.level(root.get("not_understood"), "not_understood", None)
        areas = self.areas(root.get("areas"))
        items = self.items(root.get("items"), {area.id: area for area in areas})
        gates = self.gates(root.get("gates", []), items, {area.id for area in areas if area.scored})
        questionnaire_id = self.ident(root.get("id"), "id")
        title = self.texts(root.get("title"), "title")
        description = self.texts(root.get("description"), "description")
        if self.p.errors:
            return None
        return Questionnaire(questionnaire_id, version, self.languages, title, description, minutes, scale,
                             not_understood, areas, items, gates, source)

    def areas(self, value: Any) -> tuple[Area, ...]:
        if not isinstance(value, list) or not value:
            self.p.add("areas", "expected a list of areas")
            return ()
        areas: list[Area] = []
        for n, node in enumerate(value):
            path = f"areas[{n}]"
            node = self.mapping(node, path)
            self.keys(node, path, {"id", "title", "pictogram"}, {"scored"})
            area = Area(self.ident(node.get("id"), f"{path}.id"), self.texts(node.get("title"), f"{path}.title"),
                        self.pictogram(node.get("pictogram"), f"{path}.pictogram"),
                        self.flag(node, "scored", path) if "scored" in node else True)
            if area.id and any(other.id == area.id for other in areas):
                self.p.add(f"{path}.id", f"{area.id!r} is used twice")
            areas.append(area)
        return tuple(areas)

    def items(self, value: Any, areas: dict[str, Area]) -> tuple[Item, ...]:
        if not isinstance(value, list) or not value:
            self.p.add("items", "expected a list of items")
            return ()
        items: list[Item] = []
        for n, node in enumerate(value):
            item = self.item(self.mapping(node, f"items[{n}]"), f"items[{n}]", areas)
            if item.id and any(other.id == item.id for other in items):
                self.p.add(f"items[{n}].id", f"{item.id!r} is used twice")
            items.append(item)
        by_id = {item.id: item for item in items}
        roles: set[str] = set()
        for n, item in enumerate(items):
            if item.checks is not None:
                checked = by_id.get(item.checks)
                if checked is None or checked.kind != "rating":
                    self.p.add(f"items[{n}].checks", f"{item.checks!r} is not a rating item")
                elif checked.area != item.area:
                    self.p.add(f"items[{n}].checks", f"{item.checks!r} is in another area")
            if item.role:
                if item.role in roles:
                    self.p.add(f"items[{n}].role", f"only one item may have the role {item.role!r}")
                roles.add(item.role)
        return tuple(items)

    def item(self, node: dict, path: str, areas: dict[str, Area]) -> Item:
        kind = node.get("kind")
        if kind not in KINDS:
            self.p.add(f"{path}.kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        skill = kind in SKILL_KINDS
        optional = {"scenario", "role"}
        required = {"id", "area", "kind", "text"}
        if skill:
            required |= {"digcomp", "pix"}
        if kind == "challenge":
            optional.add("checks")
        if kind != "rating":
            required.add("choices")
        self.keys(node, path, required, optional)
        item_id = self.ident(node.get("id"), f"{path}.id")
        area_id = node.get("area")
        if area_id not in areas:
            self.p.add(f"{path}.area", f"unknown area {area_id!r}")
        elif skill != areas[area_id].scored:
            self.p.add(f"{path}.area", "skill items go in scored areas, other items in areas with scored: false")
        digcomp = pix = None
        if skill:
            digcomp, pix = str(node.get("digcomp")), str(node.get("pix"))
            if digcomp not in DIGCOMP:
                self.p.add(f"{path}.digcomp", f"{digcomp!r} is not a DigComp 2.2 competence (1.1 … 5.4)")
            if pix not in PIX:
                self.p.add(f"{path}.pix", f"{pix!r} is not a Pix competence (1.1 … 5.2)")
        role = node.get("role")
        if role is not None and role not in ROLES:
            self.p.add(f"{path}.role", f"expected one of {', '.join(ROLES)}, got {role!r}")
        choices = self.choices(node.get("choices"), f"{path}.choices", kind, areas) if "choices" in node else ()
        if kind == "challenge" and sum(choice.correct for choice in choices) != 1:
            self.p.add(f"{path}.choices", "a challenge has exactly one choice with correct: true")
        scenario = self.scenario(node["scenario"], f"{path}.scenario") if "scenario" in node else None
        return Item(item_id, area_id if isinstance(area_id, str) else "", kind if kind in KINDS else "rating",
                    self.texts(node.get("text"), f"{path}.text"), choices, scenario, digcomp, pix,
                    node.get("checks"), role)

    def choices(self, value: Any, path: str, kind: Any, areas: dict[str, Area]) -> tuple[Choice, ...]:
        if not isinstance(value, list) or not 2 <= len(value) <= 12:
            self.p.add(path, "expected a list of 2 to 12 choices")
            return ()
        choices: list[Choice] = []
        for n, node in enumerate(value):
            here = f"{path}[{n}]"
            node = self.mapping(node, here)
            self.keys(node, here, {"id", "text"},
                      {"correct", "sensitive", "exclusive", "area", "procedures", "help_needed"})
            area = node.get("area")
            if area is not None and area not in areas:
                self.p.add(f"{here}.area", f"unknown area {area!r}")
            choice = Choice(self.ident(node.get("id"), f"{here}.id"), self.texts(node.get("text"), f"{here}.text"),
                            self.flag(node, "correct", here), self.flag(node, "sensitive", here),
                            self.flag(node, "exclusive", here), area, self.flag(node, "procedures", here),
                            self.flag(node, "help_needed", here))
            if choice.correct and kind != "challenge":
                self.p.add(f"{here}.correct", "only challenge choices can be correct")
            if choice.exclusive and kind != "multiple":
                self.p.add(f"{here}.exclusive", "only multiple-choice items have exclusive choices")
            if choice.id and any(other.id == choice.id for other in choices):
                self.p.add(f"{here}.id", f"{choice.id!r} is used twice")
            choices.append(choice)
        return tuple(choices)

    def scenario(self, value: Any, path: str) -> Scenario:
        node = self.mapping(value, path)
        self.keys(node, path, {"kind", "text"}, {"sender"})
        kind = node.get("kind")
        if kind not in SCENARIO_KINDS:
            self.p.add(f"{path}.kind", f"expected one of {', '.join(SCENARIO_KINDS)}, got {kind!r}")
        sender = node.get("sender")
        if sender is not None and (not isinstance(sender, str) or not 0 < len(sender) <= 40):
            self.p.add(f"{path}.sender", "expected a short text")
            sender = None
        return Scenario(kind if isinstance(kind, str) else "", self.texts(node.get("text"), f"{path}.text"), sender)

    def gates(self, value: Any, items: tuple[Item, ...], scored: set[str]) -> tuple[Gate, ...]:
        if not isinstance(value, list):
            self.p.add("gates", "expected a list")
            return ()
        order = {item.id: n for n, item in enumerate(items)}
        gates: list[Gate] = []
        for n, node in enumerate(value):
            path = f"gates[{n}]"
            node = self.mapping(node, path)
            self.keys(node, path, {"after", "area", "band_at_most", "skip_to"}, set())
            after, skip_to, area = node.get("after"), node.get("skip_to"), node.get("area")
            band = node.get("band_at_most")
            problems = len(self.p.errors)
            if after not in order:
                self.p.add(f"{path}.after", f"unknown item {after!r}")
            if skip_to not in order:
                self.p.add(f"{path}.skip_to", f"unknown item {skip_to!r}")
            elif after in order and order[skip_to] <= order[after] + 1:
                self.p.add(f"{path}.skip_to", "must come after the item following `after` (skips go forward)")
            if area not in scored:
                self.p.add(f"{path}.area", f"unknown or unscored area {area!r}")
            if band not in BANDS:
                self.p.add(f"{path}.band_at_most", f"expected one of {', '.join(BANDS)}, got {band!r}")
            if any(gate.after == after for gate in gates):
                self.p.add(f"{path}.after", "one gate per item")
            if len(self.p.errors) == problems:
                gates.append(Gate(after, area, BANDS.index(band), skip_to))
        return tuple(gates)


def load_pictograms(directory: Path, problems: _Problems) -> dict[str, str]:
    """Our own SVG files, checked (no script, no external reference, small) and made decorative: the
    text beside each pictogram says what it means, so screen readers skip the drawing."""
    ET.register_namespace("", _SVG_NS)
    pictograms: dict[str, str] = {}
    for path in sorted(directory.glob("*.svg")):
        name = path.stem
        try:
            raw = path.read_bytes()
            if len(raw) > MAX_PICTOGRAM_BYTES:
                raise ValueError(f"larger than {MAX_PICTOGRAM_BYTES} bytes")
            root = ET.fromstring(raw)  # noqa: S314 - our own files, checked below
        except (OSError, ET.ParseError, ValueError) as problem:
            problems.add(f"pictograms/{path.name}", str(problem))
            continue
        bad = [element.tag for element in root.iter()
               if element.tag.split("}")[-1] in ("script", "foreignObject", "image", "a", "style")
               or any(attribute.split("}")[-1].startswith("on") or "href" in attribute
                      for attribute in element.attrib)]
        if root.tag != f"{{{_SVG_NS}}}svg" or bad:
            problems.add(f"pictograms/{path.name}", "must be a plain <svg> drawing (no script, link, image or style)")
            continue
        root.set("aria-hidden", "true")
        root.set("focusable", "false")
        root.set("class", "picto")
        pictograms[name] = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return pictograms


def questionnaire_files(directory: Path) -> list[Path]:
    """``*.yaml`` files of a content folder, or of its ``questionnaires/`` subfolder."""
    folder = directory / "questionnaires" if (directory / "questionnaires").is_dir() else directory
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_library(content_dir: str | Path | None = None) -> Library:
    """Every questionnaire in ``content_dir`` (default: those shipped with the kit), checked; raises
    ContentError listing every problem."""
    directory = Path(content_dir) if content_dir else SHIPPED_DIR
    problems = _Problems(str(directory))
    if not directory.is_dir():
        problems.add("", "no such folder")
        raise ContentError(problems.errors)
    pictogram_dir = directory / "pictograms"
    pictograms = load_pictograms(pictogram_dir if pictogram_dir.is_dir() else SHIPPED_DIR / "pictograms", problems)
    errors = list(problems.errors)
    questionnaires: dict[str, Questionnaire] = {}
    files = questionnaire_files(directory)
    if not files:
        errors.append((str(directory), "no questionnaire file (*.yaml)"))
    for path in files:
        file_problems = _Problems(str(path))
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())  # noqa: S506 - safe loader
        except (OSError, UnicodeDecodeError) as problem:
            file_problems.add("", f"cannot be read: {problem}")
            document = None
        except yaml.YAMLError as problem:
            mark = getattr(problem, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else ""
            file_problems.add(where, f"not valid YAML: {getattr(problem, 'problem', None) or problem}")
            document = None
        if document is not None:
            questionnaire = _Reader(file_problems, pictograms).questionnaire(document, str(path))
            if questionnaire is not None:
                if questionnaire.id in questionnaires:
                    file_problems.add("id", f"{questionnaire.id!r} is also the id of another file")
                else:
                    questionnaires[questionnaire.id] = questionnaire
        errors.extend(file_problems.errors)
    if errors:
        raise ContentError(errors)
    return Library(questionnaires, pictograms)


def _loader() -> type:
    # The C loader is much faster on a Pi; both are "safe" (no arbitrary Python objects).
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)
