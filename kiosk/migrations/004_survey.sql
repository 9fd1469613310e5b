-- the questionnaire: visits, answers, booklets, appointment requests (filled by the questionnaire work).
SELECT 1;
