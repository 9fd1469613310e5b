"""The questionnaire: its content (YAML), rules, visits, spoken clips, statistics, the follow-up booklet and
appointment requests, and the limits on guessing their codes; ``kit`` builds them together."""
