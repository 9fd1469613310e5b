"""Spoken clips made with the real espeak-ng, opusenc and lame: small, reused, served as plain <audio>.
Without espeak-ng the command says so and succeeds: the pages work without audio."""

from __future__ import annotations

import pytest

from kiosk import cli
from kiosk.adapters.speech import Speech
from kiosk.services.survey.audio import MAX_CLIP_BYTES, all_clips, build, clips_for
from kiosk.services.survey.content import load_library
from tests.support.survey import Participant, text
from tests.support.system import need_binary

pytestmark = pytest.mark.system


def test_every_item_has_a_question_clip_and_answer_clips_of_at_most_five_choices():
    questionnaire = load_library().default
    for item in questionnaire.items:
        clips = clips_for(questionnaire, item, "fr")
        assert clips[0].role == "question" and clips[0].text.endswith(("?", "."))
        assert all(clip.role == "answers" for clip in clips[1:]) and len(clips) >= 2
        assert clips[-1].text.endswith("Je ne comprends pas la question.")
    procedures = clips_for(questionnaire, questionnaire.item("n_procedures"), "fr")
    assert len(procedures) == 4  # the question, then 11 answers read in groups of 4
    sms = clips_for(questionnaire, questionnaire.item("c_sms_parcel"), "ar")[0]
    assert sms.text.startswith("تعذّر توصيل طردك.") and sms.text.endswith("هل هي احتيال؟")
    # the self-rating scale reads the same everywhere: one clip on disk for every rating item
    assert len({clips_for(questionnaire, item, "fr")[1].name for item in questionnaire.items
                if item.kind == "rating"}) == 1


def test_build_audio_makes_small_opus_and_mp3_clips_and_reuses_them(tmp_path):
    need_binary("espeak-ng")
    need_binary("opusenc")
    need_binary("lame")
    library = load_library()
    messages: list[str] = []
    report = build(library, tmp_path, Speech(), languages=["fr", "ar"], say=messages.append)
    expected = sum(len(clips) for clips in all_clips(library, ["fr", "ar"]).values())
    assert report.failures == [] and report.made == expected and report.mp3
    files = sorted(tmp_path.rglob("*.*"))
    assert {path.suffix for path in files} == {".opus", ".mp3"}
    assert all(path.stat().st_size <= MAX_CLIP_BYTES for path in files), max(p.stat().st_size for p in files)
    assert all(path.read_bytes()[:4] == b"OggS" for path in files if path.suffix == ".opus")
    assert all(path.read_bytes()[:3] == b"ID3" or path.read_bytes()[0] == 0xFF for path in files
               if path.suffix == ".mp3")
    assert not list(tmp_path.rglob(".build-*")), "no scratch folder left behind"
    again = build(library, tmp_path, Speech(), languages=["fr", "ar"])
    assert (again.made, again.kept, again.removed) == (0, expected, 0)


def test_an_edited_text_gets_a_new_clip_and_the_old_one_is_removed(tmp_path):
    need_binary("espeak-ng")
    need_binary("opusenc")
    import shutil

    from kiosk.services.survey.content import SHIPPED_DIR

    content = tmp_path / "content"
    shutil.copytree(SHIPPED_DIR, content)
    build(load_library(content), tmp_path / "audio", Speech(lame="no-lame-here"), languages=["es"])
    path = content / "questionnaires" / "competences.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Actualizar el teléfono o una aplicación.",
                                                            "Actualizar el móvil o una aplicación."), encoding="utf-8")
    report = build(load_library(content), tmp_path / "audio", Speech(lame="no-lame-here"), languages=["es"])
    assert (report.made, report.removed) == (1, 1) and not report.mp3


def test_the_command_builds_into_the_audio_dir_and_pages_then_offer_listening(portal_kit, tmp_path, capsys,
                                                                              monkeypatch):
    need_binary("espeak-ng")
    need_binary("opusenc")
    audio = tmp_path / "audio"
    monkeypatch.setenv("KIOSK_SURVEY_AUDIO_DIR", str(audio))
    monkeypatch.setenv("KIOSK_STORE_PATH", str(tmp_path / "cli.db"))
    assert cli.main(["content", "build-audio", "--language", "uk"]) == 0
    assert "clip(s) made" in capsys.readouterr().out
    kit = portal_kit(survey__audio_dir=str(audio))
    person = Participant(kit.phone(), "uk")
    person.start()
    page = text(person.first_question())
    assert page.count("<audio controls preload=\"none\"") == 2
    assert "Послухати запитання" in page and "Послухати відповіді" in page
    name = page.split('src="/questionnaire/audio/uk/')[1].split('"')[0]
    clip = person.get(f"/questionnaire/audio/uk/{name}")
    assert clip.status_code == 200 and len(clip.data) <= MAX_CLIP_BYTES
    assert "max-age" in clip.headers["Cache-Control"]


def test_without_espeak_the_command_skips_cleanly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KIOSK_SURVEY_ESPEAK", str(tmp_path / "no-espeak-here"))
    monkeypatch.setenv("KIOSK_SURVEY_AUDIO_DIR", str(tmp_path / "audio"))
    assert cli.main(["content", "build-audio"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audio skipped:") and "apt-get install espeak-ng" in out
    assert not (tmp_path / "audio").exists()
