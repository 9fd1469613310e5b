-- Appointment slots a mediator publishes at a partner structure, and the booking a participant makes in one
-- (kiosk/services/survey/slots.py). A slot is free while ``booked`` is NULL; booking it is one UPDATE ... WHERE
-- booked IS NULL, so two phones tapping the same slot cannot both get it. The booking holds a first name,
-- an optional contact, the procedure theme and a short code to find the confirmation again: never linked
-- to questionnaire answers, deleted ``survey.appointment_retention_days`` after the slot's day.
CREATE TABLE appointment_slots (
    id INTEGER PRIMARY KEY,
    structure TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    commune TEXT NOT NULL DEFAULT '',
    directions TEXT NOT NULL DEFAULT '',
    starts TEXT NOT NULL,              -- the kit's local time, YYYY-MM-DDTHH:MM
    minutes INTEGER NOT NULL,
    mediator TEXT NOT NULL,
    booked TEXT,                       -- the local day it was booked; NULL while free
    code TEXT UNIQUE,                  -- the booking's code (confirmation page, .ics)
    first_name TEXT,
    contact TEXT,
    theme TEXT,
    language TEXT,
    outcome TEXT                       -- done or missed, set by a mediator
);
CREATE INDEX appointment_slots_starts ON appointment_slots (starts);
