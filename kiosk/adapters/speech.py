"""Speech synthesis for the questionnaire's audio clips: espeak-ng (text → WAV), opusenc (WAV → Ogg Opus)
and, when installed, lame (WAV → MP3, for the older iPhones that cannot play Ogg Opus).

Argv lists with timeouts, no shell; the text goes to espeak-ng on its standard input, so a text can never
be read as an option.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class SpeechError(Exception):
    """A tool failed on one clip; the message says which and why."""


class Speech:
    def __init__(self, espeak: str = "espeak-ng", opusenc: str = "opusenc", lame: str = "lame",
                 speed_wpm: int = 140, timeout_s: float = 60.0) -> None:
        self.espeak = espeak
        self.opusenc = opusenc
        self.lame = lame
        self.speed = speed_wpm  # espeak-ng's default is 175: slower is easier to follow
        self.timeout = timeout_s

    def missing(self) -> list[str]:
        """The tools needed for any clip that are not installed."""
        return [tool for tool in (self.espeak, self.opusenc) if shutil.which(tool) is None]

    def has_mp3(self) -> bool:
        return shutil.which(self.lame) is not None

    def _run(self, argv: list[str], stdin: str | None = None) -> None:
        try:
            completed = subprocess.run(argv, input=stdin.encode() if stdin is not None else None,
                                       capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SpeechError(f"{argv[0]} took more than {self.timeout:.0f} s") from None
        except OSError as problem:
            raise SpeechError(f"{argv[0]}: {problem.strerror or problem}") from None
        if completed.returncode != 0:
            detail = completed.stderr.decode(errors="replace").strip().splitlines()
            raise SpeechError(f"{argv[0]} failed ({completed.returncode}): {detail[-1] if detail else ''}")

    def speak(self, text: str, voice: str, wav: Path) -> None:
        self._run([self.espeak, "-v", voice, "-s", str(self.speed), "-w", str(wav), "--stdin"], stdin=text)

    def to_opus(self, wav: Path, out: Path, kbps: int) -> int:
        """Mono Ogg Opus tuned for speech; returns its size in bytes."""
        self._run([self.opusenc, "--quiet", "--speech", "--downmix-mono", "--bitrate", str(kbps), str(wav), str(out)])
        return out.stat().st_size

    def to_mp3(self, wav: Path, out: Path, kbps: int, sample_khz: int) -> int:
        """Mono MP3 at a low rate (8 or 16 kHz is enough for a voice); returns its size in bytes."""
        self._run([self.lame, "--quiet", "-m", "m", "-b", str(kbps), "--resample", str(sample_khz), str(wav),
                   str(out)])
        return out.stat().st_size
