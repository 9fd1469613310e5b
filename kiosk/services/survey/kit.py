"""The questionnaire's services, built together from the settings (``Kit.survey``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.services.survey.appointments import AppointmentService
from kiosk.services.survey.audio import AudioCatalogue
from kiosk.services.survey.booklet import BookletService
from kiosk.services.survey.content import Library, load_library
from kiosk.services.survey.slots import SlotService
from kiosk.services.survey.visits import GuessLimiter, SurveyService
from kiosk.settings import Settings
from kiosk.store import Store


@dataclass
class SurveyServices:
    library: Library
    visits: SurveyService
    booklets: BookletService
    appointments: AppointmentService
    audio: AudioCatalogue
    slots: SlotService


def build_survey(settings: Settings, store: Store, clock: Callable[[], float]) -> SurveyServices:
    """Loads and checks the questionnaires (raises ContentError listing every problem)."""
    library = load_library(settings.survey.content_dir or None)
    limiter = GuessLimiter(clock, store=store)  # one budget of wrong guesses for resume and booklet codes
    return SurveyServices(library, SurveyService(store, library, clock, limiter),
                          BookletService(store, clock, limiter), AppointmentService(store, clock),
                          AudioCatalogue(settings.survey.audio_dir), SlotService(store, clock, limiter))
