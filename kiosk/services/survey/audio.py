"""Spoken clips of the questionnaires, made ahead of time on the kit (phones' own text-to-speech may need
the internet): one clip reads the question (and its scenario), one or more read the answers.

A clip's file name is a hash of its voice and text, so editing a text makes a new clip and the page
never plays a stale one; ``build`` removes clips no text uses any more. Each clip is Ogg Opus (and MP3 when
lame is installed), at most ``MAX_CLIP_BYTES``: the bitrate steps down until it fits.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.adapters.speech import Speech, SpeechError
from kiosk.services.survey.content import Item, Library, Questionnaire

VOICES = {"fr": "fr-fr", "en": "en-gb", "ar": "ar", "uk": "uk", "es": "es"}
MAX_CLIP_BYTES = 20_000
CHOICES_PER_CLIP = 4  # keeps each answers clip short enough to stay under the size limit, also as MP3
OPUS_KBPS = (12, 10, 8, 6)
MP3_RATES = ((16, 16), (8, 8))  # (kbit/s, kHz)
EXTENSIONS = ("opus", "mp3")
CLIP_NAME = re.compile(r"^[0-9a-f]{16}\.(opus|mp3)$")


@dataclass(frozen=True)
class Clip:
    role: str  # "question" or "answers"
    text: str
    name: str  # file name without extension


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".?!:؟…" else text + "."


def _clip(role: str, language: str, text: str) -> Clip:
    digest = hashlib.sha256(f"{VOICES.get(language, language)}|{text}".encode()).hexdigest()[:16]
    return Clip(role, text, digest)


def clips_for(questionnaire: Questionnaire, item: Item, language: str) -> list[Clip]:
    """The clips of one item in one language, in the order the page shows them."""
    say = lambda texts: _sentence(questionnaire.text(texts, language))  # noqa: E731
    question = []
    if item.scenario is not None:  # its sender (a phone number, read digit by digit) stays on screen only
        question.append(say(item.scenario.text))
    question.append(say(item.text))
    clips = [_clip("question", language, " ".join(question))]
    answers = ([say(level.text) for level in questionnaire.scale] if item.kind == "rating"
               else [say(choice.text) for choice in item.choices])
    answers.append(say(questionnaire.not_understood.text))
    size = len(answers) if len(answers) <= CHOICES_PER_CLIP + 1 else CHOICES_PER_CLIP
    for start in range(0, len(answers), size):
        clips.append(_clip("answers", language, " ".join(answers[start:start + size])))
    return clips


def all_clips(library: Library, languages: Iterable[str] | None = None) -> dict[str, dict[str, Clip]]:
    """language → clip name → clip, for every item of every questionnaire."""
    wanted = set(languages) if languages is not None else None
    found: dict[str, dict[str, Clip]] = {}
    for questionnaire in library.questionnaires.values():
        for language in questionnaire.languages:
            if wanted is not None and language not in wanted:
                continue
            for item in questionnaire.items:
                for clip in clips_for(questionnaire, item, language):
                    found.setdefault(language, {})[clip.name] = clip
    return found


@dataclass
class BuildReport:
    made: int = 0
    kept: int = 0
    removed: int = 0
    mp3: bool = False
    largest: int = 0
    failures: list[str] = field(default_factory=list)


def _encode(speech: Speech, wav: Path, target: Path, mp3: bool) -> tuple[int, str | None]:
    """Write the clip's files beside ``target`` (atomically); returns the largest size and a problem."""
    sizes = []
    for kbps in OPUS_KBPS:
        size = speech.to_opus(wav, wav.with_suffix(".opus"), kbps)
        if size <= MAX_CLIP_BYTES:
            break
    else:
        return size, f"{target.name}: over {MAX_CLIP_BYTES} bytes even at {OPUS_KBPS[-1]} kbit/s: shorten the text"
    sizes.append(size)
    outputs = [(wav.with_suffix(".opus"), target.with_suffix(".opus"))]
    if mp3:
        for kbps, khz in MP3_RATES:
            if speech.to_mp3(wav, wav.with_suffix(".mp3"), kbps, khz) <= MAX_CLIP_BYTES:
                sizes.append(wav.with_suffix(".mp3").stat().st_size)
                outputs.append((wav.with_suffix(".mp3"), target.with_suffix(".mp3")))
                break
    for made, final in outputs:
        os.replace(made, final)  # same folder: a page never sees half a file
    return max(sizes), None


def build(library: Library, audio_dir: str | Path, speech: Speech, languages: Iterable[str] | None = None,
          say: Callable[[str], None] = print, workers: int | None = None) -> BuildReport:
    """Make every missing clip, keep the existing ones, remove those no text uses any more."""
    report = BuildReport(mp3=speech.has_mp3())
    root = Path(audio_dir)
    wanted = all_clips(library, languages)
    jobs: list[tuple[str, Clip, Path]] = []
    for language, clips in sorted(wanted.items()):
        folder = root / language
        folder.mkdir(parents=True, exist_ok=True)
        for clip in clips.values():
            target = folder / clip.name
            complete = target.with_suffix(".opus").exists() and (
                not report.mp3 or target.with_suffix(".mp3").exists())
            if complete:
                report.kept += 1
            else:
                jobs.append((language, clip, target))
        for existing in folder.iterdir():
            if CLIP_NAME.match(existing.name) and existing.name.split(".")[0] not in clips:
                existing.unlink()
                report.removed += 1

    def make(job: tuple[str, Clip, Path]) -> tuple[int, str | None]:
        language, clip, target = job
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
            wav = Path(scratch) / "clip.wav"
            try:
                speech.speak(clip.text, VOICES.get(language, language), wav)
                return _encode(speech, wav, target, report.mp3)
            except SpeechError as problem:
                return 0, f"{language}/{clip.name}: {problem}"

    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        for (language, clip, _target), (size, problem) in zip(jobs, pool.map(make, jobs), strict=True):
            if problem:
                report.failures.append(problem)
                say(f"failed: {problem}")
                continue
            report.made += 1
            report.largest = max(report.largest, size)
            if report.made % 25 == 0:
                say(f"{report.made}/{len(jobs)} clips made ({language}: {clip.text[:40]}…)")
    return report


class AudioCatalogue:
    """Which clips exist on disk, for the pages: an <audio> element is shown only when its clip exists."""

    def __init__(self, audio_dir: str | Path) -> None:
        self.root = Path(audio_dir)

    def files(self, language: str, clip: Clip) -> list[str]:
        """The clip's file names that exist, Opus first."""
        folder = self.root / language
        return [f"{clip.name}.{ext}" for ext in EXTENSIONS if (folder / f"{clip.name}.{ext}").is_file()]

    def path(self, language: str, name: str) -> Path | None:
        if language not in VOICES or not CLIP_NAME.match(name):
            return None
        path = self.root / language / name
        return path if path.is_file() else None
