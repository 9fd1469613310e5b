"""Questionnaires are data: the shipped one is complete and well tagged; a broken file is refused with
every problem as ``file: path: reason``, by ``kiosk content check`` and at start, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kiosk import cli
from kiosk.services.survey.content import (
    DIGCOMP,
    PIX,
    SHIPPED_DIR,
    ContentError,
    load_library,
)
from kiosk.settings import KNOWN_LANGUAGES
from kiosk.web.i18n import LANGUAGES

SHIPPED = SHIPPED_DIR / "questionnaires" / "competences.yaml"


def test_the_default_questionnaire_covers_the_foundation_five_areas_and_needs_in_about_twenty_items():
    questionnaire = load_library().default
    assert 18 <= len(questionnaire.items) <= 25
    assert questionnaire.minutes == 10
    assert [area.id for area in questionnaire.scored_areas] == [
        "foundation", "information", "communication", "content", "safety", "problem_solving"]
    assert {item.area for item in questionnaire.items} == {area.id for area in questionnaire.areas}
    assert sum(item.kind == "challenge" for item in questionnaire.items) >= 3
    roles = {item.role for item in questionnaire.items if item.role}
    assert roles == {"procedures", "manage_today", "learn", "equipment"}
    assert questionnaire.gates, "a beginner gate after the foundation block"


def test_every_skill_item_has_its_digcomp_and_pix_codes_and_every_text_all_five_languages():
    questionnaire = load_library().default
    assert set(questionnaire.languages) == set(KNOWN_LANGUAGES)
    for item in questionnaire.items:
        if item.kind in ("rating", "challenge"):
            assert item.digcomp in DIGCOMP and item.pix in PIX, item.id
        texts = [item.text, *(choice.text for choice in item.choices)]
        if item.scenario:
            texts.append(item.scenario.text)
        for text in texts:
            assert set(text) == set(KNOWN_LANGUAGES), item.id
            assert all(value.strip() for value in text.values())


def test_the_arabic_texts_are_in_arabic_script_and_the_ukrainian_in_cyrillic():
    questionnaire = load_library().default
    for item in questionnaire.items:
        assert any("\u0600" <= ch <= "\u06ff" for ch in item.text["ar"]), item.id
        assert any("\u0400" <= ch <= "\u04ff" for ch in item.text["uk"]), item.id
    assert LANGUAGES["ar"].direction == "rtl"


def test_pictograms_are_plain_decorative_svg():
    library = load_library()
    questionnaire = library.default
    used = {area.pictogram for area in questionnaire.areas} | {level.pictogram for level in questionnaire.scale}
    assert used <= set(library.pictograms)
    for name, svg in library.pictograms.items():
        assert svg.startswith("<svg") and 'aria-hidden="true"' in svg, name
        assert "<script" not in svg and "href" not in svg and "<image" not in svg, name
        assert len(svg) < 1200, name


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    (folder / "questionnaires").mkdir(parents=True)
    shutil.copytree(SHIPPED_DIR / "pictograms", folder / "pictograms")
    shutil.copy(SHIPPED, folder / "questionnaires" / "competences.yaml")
    return folder


def _edit(folder: Path, change) -> Path:
    path = folder / "questionnaires" / "competences.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _break_many(document: dict) -> None:
    document["version"] = 0
    del document["items"][0]["text"]["ar"]
    document["items"][1]["digcomp"] = "9.9"
    document["items"][2]["kind"] = "essay"
    document["items"][5]["choices"][0]["correct"] = False  # c_official: no right answer left
    document["items"][6]["area"] = "astrology"
    document["gates"][0]["skip_to"] = "f_unlock"
    document["items"][3]["colour"] = "blue"


def test_every_problem_is_reported_at_once_with_file_and_path(tmp_path):
    folder = _copy(tmp_path)
    path = _edit(folder, _break_many)
    with pytest.raises(ContentError) as raised:
        load_library(folder)
    found = {(key, reason.split(" ")[0]) for key, reason in raised.value.errors}
    keys = [key for key, _ in raised.value.errors]
    assert all(key.startswith(f"{path}: ") for key in keys), keys
    expected_paths = ["version", "items[0].text.ar", "items[1].digcomp", "items[2].kind", "items[5].choices",
                      "items[6].area", "gates[0].skip_to", "items[3].colour"]
    for expected in expected_paths:
        assert f"{path}: {expected}" in keys, (expected, found)


def test_yaml_syntax_errors_name_the_line(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "questionnaires" / "competences.yaml"
    path.write_text("id: x\nversion: [1\n", encoding="utf-8")
    with pytest.raises(ContentError) as raised:
        load_library(folder)
    [(key, reason)] = raised.value.errors
    assert key.startswith(f"{path}: line ") and "not valid YAML" in reason


def test_an_unsafe_pictogram_is_refused(tmp_path):
    folder = _copy(tmp_path)
    (folder / "pictograms" / "phone.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>')
    with pytest.raises(ContentError) as raised:
        load_library(folder)
    assert any("pictograms/phone.svg" in key for key, _ in raised.value.errors)


def test_kiosk_content_check_exits_2_with_one_line_per_problem(tmp_path, capsys):
    folder = _copy(tmp_path)
    path = _edit(folder, _break_many)
    assert cli.main(["content", "check", str(folder)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) >= 8
    assert all(line.startswith(f"{path}: ") and line.count(": ") >= 2 for line in lines), lines
    assert "Traceback" not in "\n".join(lines)


def test_kiosk_content_check_accepts_the_shipped_questionnaires(capsys):
    assert cli.main(["content", "check", str(SHIPPED_DIR)]) == 0
    assert "valid (competences version 1, 21 items" in capsys.readouterr().out


def test_a_kit_with_a_broken_content_dir_does_not_start_and_says_why(tmp_path, capsys):
    folder = _copy(tmp_path)
    _edit(folder, lambda document: document.pop("scale"))
    config = tmp_path / "kit.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "k.db"}"\n[survey]\ncontent_dir = "{folder}"\n')
    # `kiosk serve` stops before listening, with the same lines as a bad settings file
    assert cli.main(["--config", str(config), "serve"]) == 2
    err = capsys.readouterr().err
    assert ": scale: missing" in err and "Traceback" not in err
